/**
 * The record of what etcdadm set up on this host: /etc/etcd/etcdadm.yaml. init and join write it; reset, info and
 * later commands read it, so that they act on what was really done here (data dir, init system, paths, URLs), not on
 * whatever flags they were given. Written atomically, mode 0600.
 */
import { parse, stringify } from 'yaml';
import type { Plan, Settings } from '../config/types.js';
import { CONFIG_API_VERSION, configDocumentSchema } from '../config/document.js';
import * as v from 'valibot';
import { EtcdadmError } from '../errors.js';
import { readIfExists, writeFileAtomic } from './files.js';

export const STATE_API_VERSION = 'etcdadm.io/v1alpha1';
export const STATE_KIND = 'HostState';

export interface HostState {
  apiVersion: typeof STATE_API_VERSION;
  kind: typeof STATE_KIND;
  /** How this member came to be. */
  createdBy: 'init' | 'join';
  /** True once init/join finished (health passed); false while one is under way or was interrupted. */
  complete?: boolean;
  clusterToken: string;
  memberName: string;
  /** Hex member and cluster IDs once known (as etcdctl prints them). */
  memberId?: string;
  clusterId?: string;
  /** Client URLs of the cluster's members when this host last looked (reset uses them when the local member is down). */
  clusterEndpoints?: string[];
  etcdVersion: string;
  initSystem: Plan['initSystem'];
  unitName: string;
  unitFile: string;
  podManifestFile: string;
  dataDir: string;
  certsDir: string;
  installDir: string;
  envFile: string;
  etcdctlEnvFile: string;
  etcdctlWrapper: string;
  caFingerprint?: string;
  urls: Plan['urls'];
  /** The resolved settings (defaults ← config file ← flags) this member was set up with. */
  settings?: Settings;
  updatedAt: string;
}

export interface StateFacts {
  createdBy: HostState['createdBy'];
  complete?: boolean;
  clusterToken: string;
  memberId?: string;
  clusterId?: string;
  clusterEndpoints?: string[];
  caFingerprint?: string;
}

export function stateFromPlan(plan: Plan, extra: StateFacts): HostState {
  return {
    apiVersion: STATE_API_VERSION,
    kind: STATE_KIND,
    createdBy: extra.createdBy,
    ...(extra.complete !== undefined ? { complete: extra.complete } : {}),
    clusterToken: extra.clusterToken,
    memberName: plan.name,
    ...(extra.memberId ? { memberId: extra.memberId } : {}),
    ...(extra.clusterId ? { clusterId: extra.clusterId } : {}),
    ...(extra.clusterEndpoints ? { clusterEndpoints: extra.clusterEndpoints } : {}),
    etcdVersion: plan.etcdVersion,
    initSystem: plan.initSystem,
    unitName: plan.unitName,
    unitFile: plan.unitFile,
    podManifestFile: plan.podManifestFile,
    dataDir: plan.dataDir,
    certsDir: plan.certsDir,
    installDir: plan.installDir,
    envFile: plan.envFile,
    etcdctlEnvFile: plan.etcdctlEnvFile,
    etcdctlWrapper: plan.etcdctlWrapper,
    ...(extra.caFingerprint ? { caFingerprint: extra.caFingerprint } : {}),
    urls: plan.urls,
    settings: plan.settings,
    updatedAt: new Date().toISOString(),
  };
}

export async function writeState(path: string, state: HostState): Promise<void> {
  const text = `# Written by etcdadm: what was set up on this host. Read by reset, info and later commands.\n${stringify(state)}`;
  await writeFileAtomic(path, text, { mode: 0o600 });
}

/** The recorded state, undefined when there is none; a file that does not parse is an error, never half-used. */
export async function readState(path: string): Promise<HostState | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new EtcdadmError(`${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'restore it from a backup or remove it and pass the flags explicitly',
      cause: err,
    });
  }
  const d = doc as Partial<HostState> | null;
  if (!d || d.apiVersion !== STATE_API_VERSION || d.kind !== STATE_KIND || typeof d.dataDir !== 'string' || typeof d.memberName !== 'string')
    throw new EtcdadmError(`${path} is not an etcdadm host state document (apiVersion ${STATE_API_VERSION}, kind ${STATE_KIND})`, {
      hint: 'restore it from a backup or remove it and pass the flags explicitly',
    });
  if (d.settings !== undefined) {
    // a hand-edited record that no longer validates is reported, never half-used
    const r = v.safeParse(configDocumentSchema({ etcdVersion: d.etcdVersion }), { apiVersion: CONFIG_API_VERSION, kind: 'JoinConfiguration', ...d.settings });
    if (!r.success) {
      const issue = r.issues[0];
      const where = (issue.path ?? []).map((p) => String(p.key)).join('.');
      throw new EtcdadmError(`${path}: settings.${where}: ${issue.message}`, { hint: 'fix or restore the file (etcdadm writes it at init/join); nothing was changed' });
    }
  }
  return d as HostState;
}
