/** The service and files sections of the Plan: how etcd runs (systemd unit or static Pod) and etcdadm's own files. Pure. */
import { join } from 'node:path';
import { PATHS } from '../defaults.js';
import type { FilesPlan, ServicePlan, Settings } from '../types.js';

export function servicePlan(settings: Settings): ServicePlan {
  const s = settings.service;
  return {
    initSystem: s.initSystem,
    unitName: s.unitName,
    unitFile: join(PATHS.unitDir, s.unitName),
    podManifestFile: join(s.kubeletPodManifestPath, s.kubeletPodManifestName),
    imageRepository: s.imageRepository,
    diskPriorities: s.diskPriorities.map((x) => x.trim()).filter(Boolean),
    user: s.user,
  };
}

export function filesPlan(): FilesPlan {
  return { envFile: PATHS.envFile, etcdctlEnvFile: PATHS.etcdctlEnvFile, record: PATHS.recordFile };
}
