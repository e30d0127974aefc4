/**
 * `etcdadm init`: a new single-member cluster on this host. Phases, in etcdadm's order:
 * install, certificates, snapshot, configure, start, etcdctl, health, post-init-instructions.
 * Before them, `init` (not `init phase X`) runs preflight checks that refuse to touch a host where etcd already runs
 * or whose data dir holds a member, unless --force.
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Plan } from '../config/types.js';
import { initialCluster } from '../config/urls.js';
import { EtcdadmError } from '../errors.js';
import { execFile } from '../host/exec.js';
import { exists, writeFileAtomic } from '../host/files.js';
import { portInUse } from '../host/net.js';
import { readState } from '../host/state.js';
import { initSystemFor } from '../initsystem/index.js';
import type { Logger } from '../log/logger.js';
import { renderEnvFile, type ClusterFacts } from '../service/render.js';
import { clusterToken, dataDirHasMember, grantServiceUser, moveDataDirAside, recordState } from './common.js';
import { certificatesPhase, ensureDataDir, etcdctlPhase, healthPhase, installPhase, startPhase } from './member.js';
import type { Phase } from './types.js';

function initClusterFacts(plan: Plan, token: string): ClusterFacts {
  return { initialCluster: initialCluster([{ name: plan.name, peerURLs: plan.urls.advertisePeer }]), state: 'new', token };
}

export const snapshotPhase: Phase = {
  name: 'snapshot',
  short: 'Restore the data dir from a snapshot (--snapshot)',
  long: 'With --snapshot FILE, restores FILE into --data-dir (etcdutl on 3.5+, etcdctl on 3.4) so the new cluster starts with its data. Without --snapshot it does nothing.',
  async run({ plan, log }) {
    if (!plan.snapshot) {
      log.info('No snapshot given; the cluster starts empty');
      return;
    }
    if (!(await exists(plan.snapshot)))
      throw new EtcdadmError(`the snapshot ${plan.snapshot} does not exist`, { hint: 'pass the path of a snapshot taken with etcdctl snapshot save or etcdadm backup', exitCode: 2 });
    if (await dataDirHasMember(plan.dataDir)) {
      log.info(`${plan.dataDir} already holds a member; not restoring the snapshot over it`);
      return;
    }
    const token = await clusterToken(plan);
    await recordState(plan, { createdBy: 'init', clusterToken: token }); // the token must survive until configure writes it into etcd.env
    if (plan.walDir)
      throw new EtcdadmError('restoring a snapshot into a cluster with a separate WAL dir (member.walDir) is not supported', {
        hint: 'restore without member.walDir, or restore with etcdutl yourself',
        exitCode: 2,
      });
    const parent = dirname(plan.dataDir);
    await mkdir(parent, { recursive: true, mode: 0o755 });
    const tmp = await mkdtemp(join(parent, `.${basename(plan.dataDir)}.restore-`));
    const target = join(tmp, 'data');
    const useUtl = await exists(plan.binaries.etcdutl);
    const tool = useUtl ? plan.binaries.etcdutl : plan.binaries.etcdctl;
    const args = [
      'snapshot', 'restore', plan.snapshot,
      '--name', plan.name,
      '--initial-cluster', initClusterFacts(plan, token).initialCluster,
      '--initial-cluster-token', token,
      '--initial-advertise-peer-urls', plan.urls.advertisePeer.join(','),
      '--data-dir', target,
    ];
    log.info(`Restoring ${plan.snapshot} into ${plan.dataDir} with ${basename(tool)}`);
    const r = await execFile(tool, args, { env: { ...process.env, ETCDCTL_API: '3' } });
    if (r.code !== 0) {
      await rm(tmp, { recursive: true, force: true });
      const last = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? '';
      throw new EtcdadmError(`restoring the snapshot ${plan.snapshot} failed: ${last}`, { hint: 'check that the file is an etcd v3 snapshot' });
    }
    await rm(plan.dataDir, { recursive: false, force: true }).catch(() => undefined); // only an empty dir goes
    await rename(target, plan.dataDir);
    await rm(tmp, { recursive: true, force: true });
    await grantServiceUser(plan, log, 'data');
    log.info(`Restored the snapshot into ${plan.dataDir}`);
  },
};

export const initConfigurePhase: Phase = {
  name: 'configure',
  short: 'Write etcd.env, the systemd unit and the host record',
  long: 'Writes /etc/etcd/etcd.env (a new one-member cluster), the etcd unit (systemd) and /etc/etcd/etcdadm.yaml, the record of what etcdadm set up on this host.',
  async run({ plan, log, timings }) {
    const token = await clusterToken(plan);
    await ensureDataDir(plan, log);
    await writeFileAtomic(plan.envFile, renderEnvFile(plan, initClusterFacts(plan, token)), { mode: 0o644 });
    log.info(`Wrote ${plan.envFile}`);
    const init = initSystemFor(plan.initSystem);
    await timings.wait('systemctl', () => init.configure(plan));
    if (plan.initSystem === 'systemd') log.info(`Wrote ${plan.unitFile}`);
    await recordState(plan, { createdBy: 'init', clusterToken: token, complete: false });
    log.debug(`Recorded this host's setup in ${plan.stateFile}`);
  },
};

export const postInitInstructionsPhase: Phase = {
  name: 'post-init-instructions',
  short: 'Print how to add members',
  async run({ plan, log, out }) {
    await recordState(plan, { complete: true }); // the last phase: from now on a new init here is refused
    const endpoint = plan.urls.advertiseClient[0]!;
    log.info('To add another member to the cluster, copy the CA cert/key to its file system and, run');
    log.info(`\tetcdadm join ${endpoint}`);
    out(`etcdadm join ${endpoint}`);
  },
};

export const INIT_PHASES: readonly Phase[] = [
  installPhase,
  certificatesPhase(true),
  snapshotPhase,
  initConfigurePhase,
  startPhase,
  etcdctlPhase,
  healthPhase,
  postInitInstructionsPhase,
];

/**
 * Checks `init` makes before changing anything. Refuses (unless --force) when etcd already runs here or the data dir
 * holds a member; refuses always when a port etcd needs is taken by another process.
 */
export async function initPreflight(plan: Plan, log: Logger): Promise<void> {
  const plog = log.withPhase('preflight');
  const init = initSystemFor(plan.initSystem);
  const active = await init.isActive(plan);
  const hasMember = await dataDirHasMember(plan.dataDir);
  // An init of this same member that was interrupted (its record says so) is finished, not refused.
  const state = await readState(plan.stateFile).catch(() => undefined);
  const resuming =
    state !== undefined && state.createdBy === 'init' && state.complete !== true && state.memberName === plan.name && state.dataDir === plan.dataDir;
  if ((active || hasMember) && resuming) {
    plog.info(`Resuming the interrupted init of ${plan.name} recorded in ${plan.stateFile}`);
    return;
  }
  if ((active || hasMember) && !plan.force) {
    const what = active
      ? `etcd is already running on this host (${plan.initSystem === 'systemd' ? plan.unitName : plan.podManifestFile} is active)`
      : `the data dir ${plan.dataDir} already holds an etcd member`;
    throw new EtcdadmError(`${what}; refusing to initialize a new cluster over it`, {
      hint: `run 'etcdadm reset' first, or pass --force to stop it and move the data dir aside (it is never deleted)`,
    });
  }
  if (active || hasMember) {
    plog.warn('--force: taking over a host where etcd was set up before');
    if (active) await init.stop(plan);
    if (hasMember) await moveDataDirAside(plan.dataDir, plog);
  }
  const hosts = [...new Set([...plan.urls.listenClient, ...plan.urls.listenPeer, ...plan.urls.listenMetrics])].map((u) => new URL(u));
  for (const u of hosts) {
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (await portInUse(host, Number(u.port)))
      throw new EtcdadmError(`port ${u.port} on ${host} is already in use by another process`, {
        hint: `find it with 'ss -ltnp sport = :${u.port}' and stop it, or give etcd other ports`,
      });
  }
}
