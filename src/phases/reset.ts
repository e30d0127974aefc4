/**
 * `etcdadm reset`: take this host out of its cluster safely and remove what etcdadm set up here. It acts on what
 * init/join recorded in /etc/etcd/etcdadm.yaml (data dir, init system, paths, URLs), not merely on its own flags.
 *
 * Steps (each checks the world first, so re-running after a crash is safe):
 *   remove-member  leave the cluster: refuse on the last member unless --force; move leadership away first when
 *                  this member leads; remove through the local member, or through the others when it is down
 *   stop           stop and disable etcd (or remove the static Pod manifest)
 *   cleanup        data dir (deleted only when the member was proven removed, else moved aside), certificates,
 *                  unit, env files, binaries, etcdctl wrapper, the host record
 */
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { EtcdClient, Member, MemberListResult } from '../etcd/client.js';
import { isUnavailable, isUnhealthyCluster } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import { exists, removeFile } from '../host/files.js';
import { readState } from '../host/state.js';
import { initSystemFor } from '../initsystem/index.js';
import { uninstallRelease } from '../release/index.js';
import { retry, sleep } from '../util/retry.js';
import { clientFor, dataDirHasMember, moveDataDirAside } from './common.js';
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

async function memberListAnyView(client: EtcdClient): Promise<MemberListResult> {
  try {
    return await client.memberList(true);
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    return client.memberList(false); // no quorum: the local view still tells who we are
  }
}

/** Started voting members other than `self`, most up to date first is decided by the caller's status calls. */
function otherVoters(members: Member[], self: Member): Member[] {
  return members.filter((m) => m.id !== self.id && !m.isLearner && m.name !== '' && m.clientURLs.length > 0);
}

async function transferLeadershipIfLeader(ctx: PhaseContext, client: EtcdClient, self: Member, members: Member[]): Promise<void> {
  const { log, timings } = ctx;
  const local = self.clientURLs[0] ?? ctx.plan.urls.localClient;
  let status;
  try {
    status = await timings.wait('etcd', () => client.status(ctx.plan.urls.localClient));
  } catch {
    return; // the local member does not answer: it cannot be leading a working cluster
  }
  if (status.leader !== self.id) return;
  // the follower with the highest raft index is the most up to date
  const candidates: { m: Member; index: bigint }[] = [];
  for (const m of otherVoters(members, self)) {
    const s = await timings.wait('etcd', () => client.status(m.clientURLs[0]!)).catch(() => undefined);
    if (s) candidates.push({ m, index: s.raftAppliedIndex });
  }
  candidates.sort((a, b) => (b.index > a.index ? 1 : b.index < a.index ? -1 : 0));
  const target = candidates[0]?.m;
  if (!target) {
    log.warn('This member is the leader and no other started voting member answers; removing it without a leadership transfer');
    return;
  }
  log.info(`This member is the leader; moving leadership to ${target.name} (${target.idHex}) first`);
  await timings.wait('etcd', () => client.moveLeader(target.id, { endpoint: local === ctx.plan.urls.localClient ? local : ctx.plan.urls.localClient }));
  for (let i = 0; i < 50; i++) {
    const s = await client.status(target.clientURLs[0]!).catch(() => undefined);
    if (s && s.leader === target.id) {
      log.info(`${target.name} is the leader now`);
      return;
    }
    await sleep(100);
  }
  throw new EtcdadmError(`leadership did not move to ${target.name} within 5s`, { hint: 'check the cluster with etcdctl.sh endpoint status --cluster, then run reset again' });
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
  const own = new Set([...plan.urls.advertiseClient, plan.urls.localClient]);
  const endpoints = [plan.urls.localClient, ...(state?.clusterEndpoints ?? []).filter((u) => !own.has(u))];
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
    await transferLeadershipIfLeader(ctx, client, self, list.members);
    log.info(`Removing member ${self.name || '(unstarted)'} (${self.idHex}) from cluster ${list.clusterIdHex}`);
    // Sent through another member: the member being removed stops itself as soon as it applies its removal, and may
    // answer "server stopped" although the removal was committed. The local member is only the last resort.
    const others = list.members.filter((m) => m.id !== self.id).flatMap((m) => m.clientURLs);
    const remover = client.withEndpoints([...others, plan.urls.localClient]);
    try {
      await timings.wait('etcd', () =>
        retry(() => remover.memberRemove(self.id), {
          deadlineMs: 60_000,
          initialDelayMs: 200,
          maxDelayMs: 1000,
          factor: 2,
          retryIf: isUnhealthyCluster,
          onRetry: (_e, n, d) => log.info(`etcd accepts membership changes only once every member has been connected for 5s; retrying in ${d} ms (attempt ${n + 1})`),
        }),
      );
    } catch (err) {
      // the answer may have been lost while the removal went through: look before reporting a failure
      const after = await remover.memberList(true).catch(() => undefined);
      if (!after || after.members.some((m) => m.id === self.id)) throw err;
    } finally {
      remover.close();
    }
    log.info(`Removed member ${self.idHex}`);
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
