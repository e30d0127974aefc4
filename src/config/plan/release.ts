/** The release and install sections of the Plan: which etcd, from where, cached and installed where. Pure. */
import { join } from 'node:path';
import { etcdBinaryPaths, releaseBase, type ReleaseSpec } from '../../release/spec.js';
import { PATHS } from '../defaults.js';
import { parseDuration } from '../duration.js';
import type { InstallPlan, Settings } from '../types.js';

export function releasePlan(settings: Settings): ReleaseSpec {
  return {
    version: settings.etcd.version,
    releaseUrl: releaseBase(settings.etcd.releaseURL),
    cacheDir: settings.install.cacheDir,
    installDir: settings.install.installDir,
    skipHashCheck: settings.etcd.skipHashCheck,
    insecureReleaseUrl: settings.etcd.insecureReleaseURL,
    // the schema accepts only positive durations
    connectTimeoutMs: parseDuration(settings.etcd.downloadConnectTimeout)!,
  };
}

export function installPlan(settings: Settings): InstallPlan {
  const dir = settings.install.installDir;
  return { binaries: etcdBinaryPaths(dir), etcdctlWrapper: join(dir, PATHS.etcdctlWrapperName) };
}
