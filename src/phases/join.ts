/**
 * `etcdadm join <endpoint>`: add this host to an existing cluster. Phases, in etcdadm's order after preflight:
 * preflight, stop, certificates, install, membership, configure, start, etcdctl, health, backup (only with
 * backup.every in the configuration: the scheduled backups, see phases/backup.ts), cert-renewal (only with
 * pki.autoRenew), defrag-timer (only with defrag.every: phases/defrag-schedule.ts).
 * Everything that can fail locally (CA, directories, free space, certificates, download, SHA-256, install) runs before
 * `membership` changes the cluster, so a local failure never leaves a member added that cannot start. Each phase
 * re-reads the cluster instead of remembering: run alone, twice, or after a crash, it does the right thing. A host
 * that already is a started member of that cluster is left alone (nothing to do).
 */
import { backupPhase, checkBackupSchedule } from './backup.js';
import { checkRenewalTimer, renewalTimerPhase } from './certs.js';
import { checkDefragSchedule, defragTimerPhase } from './defrag-schedule.js';
import { readCheckedBundle } from './bundle.js';
import type { Plan } from '../config/types.js';
import { initialCluster, memberDataProblem } from '../config/urls.js';
import type { Member } from '../etcd/client.js';
import { addMember, findByPeerURLs, promoteMember, removeMember } from '../cluster/membership.js';
import { decideReplacement, type ReplaceDecision } from '../cluster/replace.js';
import { waitQuorumRead, waitServing } from '../cluster/health.js';
import { moveAside, movedAside } from '../host/dirs.js';
import type { RecordFacts } from '../host/record.js';
import { joinEndpoints, type PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { renderEnvFile } from '../service/render.js';
import { testHold } from '../host/testhooks.js';
import {
  checkCA,
  decideLocalEtcd,
  hostProblem,
  observeHost,
  observeLocalEtcd,
  portProblem,
  refuse,
  type HostObservation,
  type LocalEtcdDecision,
  type LocalEtcdObservation,
  type Refusal,
} from './preflight.js';
import {
  certificatesPhase,
  clusterToken,
  dataDirHasMember,
  ensureDataDirs,
  etcdctlPhase,
  installPhase,
  newClusterToken,
  recordFacts,
  startPhase,
  waitOptions,
} from './shared.js';

/** join's own options. */
export interface JoinOptions {
  /** Move a data dir of another or an unknown cluster aside. */
  force: boolean;
  /** --certs-bundle: this host's certificates from a CA host (checked by preflight before anything changes). */
  certsBundle?: string;
  /** --replace: the failed member (name, hex ID or peer URL) this host takes the place of (cluster/replace.ts). */
  replace?: string;
}

/** ETCD_INITIAL_CLUSTER for joining: every member, this one under its own name, unstarted others under their ID. */
export function joinInitialCluster(plan: Plan, members: readonly Member[], self: Member): string {
  return initialCluster(members.map((m) => ({ name: m.id === self.id ? plan.member.name : m.name || m.idHex, peerURLs: m.peerURLs, id: m.idHex })));
}

// ------------------------------------------------------------------ preflight and stop

interface JoinObservation {
  host: HostObservation;
  local: LocalEtcdObservation;
}

export const joinPreflightPhase: Phase = phase<JoinObservation, { local: LocalEtcdDecision; problem: Refusal | undefined; ports: Refusal | undefined }, JoinOptions>({
  name: 'preflight',
  short: 'Check the host before changing it; leave a host that already is a member of the cluster alone',
  long: 'Finds out first whether etcd runs here and, if so, whether it already is a started member of the cluster at the endpoint (then there is nothing to do) or proven not to be one. Then checks the directories, free space, ports and the cluster CA copied into --certs-dir, and records the run.',
  async observe(ctx) {
    joinEndpoints(ctx.plan);
    const local = await observeLocalEtcd(ctx);
    return { local, host: await observeHost(ctx, { etcdActive: local.active }) };
  },
  decide: (plan, obs) => ({
    local: decideLocalEtcd(plan, obs.local, obs.host.record),
    problem: hostProblem(plan, obs.host),
    ports: obs.local.active ? undefined : portProblem(obs.host.portsTaken),
  }),
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d.local.kind === 'member') return { done: d.local.why };
    if (d.local.kind === 'refuse') refuse(d.local);
    if (d.problem) refuse(d.problem);
    if (d.ports) refuse(d.ports);
    const bundle = ctx.options.certsBundle;
    if (bundle) {
      await readCheckedBundle(ctx, bundle);
      if (ctx.plan.settings.pki.autoRenew)
        refuse({ message: 'pki.autoRenew is true, but a host joined with a certs bundle holds no CA key to renew with', hint: "leave pki.autoRenew off here: renew on a CA host ('etcdadm certs bundle') and 'etcdadm certs import' the new bundle", exitCode: 2 });
    } else await checkCA(ctx, true);
    await checkBackupSchedule(ctx);
    if (ctx.plan.settings.pki.autoRenew) await checkRenewalTimer(ctx, 'pki.autoRenew is true');
    if (ctx.plan.settings.defrag.every) await checkDefragSchedule(ctx, `defrag.every is ${ctx.plan.settings.defrag.every}`);
    if (d.local.kind === 'continue') log.info(d.local.why);
    if (d.local.kind === 'stop') log.info(`${d.local.why}; it will be stopped`);
    const r = ctx.record.facts;
    if (!r) await ctx.record.begin({ createdBy: 'join', clusterToken: newClusterToken(), memberName: plan.member.name, settings: plan.settings });
    else await ctx.record.update({ createdBy: 'join', complete: false, memberName: plan.member.name, settings: plan.settings });
    log.info('The host is ready to join');
  },
});

export const stopPhase: Phase = phase<LocalEtcdObservation & { record: Readonly<RecordFacts> | undefined }, LocalEtcdDecision>({
  name: 'stop',
  short: 'Stop etcd if it runs on this host and is proven not to be a member of the cluster',
  async observe(ctx) {
    return { ...(await observeLocalEtcd(ctx)), record: ctx.record.facts };
  },
  decide: (plan, obs) => decideLocalEtcd(plan, obs, obs.record),
  async act(ctx, d) {
    const { plan, log } = ctx;
    switch (d.kind) {
      case 'none':
        log.info('etcd is not running on this host');
        return;
      case 'refuse':
        refuse(d);
      // eslint-disable-next-line no-fallthrough
      case 'member':
      case 'continue':
        log.info(`${d.why}; keeping it running`);
        return;
      case 'stop':
        log.info(`Stopping ${plan.service.initSystem === 'systemd' ? plan.service.unitName : 'the etcd static Pod'}: ${d.why}`);
        await ctx.init.stop(plan);
    }
  },
});

// ------------------------------------------------------------------ membership

export interface MembershipWorld {
  clusterIdHex: string;
  members: Member[];
  dataHasMember: boolean;
  /** The record as this command found it: proof that a data dir belongs to an earlier membership of this cluster. */
  record: Readonly<RecordFacts> | undefined;
  /** The data dir the record's settings name. */
  recordedDataDir: string | undefined;
  /** With --replace: what to do with the member named (decided on the member list with live health). */
  replacement?: ReplaceDecision;
}

/** What to do with a data dir found before joining: nothing, move it aside, or refuse. */
export type StaleData = { kind: 'none' } | { kind: 'move'; why: string } | ({ kind: 'refuse' } & Refusal);

/** With --replace: the failed member removed before this host is added. */
type Removal = { remove?: { id: string; name: string; why: string } };

export type MembershipDecision =
  | { kind: 'keep'; member: Member; why: string }
  | ({ kind: 'start-added'; member: Member; data: StaleData } & Removal)
  | ({ kind: 'add'; data: StaleData } & Removal)
  | ({ kind: 'refuse' } & Refusal);

/**
 * A data dir found before joining belongs to an earlier membership: if the record proves it was of this same cluster,
 * this member is gone from it, so the data is unused and moves aside. Data of another or an unknown cluster is refused
 * unless --force (then moved aside too). Never deleted. Pure.
 */
export function decideStaleData(plan: Plan, w: MembershipWorld, options: { force: boolean }, why: string): StaleData {
  if (!w.dataHasMember) return { kind: 'none' };
  const sameCluster = w.record?.clusterId === w.clusterIdHex && w.recordedDataDir === plan.member.dataDir;
  if (sameCluster) return { kind: 'move', why: `${plan.member.dataDir} holds data of an earlier membership of this cluster (${why})` };
  if (options.force) return { kind: 'move', why: `${plan.member.dataDir} holds data of another cluster (--force)` };
  return {
    kind: 'refuse',
    message: `the data dir ${plan.member.dataDir} holds a member of ${w.record?.clusterId ? `another cluster (${w.record.clusterId})` : 'an unknown cluster'}, not of cluster ${w.clusterIdHex}`,
    hint: 'move it away yourself, or pass --force to have it moved aside (it is never deleted)',
  };
}

/**
 * join's membership decision for every shape of the member list; with --replace, on the list without the member
 * being replaced, which is removed first. Pure.
 */
export function decideMembership(plan: Plan, w: MembershipWorld, options: { force: boolean }): MembershipDecision {
  const r = w.replacement;
  if (r?.kind === 'refuse') return r;
  if (r?.kind === 'remove') {
    const d = decideMembership(plan, { ...w, replacement: undefined, members: w.members.filter((m) => m.idHex !== r.id) }, options);
    return d.kind === 'add' || d.kind === 'start-added' ? { ...d, remove: { id: r.id, name: r.name, why: r.why } } : d;
  }
  const self = findByPeerURLs(w.members, plan.member.urls.advertisePeer);
  // what the cluster says goes into etcd.env: checked like the operator's own input before anything changes
  for (const m of w.members) {
    const problem = m === self ? undefined : memberDataProblem({ name: m.name || m.idHex, peerURLs: m.peerURLs, id: m.idHex });
    if (problem) return { kind: 'refuse', ...problem };
  }
  const clash = w.members.find((m) => m.name === plan.member.name && m !== self);
  if (clash)
    return { kind: 'refuse', message: `the member name "${plan.member.name}" is already used by member ${clash.idHex} (${clash.peerURLs.join(',')})`, hint: 'pick another --name, or remove that member first', exitCode: 2 };
  if (self?.name) {
    if (w.dataHasMember) return { kind: 'keep', member: self, why: `This host is already member ${self.idHex} of the cluster and has its data in ${plan.member.dataDir}; keeping it` };
    return {
      kind: 'refuse',
      message: `this host is member ${self.idHex} ("${self.name}") of the cluster, but its data dir ${plan.member.dataDir} is empty`,
      hint: `remove the member first ('etcdadm member remove ${self.idHex}' on another member), then join again`,
    };
  }
  if (self) return { kind: 'start-added', member: self, data: decideStaleData(plan, w, options, 'the member was added but never started') };
  return { kind: 'add', data: decideStaleData(plan, w, options, 'this host is not a member') };
}

async function clearStaleData(ctx: PhaseContext<JoinOptions>, data: StaleData): Promise<void> {
  if (data.kind === 'none') return;
  if (data.kind === 'refuse') refuse(data);
  ctx.log.info(data.why);
  const to = await moveAside(ctx.host, 'data dir', ctx.plan.member.dataDir, ctx.record.created(ctx.plan.member.dataDir));
  if (to) ctx.log.warn(movedAside('data dir', ctx.plan.member.dataDir, to));
}

/** --replace: the failed member out of the cluster (quorum-guarded), recorded first so a re-run knows it is gone. */
async function replaceFirst(ctx: PhaseContext<JoinOptions>, d: Removal): Promise<void> {
  if (!d.remove) return;
  ctx.log.info(d.remove.why);
  await ctx.record.update({ replaced: { id: d.remove.id, name: d.remove.name } });
  await removeMember(await ctx.cluster(), d.remove.id, { log: ctx.log });
  await testHold('replaced');
}

export const membershipPhase: Phase = phase<MembershipWorld, MembershipDecision, JoinOptions>({
  name: 'membership',
  short: 'Add this host to the cluster as a member (if it is not one already)',
  long: 'Lists the members through the given endpoint (a serializable read: it works right after a voting member was added to a 1-member cluster) with a client certificate signed by the cluster CA, finds this host by its peer URL, and adds it when missing — as a learner unless --no-learner, after the same quorum and one-change-at-a-time guards as `etcdadm member add`, waiting for another join\'s learner to finish. A member that was added but never started is reused.',
  async observe(ctx) {
    joinEndpoints(ctx.plan);
    const h = await ctx.cluster();
    const list = await h.members({ refresh: true, serializable: true });
    const target = ctx.options.replace;
    return {
      clusterIdHex: list.clusterIdHex,
      members: list.members,
      dataHasMember: await dataDirHasMember(ctx),
      record: ctx.record.facts,
      recordedDataDir: ctx.record.layer()?.values.member?.dataDir,
      ...(target ? { replacement: decideReplacement((await h.status({ refresh: true })).members, target, ctx.record.facts?.replaced) } : {}),
    };
  },
  decide: decideMembership,
  async act(ctx, d) {
    const { plan, log } = ctx;
    switch (d.kind) {
      case 'refuse':
        refuse(d);
      // eslint-disable-next-line no-fallthrough
      case 'keep':
        log.info(d.why);
        return;
      case 'start-added':
        await clearStaleData(ctx, d.data);
        await replaceFirst(ctx, d);
        log.info(`This host was already added as member ${d.member.idHex} but has not started yet; it will start with the cluster's member list`);
        await recordFacts(ctx, { memberId: d.member.idHex });
        return;
      case 'add': {
        await clearStaleData(ctx, d.data);
        await replaceFirst(ctx, d);
        const h = await ctx.cluster();
        const added = await addMember(h, plan.member.urls.advertisePeer, { learner: plan.join.learner, name: plan.member.name, log, whenPending: 'wait', retry: plan.join.retry });
        await testHold('member-added');
        await recordFacts(ctx, { memberId: added.member.idHex, clusterId: added.clusterIdHex, clusterToken: clusterToken(ctx) });
      }
    }
  },
});

// ------------------------------------------------------------------ configure, health

export const joinConfigurePhase: Phase = phase<{ members: Member[]; clusterIdHex: string }, { initialCluster: string; self: Member } | ({ kind: 'refuse' } & Refusal), JoinOptions>({
  name: 'configure',
  short: 'Write etcd.env (existing cluster), the systemd unit and the host record',
  async observe(ctx) {
    joinEndpoints(ctx.plan);
    const list = await (await ctx.cluster()).members({ refresh: true, serializable: true });
    return { members: list.members, clusterIdHex: list.clusterIdHex };
  },
  decide(plan, w) {
    const self = findByPeerURLs(w.members, plan.member.urls.advertisePeer);
    if (!self)
      return { kind: 'refuse', message: `this host (${plan.member.urls.advertisePeer.join(',')}) is not a member of the cluster at ${plan.join.endpoints.join(',')}`, hint: "run 'etcdadm join phase membership' first" };
    return { initialCluster: joinInitialCluster(plan, w.members, self), self };
  },
  async act(ctx, d) {
    if ('kind' in d) refuse(d);
    const { plan, host, log } = ctx;
    const token = clusterToken(ctx);
    await ensureDataDirs(ctx);
    await host.write(plan.files.envFile, renderEnvFile(plan, { initialCluster: d.initialCluster, state: 'existing', token }), { mode: 0o644 });
    log.info(`Wrote ${plan.files.envFile}`);
    await ctx.init.configure(plan);
    if (plan.service.initSystem === 'systemd') log.info(`Wrote ${plan.service.unitFile}`);
    const list = await (await ctx.cluster()).members({ serializable: true });
    await recordFacts(ctx, { clusterToken: token, memberId: d.self.idHex, clusterId: list.clusterIdHex, clusterEndpoints: list.members.flatMap((m) => m.clientURLs) });
  },
});

/**
 * join's health: wait until the local member serves (GET /health works on a learner, where a quorum read does not),
 * promote it if it is a learner (retrying while etcd says it has not caught up with the leader), then wait for a
 * quorum read like init.
 */
export const joinHealthPhase: Phase = phase<undefined, undefined, JoinOptions>({
  name: 'health',
  short: 'Wait until the new member serves, promote it from learner, and check a quorum read',
  dryRun: (ctx) => [`wait until the new member at ${ctx.plan.member.urls.localClient} serves, promote it${ctx.plan.join.learner ? ' from learner once it has caught up with the leader' : ''}, and wait for a quorum read`],
  async act(ctx) {
    const { plan, log } = ctx;
    const url = plan.member.urls.localClient;
    const h = await ctx.cluster();
    log.info(`Waiting for the new member at ${url} to serve`);
    await waitServing(h, url, waitOptions(ctx));
    const list = await h.members({ refresh: true, serializable: true });
    const self = findByPeerURLs(list.members, plan.member.urls.advertisePeer);
    if (self?.isLearner) {
      log.info(`Member ${self.idHex} is a learner; promoting it once it has caught up with the leader`);
      await promoteMember(h, self.id, { log, deadlineMs: plan.healthTimeoutMs });
    }
    log.info(`Waiting for etcd at ${url} to answer a quorum read (up to ${Math.round(plan.healthTimeoutMs / 1000)}s)`);
    await waitQuorumRead(h, url, waitOptions(ctx));
    const now = await h.members({ refresh: true, serializable: true });
    await recordFacts(ctx, { complete: true, clusterEndpoints: now.members.flatMap((m) => m.clientURLs) });
    log.info(`etcd is healthy: member ${plan.member.name}${self ? ` (${self.idHex})` : ''} of cluster ${now.clusterIdHex}`);
  },
});

export const JOIN_PHASES: readonly Phase<JoinOptions>[] = [
  joinPreflightPhase,
  stopPhase,
  certificatesPhase(false),
  installPhase,
  membershipPhase,
  joinConfigurePhase,
  startPhase,
  etcdctlPhase,
  joinHealthPhase,
  backupPhase,
  renewalTimerPhase,
  defragTimerPhase,
];
