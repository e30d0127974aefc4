/**
 * `etcdadm join <endpoint>`: add this host to an existing cluster. Phases, in etcdadm's order:
 * stop, certificates, install, membership, configure, start, etcdctl, health.
 * Everything that can fail locally (CA present, certificates, download, SHA-256, install, version check) runs before
 * `membership` changes the cluster, so a local failure never leaves a member added that cannot start.
 * Each phase re-reads the cluster instead of remembering: run alone, twice, or after a crash, it does the right thing.
 */
import type { Plan } from '../config/types.js';
import { initialCluster } from '../config/urls.js';
import type { EtcdClient, Member, MemberListResult } from '../etcd/client.js';
import { httpHealth, isLearnerNotReady, isTooManyLearners, isUnhealthyCluster } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import { writeFileAtomic } from '../host/files.js';
import { readState } from '../host/state.js';
import { initSystemFor } from '../initsystem/index.js';
import type { Logger } from '../log/logger.js';
import { renderEnvFile } from '../service/render.js';
import { retry, waitFor } from '../util/retry.js';
import { MEMBERSHIP_RETRY } from '../cluster/members.js';
import { clientFor, clientTls, clusterToken, dataDirHasMember, moveDataDirAside, recordState } from './common.js';
import { certificatesPhase, ensureDataDir, etcdctlPhase, installPhase, startPhase, waitHealthy } from './member.js';
import type { Phase, PhaseContext } from './types.js';

function requireEndpoints(plan: Plan): string[] {
  if (plan.endpoints.length === 0)
    throw new EtcdadmError('no endpoint of the cluster to join was given', { hint: 'pass a member\'s client URL: etcdadm join https://10.0.0.1:2379', exitCode: 2 });
  return plan.endpoints;
}

/** This host's entry in the member list: found by peer URL (an added, unstarted member has no name yet). */
export function findSelf(plan: Plan, members: Member[]): Member | undefined {
  return members.find((m) => m.peerURLs.some((u) => plan.urls.advertisePeer.includes(u)));
}

/** ETCD_INITIAL_CLUSTER for joining: every member, this one under its own name, unstarted others under their ID. */
export function joinInitialCluster(plan: Plan, members: Member[], self: Member): string {
  return initialCluster(members.map((m) => ({ name: m.id === self.id ? plan.name : m.name || m.idHex, peerURLs: m.peerURLs })));
}

/**
 * The member list as the endpoint sees it, without needing quorum: right after a voting member is added to a
 * 1-member cluster, quorum is 2 until the new member starts, and the join must still go on.
 */
async function listMembers(ctx: PhaseContext, client: EtcdClient): Promise<MemberListResult> {
  return ctx.timings.wait('etcd', () => client.memberList(false));
}

export const stopPhase: Phase = {
  name: 'stop',
  short: 'Stop etcd if it runs on this host',
  async run({ plan, log, timings }) {
    const init = initSystemFor(plan.initSystem);
    if (!(await timings.wait('systemctl', () => init.isActive(plan)))) {
      log.info('etcd is not running on this host');
      return;
    }
    log.info(`Stopping ${plan.initSystem === 'systemd' ? plan.unitName : 'the etcd static Pod'}`);
    await timings.wait('systemctl', () => init.stop(plan));
  },
};

/**
 * What to do with a data dir found before joining, when this host is not (or not yet a started) member. Its data
 * can only be from an earlier membership: if the recorded state proves it was of this same cluster, this member
 * is gone from it, so the data is unused and is moved aside. Data of another or an unknown cluster is refused
 * unless --force (and then moved aside too). Never deleted.
 */
async function clearStaleDataDir(plan: Plan, log: Logger, clusterIdHex: string, why: string): Promise<void> {
  if (!(await dataDirHasMember(plan.dataDir))) return;
  const state = await readState(plan.stateFile).catch(() => undefined);
  const sameCluster = state?.clusterId === clusterIdHex && state.dataDir === plan.dataDir;
  if (!sameCluster && !plan.force)
    throw new EtcdadmError(
      `the data dir ${plan.dataDir} holds a member of ${state?.clusterId ? `another cluster (${state.clusterId})` : 'an unknown cluster'}, not of cluster ${clusterIdHex}`,
      { hint: 'move it away yourself, or pass --force to have it moved aside (it is never deleted)' },
    );
  log.info(`${plan.dataDir} holds data of ${sameCluster ? 'an earlier membership of this cluster' : 'another cluster (--force)'} (${why})`);
  await moveDataDirAside(plan.dataDir, log);
}

/**
 * etcd (with --strict-reconfig-check, which etcdadm always sets) accepts a member add, even of a learner, only once
 * its leader has been connected to EVERY voting member for 5 s. With a voting member down it would answer
 * "unhealthy cluster" forever: say so at once, naming the member, instead of retrying into a timeout.
 */
async function checkVotersReachable(ctx: PhaseContext, client: EtcdClient, members: Member[]): Promise<void> {
  const voters = members.filter((m) => !m.isLearner && m.clientURLs.length > 0);
  const down: Member[] = [];
  await Promise.all(
    voters.map(async (m) => {
      const ok = await client.status(m.clientURLs[0]!).then(() => true, () => false);
      if (!ok) down.push(m);
    }),
  );
  const unstarted = members.filter((m) => !m.isLearner && m.clientURLs.length === 0);
  const blocking = [...down, ...unstarted];
  if (blocking.length > 0) {
    const names = blocking.map((m) => `${m.name || '(unstarted)'} (${m.idHex})`).join(', ');
    throw new EtcdadmError(
      `etcd refuses to add members while a voting member is ${down.length ? 'unreachable' : 'not started'}: ${names}`,
      {
        hint: `bring it back, or remove it first from a member host ('etcdadm member remove ${blocking[0]!.name || blocking[0]!.idHex}'), then join again`,
      },
    );
  }
}

async function checkQuorum(ctx: PhaseContext, client: EtcdClient): Promise<void> {
  const h = await ctx.timings.wait('etcd', () => client.healthCheck());
  if (!h.healthy)
    throw new EtcdadmError(`the cluster at ${h.endpoint} cannot serve a quorum read, so no member can be added: ${h.error ?? 'unhealthy'}`, {
      hint: 'bring the cluster back to quorum first (etcdctl.sh endpoint health --cluster on a member shows which members are down)',
    });
}

export const membershipPhase: Phase = {
  name: 'membership',
  short: 'Add this host to the cluster as a member (if it is not one already)',
  long: 'Lists the members through the given endpoint with a client certificate signed by the cluster CA, finds this host by its peer URL, and adds it when missing (retrying while etcd answers "unhealthy cluster"). A member that was added but never started is reused.',
  async run(ctx) {
    const { plan, log } = ctx;
    const client = await clientFor(plan, requireEndpoints(plan));
    try {
      const list = await listMembers(ctx, client);
      const self = findSelf(plan, list.members);
      const clash = list.members.find((m) => m.name === plan.name && m !== self);
      if (clash)
        throw new EtcdadmError(
          `the member name "${plan.name}" is already used by member ${clash.idHex} (${clash.peerURLs.join(',')})`,
          { hint: 'pick another --name, or remove that member first', exitCode: 2 },
        );
      if (self?.name) {
        if (await dataDirHasMember(plan.dataDir)) {
          log.info(`This host is already member ${self.idHex} of the cluster and has its data in ${plan.dataDir}; keeping it`);
          return;
        }
        throw new EtcdadmError(`this host is member ${self.idHex} ("${self.name}") of the cluster, but its data dir ${plan.dataDir} is empty`, {
          hint: `remove the member first ('etcdctl.sh member remove ${self.idHex}' on another member), then join again`,
        });
      }
      if (self) {
        await clearStaleDataDir(plan, log, list.clusterIdHex, 'the member was added but never started');
        log.info(`This host was already added as member ${self.idHex} but has not started yet; it will start with the cluster's member list`);
        return;
      }
      await clearStaleDataDir(plan, log, list.clusterIdHex, 'this host is not a member');
      await checkQuorum(ctx, client);
      await ctx.timings.wait('etcd', () => checkVotersReachable(ctx, client, list.members));
      const as = plan.learner ? 'learner' : 'voting member';
      log.info(`Adding ${plan.name} (${plan.urls.advertisePeer.join(',')}) as a ${as} to cluster ${list.clusterIdHex} through ${client.endpoint}`);
      const added = await ctx.timings.wait('etcd', () =>
        retry(() => client.memberAdd(plan.urls.advertisePeer, plan.learner), {
          deadlineMs: plan.retry ? 60_000 : 0,
          attempts: plan.retry ? undefined : 1,
          ...MEMBERSHIP_RETRY,
          retryIf: (e) => isUnhealthyCluster(e) || isTooManyLearners(e),
          onRetry: (e, n) => {
            if (n === 1 || n % 8 === 0)
              log.info(
                isTooManyLearners(e)
                  ? 'another learner is still joining (etcd allows one at a time); waiting'
                  : 'etcd accepts membership changes only once every member has been connected for 5s; waiting',
              );
          },
        }),
      ).catch((err: unknown) => {
        if (isTooManyLearners(err))
          throw new EtcdadmError('another learner is still joining the cluster and did not finish within 60s', {
            hint: 'finish or remove that member first (etcdctl.sh member list shows it), then run join again',
            cause: err,
          });
        throw err;
      });
      log.info(`Added ${as} ${added.member.idHex}`);
      await recordState(plan, { createdBy: 'join', clusterToken: await clusterToken(plan), memberId: added.member.idHex, clusterId: added.clusterIdHex });
    } finally {
      client.close();
    }
  },
};

export const joinConfigurePhase: Phase = {
  name: 'configure',
  short: 'Write etcd.env (existing cluster), the systemd unit and the host record',
  async run(ctx) {
    const { plan, log, timings } = ctx;
    const client = await clientFor(plan, requireEndpoints(plan));
    let list: MemberListResult;
    try {
      list = await listMembers(ctx, client);
    } finally {
      client.close();
    }
    const self = findSelf(plan, list.members);
    if (!self)
      throw new EtcdadmError(`this host (${plan.urls.advertisePeer.join(',')}) is not a member of the cluster at ${plan.endpoints.join(',')}`, {
        hint: "run 'etcdadm join phase membership' first",
      });
    const token = await clusterToken(plan);
    await ensureDataDir(plan, log);
    const cluster = { initialCluster: joinInitialCluster(plan, list.members, self), state: 'existing' as const, token };
    await writeFileAtomic(plan.envFile, renderEnvFile(plan, cluster), { mode: 0o644 });
    log.info(`Wrote ${plan.envFile}`);
    await timings.wait('systemctl', () => initSystemFor(plan.initSystem).configure(plan));
    if (plan.initSystem === 'systemd') log.info(`Wrote ${plan.unitFile}`);
    await recordState(plan, {
      createdBy: 'join',
      complete: false,
      clusterToken: token,
      memberId: self.idHex,
      clusterId: list.clusterIdHex,
      clusterEndpoints: list.members.flatMap((m) => m.clientURLs),
    });
  },
};

/**
 * join's health: wait until the local member serves (GET /health works on a learner, where a quorum read does not),
 * promote it if it is a learner (retrying while etcd says it has not caught up with the leader), then wait for a
 * quorum read like init.
 */
export const joinHealthPhase: Phase = {
  name: 'health',
  short: 'Wait until the new member serves, promote it from learner, and check a quorum read',
  async run(ctx) {
    const { plan, log, timings } = ctx;
    const tls = await clientTls(plan);
    const local = plan.urls.localClient;
    log.info(`Waiting for the new member at ${local} to serve`);
    let last = '';
    const up = await timings.wait('etcd', () =>
      waitFor(
        async () => {
          const h = await httpHealth(local, tls, { timeoutMs: 2000 });
          last = h.error ?? h.body;
          return h.status === 200 || h.status === 503; // 503: serving, but not (yet) healthy as a learner may report
        },
        { timeoutMs: plan.healthTimeoutMs, intervalMs: 100 },
      ),
    );
    if (!up)
      throw new EtcdadmError(`the new member at ${local} did not start serving within ${Math.round(plan.healthTimeoutMs / 1000)}s${last ? `: ${last}` : ''}`, {
        hint: plan.initSystem === 'systemd' ? `see 'journalctl -u ${plan.unitName}' for etcd's own error` : 'see the kubelet and container logs',
      });
    const client = await clientFor(plan, [local, ...plan.endpoints]);
    try {
      const list = await listMembers(ctx, client);
      const self = findSelf(plan, list.members);
      if (self?.isLearner) {
        log.info(`Member ${self.idHex} is a learner; promoting it once it has caught up with the leader`);
        await timings.wait('etcd', () =>
          retry(() => client.memberPromote(self.id), {
            deadlineMs: plan.healthTimeoutMs,
            ...MEMBERSHIP_RETRY,
            retryIf: (e) => isLearnerNotReady(e) || isUnhealthyCluster(e),
            onRetry: (e, n) => {
              if (n === 1 || n % 10 === 0) log.info(isLearnerNotReady(e) ? 'The learner is still catching up with the leader' : 'The cluster is settling after a membership change');
            },
          }),
        );
        log.info(`Promoted member ${self.idHex} to a voting member`);
      }
    } finally {
      client.close();
    }
    await waitHealthy(ctx, local);
    await recordState(plan, { complete: true });
  },
};

export const JOIN_PHASES: readonly Phase[] = [
  stopPhase,
  certificatesPhase(false),
  installPhase,
  membershipPhase,
  joinConfigurePhase,
  startPhase,
  etcdctlPhase,
  joinHealthPhase,
];
