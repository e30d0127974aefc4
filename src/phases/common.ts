/** Small pieces several phases share: the local etcd client, the data-dir check, the cluster token. */
import { randomBytes } from 'node:crypto';
import { chown, readFile, rename, stat } from 'node:fs/promises';
import { chownTree, ensureServiceAccount, type Account } from '../host/user.js';
import { join } from 'node:path';
import type { Plan } from '../config/types.js';
import { EtcdClient, type EtcdTls } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import { exists, readIfExists } from '../host/files.js';
import { readState, stateFromPlan, writeState, type HostState, type StateFacts } from '../host/state.js';
import { caFingerprint } from '../pki/index.js';
import type { Logger } from '../log/logger.js';
import { parseEnvFile } from '../service/render.js';

/** This host's etcdctl client certificate, key and the cluster CA, to talk to etcd. */
export async function clientTls(plan: Plan): Promise<EtcdTls> {
  const [ca, cert, key] = await Promise.all([
    readFile(plan.certs.caCert),
    readFile(plan.certs.etcdctlCert),
    readFile(plan.certs.etcdctlKey),
  ]).catch((err: NodeJS.ErrnoException) => {
    throw new EtcdadmError(`cannot read the client certificate files in ${plan.certsDir}: ${err.message}`, {
      hint: "run this on a member host set up by etcdadm init or join (or run 'etcdadm init|join phase certificates' first), or pass --certs-dir",
      cause: err,
    });
  });
  return { ca, cert, key, caFile: plan.certs.caCert, certFile: plan.certs.etcdctlCert };
}

/** A client for `endpoints` (tried in order, dialed at the first request) with this host's etcdctl client certificate. */
export async function clientFor(
  plan: Plan,
  endpoints: string[],
  timeouts: { dialTimeoutMs?: number; requestTimeoutMs?: number } = {},
): Promise<EtcdClient> {
  return EtcdClient.create({ endpoints, tls: await clientTls(plan), ...timeouts });
}

/** This member's local client URL first, then the other members' client URLs as the host record last saw them. */
export async function memberEndpoints(plan: Plan): Promise<string[]> {
  const state = await readState(plan.stateFile).catch(() => undefined);
  const own = new Set([...plan.urls.advertiseClient, plan.urls.localClient]);
  return [plan.urls.localClient, ...(state?.clusterEndpoints ?? []).filter((u) => !own.has(u))];
}

/** Whether the data dir holds an etcd member (its `member` subdirectory exists). */
export async function dataDirHasMember(dataDir: string): Promise<boolean> {
  return exists(join(dataDir, 'member'));
}

/** A path next to `dataDir` that does not exist yet: `<data-dir>.bak-<UTC timestamp>`. */
export function backupPathFor(dataDir: string, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${dataDir}.bak-${ts}`;
}

/** Move a data dir aside instead of deleting it (etcdadm never deletes a data dir it cannot prove unused). */
export async function moveDataDirAside(dataDir: string, log: Logger): Promise<string> {
  let target = backupPathFor(dataDir);
  for (let i = 1; await exists(target); i++) target = `${backupPathFor(dataDir)}-${i}`;
  await rename(dataDir, target);
  log.warn(`Moved the existing data dir ${dataDir} aside to ${target}; remove it yourself once you are sure it is not needed.`);
  return target;
}

/**
 * The cluster token of this host's cluster: what the env file or the recorded state already says, else a new random
 * one (a fresh random token per cluster keeps member and cluster IDs from colliding with an earlier cluster built
 * from the same names and addresses).
 */
export async function clusterToken(plan: Plan): Promise<string> {
  const env = parseEnvFile((await readIfExists(plan.envFile)) ?? '');
  const fromEnv = env.get('ETCD_INITIAL_CLUSTER_TOKEN');
  if (fromEnv) return fromEnv;
  const state = await readState(plan.stateFile).catch(() => undefined);
  if (state?.clusterToken) return state.clusterToken;
  return `etcd-${randomBytes(8).toString('hex')}`;
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Write /etc/etcd/etcdadm.yaml from the plan, keeping what an earlier write learned (IDs, endpoints) unless `learned`
 * says otherwise.
 */
export async function recordState(plan: Plan, learned: Partial<StateFacts> = {}): Promise<HostState> {
  const prev = await readState(plan.stateFile).catch(() => undefined);
  const caPem = await readIfExists(plan.certs.caCert);
  const facts: StateFacts = {
    createdBy: learned.createdBy ?? prev?.createdBy ?? 'init',
    clusterToken: learned.clusterToken ?? prev?.clusterToken ?? (await clusterToken(plan)),
  };
  const complete = learned.complete ?? prev?.complete;
  if (complete !== undefined) facts.complete = complete;
  const memberId = learned.memberId ?? prev?.memberId;
  const clusterId = learned.clusterId ?? prev?.clusterId;
  const clusterEndpoints = learned.clusterEndpoints ?? prev?.clusterEndpoints;
  if (memberId) facts.memberId = memberId;
  if (clusterId) facts.clusterId = clusterId;
  if (clusterEndpoints) facts.clusterEndpoints = clusterEndpoints;
  if (caPem) facts.caFingerprint = caFingerprint(caPem);
  const state = stateFromPlan(plan, facts);
  await writeState(plan.stateFile, state);
  return state;
}

/**
 * With a non-root service user (systemd only): create it if missing, and give it what etcd must read or write — the
 * certs dir, ca.crt, its own server and peer certificates and keys (still 0600), the data and WAL dirs. The CA key and
 * the client keys stay root's. Returns the account, or undefined when etcd runs as root.
 */
export async function grantServiceUser(plan: Plan, log: Logger, what: 'certificates' | 'data'): Promise<Account | undefined> {
  if (plan.serviceUser === 'root' || plan.initSystem !== 'systemd') return undefined;
  const who = await ensureServiceAccount(plan.serviceUser, plan.dataDir, log);
  if (what === 'certificates') {
    const c = plan.certs;
    for (const f of [plan.certsDir, c.caCert, c.serverCert, c.serverKey, c.peerCert, c.peerKey]) await chown(f, who.uid, who.gid);
  } else {
    await chownTree(plan.dataDir, who);
    if (plan.walDir) await chownTree(plan.walDir, who);
  }
  log.debug(`${what === 'certificates' ? 'certificates' : 'data dir'} owned by ${who.name}`);
  return who;
}
