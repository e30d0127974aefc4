/**
 * `etcdadm reset`: take this host out of its cluster safely and remove what etcdadm set up here. It acts on what
 * init/join recorded in /etc/etcd/etcdadm.yaml (data dir, init system, paths, URLs), not merely on its own flags.
 *
 * Steps (each checks the world first, so re-running after a crash is safe):
 *   remove-member  leave the cluster: refuse on the last member, or when the removal would cost quorum, unless
 *                  --force; move leadership away first when this member leads; send the removal through another
 *                  member (the same code as `etcdadm member remove`), which also works when this one is down
 *   stop           stop and disable etcd (or remove the static Pod manifest)
 *   cleanup        data dir (deleted only when the member was proven removed, else moved aside), certificates,
 *                  unit, env files, binaries, etcdctl wrapper, the host record
 */
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { MemberListResult } from '../etcd/client.js';
import { memberListAnyView } from '../cluster/status.js';
import { removeMember } from '../cluster/members.js';
import { EtcdadmError } from '../errors.js';
import { exists, removeFile } from '../host/files.js';
import { readState } from '../host/state.js';
import { initSystemFor } from '../initsystem/index.js';
import { uninstallRelease } from '../release/index.js';
import { clientFor, clientTls, dataDirHasMember, memberEndpoints, moveDataDirAside } from './common.js';
import { findSelf } from './join.js';
import type { Phase, PhaseContext } from './types.js';

export interface ResetOptions {
  skipRemoveMember: boolean;
  force: boolean;
}

/** What remove-member found out; cleanup decides from it whether the data dir may be deleted. */
export interface Departure {
  /** True when the cluster provably no longer has this member (removed now, or found absent). */
  leftCluster: boolean;
}

/** Leave the cluster (unless told not to); says whether the cluster provably no longer has this member. */
export async function leaveCluster(ctx: PhaseContext, opts: ResetOptions): Promise<Departure> {
  const { plan, log, timings } = ctx;
  if (opts.skipRemoveMember) {
    log.info('--skip-remove-member: not changing the cluster\'s member list');
    return { leftCluster: false };
  }
  if (!(await exists(plan.certs.etcdctlCert))) {
    if (opts.force) {
      log.warn(`No client certificate in ${plan.certsDir}; cannot reach the cluster, not removing the member (--force)`);
      return { leftCluster: false };
    }
    throw new EtcdadmError(`cannot leave the cluster: the client certificate ${plan.certs.etcdctlCert} is missing`, {
      hint: 'remove the member from another host (etcdctl.sh member remove <id>) and run reset --skip-remove-member, or pass --force',
    });
  }
  const state = await readState(plan.stateFile).catch(() => undefined);
  const endpoints = await memberEndpoints(plan);
  const client = await clientFor(plan, endpoints);
  try {
    let list: MemberListResult;
    try {
      list = await timings.wait('etcd', () => memberListAnyView(client));
    } catch (err) {
      if (!opts.force) throw new EtcdadmError(`cannot reach the cluster to leave it (tried ${endpoints.join(', ')})`, {
        hint: 'start a member or check the network; --force resets this host without removing the member (remove it later from another host)',
        cause: err,
      });
      log.warn('Cannot reach the cluster; not removing the member (--force)');
      return { leftCluster: false };
    }
    const self = findSelf(plan, list.members) ?? list.members.find((m) => state?.memberId && m.idHex === state.memberId);
    if (!self) {
      log.info('This host is not a member of the cluster (any more)');
      return { leftCluster: true };
    }
    if (list.members.length === 1) {
      if (!opts.force)
        throw new EtcdadmError(`${self.name || self.idHex} is the last member of cluster ${list.clusterIdHex}: reset would destroy the cluster and its only copy of the data`, {
          hint: 'take a snapshot first (etcdctl.sh snapshot save FILE), then pass --force; the data dir is moved aside, not deleted',
        });
      log.warn('--force: resetting the last member of the cluster; its data dir will be moved aside');
      return { leftCluster: false };
    }
    // quorum guard, leadership transfer, removal through another member, lost answers: as `etcdadm member remove`
    const tls = await clientTls(plan);
    await timings.wait('etcd', () => removeMember(client, self.idHex, { log, tls, force: opts.force }));
    return { leftCluster: true };
  } finally {
    client.close();
  }
}

export const resetStopStep: Phase = {
  name: 'stop',
  short: 'Stop and disable etcd',
  async run({ plan, log, timings }) {
    const init = initSystemFor(plan.initSystem);
    await timings.wait('systemctl', () => init.stop(plan));
    log.info(plan.initSystem === 'systemd' ? `Stopped and disabled ${plan.unitName}` : `Removed ${plan.podManifestFile}`);
  },
};

async function removeIfEmpty(dir: string): Promise<void> {
  if ((await readdir(dir).catch(() => ['x'])).length === 0) await rmdir(dir).catch(() => undefined);
}

const PKI_FILES = ['ca', 'server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client'].flatMap((n) => [`${n}.crt`, `${n}.key`]);

export async function cleanupHost(ctx: PhaseContext, departure: Departure): Promise<void> {
  const { plan, log, timings } = ctx;
  if (await exists(plan.dataDir)) {
    if (departure.leftCluster || !(await dataDirHasMember(plan.dataDir))) {
      await rm(plan.dataDir, { recursive: true, force: true });
      log.info(`Removed the data dir ${plan.dataDir}${departure.leftCluster ? ' (the member is no longer in the cluster)' : ''}`);
    } else {
      await moveDataDirAside(plan.dataDir, log);
    }
  }
  for (const f of PKI_FILES) await removeFile(join(plan.certsDir, f));
  await removeIfEmpty(plan.certsDir);
  log.info(`Removed the certificates in ${plan.certsDir}`);
  await timings.wait('systemctl', () => initSystemFor(plan.initSystem).remove(plan));
  for (const f of [plan.envFile, plan.etcdctlEnvFile, plan.etcdctlWrapper]) await removeFile(f);
  const removed = await uninstallRelease(plan.installDir, log);
  if (removed.length) log.info(`Removed etcd from ${plan.installDir}`);
  await removeFile(plan.stateFile);
  await removeIfEmpty(dirname(plan.stateFile));
  log.info('This host is clean');
}

export async function runReset(ctx: PhaseContext, opts: ResetOptions): Promise<void> {
  const sub = (name: string) => ({ ...ctx, log: ctx.log.withPhase(name) });
  const departure = await leaveCluster(sub('remove-member'), opts);
  await resetStopStep.run(sub('stop'));
  await cleanupHost(sub('cleanup'), departure);
}
