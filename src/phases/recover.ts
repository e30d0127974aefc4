/**
 * `etcdadm recover`, on the one surviving member of a cluster that lost quorum for good: a one-member cluster from
 * this member's own data, which new hosts can then join. Phases: preflight, stop, copy-aside, force-new-cluster,
 * members, configure, restart, health.
 *
 * Nothing changes before preflight proved the cluster lost (cluster/recover.ts decides: refused while quorum holds or
 * another voting member answers) and printed exactly what will be done. The data dir is copied aside (never moved,
 * never deleted) before etcd meets --force-new-cluster; the flag is in etcd.env only for that one start (a later
 * start with it would drop every member added since) and etcd.env is then rendered without it, for a cluster of this
 * member alone. The host record notes the recovery under way before anything changes, so the same command after a
 * crash finishes the same recovery; it is removed once the member is healthy.
 */
import { dirname } from 'node:path';
import { MIN_FREE_BYTES, PATHS } from '../config/defaults.js';
import { isKnownEtcdFlag } from '../config/etcd-flags.js';
import type { Plan } from '../config/types.js';
import { initialCluster } from '../config/urls.js';
import { waitQuorumRead, waitServing } from '../cluster/health.js';
import { decideRecover, dropLeftovers, observeRecovery, waitForcedAlone, type RecoverDecision, type RecoverMember, type RecoverWorld } from '../cluster/recover.js';
import { memberTitle } from '../cluster/quorum.js';
import { httpHealth } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { RecoveryInProgress } from '../host/record.js';
import type { PhaseContext, RunContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { runningEnv } from '../initsystem/index.js';
import { envName, renderEnvFile } from '../service/render.js';
import { sleep } from '../util/retry.js';
import { refuse } from './preflight.js';
import { waitOptions } from './shared.js';

/** How long each probe of another member may take: a dead host drops packets, so nothing fails by itself. */
const PROBE_TIMEOUT_MS = 1500;
/** The env variable of --force-new-cluster (every supported etcd version spells it so). */
export const FORCE_NEW_CLUSTER_ENV = envName('force-new-cluster');

const label = (m: Pick<RecoverMember, 'name' | 'id'>) => memberTitle({ name: m.name, idHex: m.id });

/** `<dir>.before-recover-<UTC time>`: a sibling of the data (or WAL) dir. */
export function copyPathFor(dir: string, now = new Date()): string {
  return `${dir.replace(/\/+$/, '')}.before-recover-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

/** The directories etcd keeps this member's data in: the data dir, and the WAL dir when it lives elsewhere. */
function dataDirs(plan: Plan): string[] {
  const wal = plan.member.walDir;
  return [plan.member.dataDir, ...(wal && !wal.startsWith(`${plan.member.dataDir.replace(/\/+$/, '')}/`) ? [wal] : [])];
}

/** The initial cluster of this member alone. */
function aloneCluster(plan: Plan): string {
  return initialCluster([{ name: plan.member.name, peerURLs: plan.member.urls.advertisePeer }]);
}

/** What recover does, step by step (printed before it starts, and by --dry-run). */
export function recoverSteps(plan: Plan, d: Extract<RecoverDecision, { kind: 'proceed' }>, copies: RecoveryInProgress['copies']): string[] {
  const unit = plan.service.unitName;
  const self = label(d.self);
  return [
    `stop ${unit} on this host (disabled at boot until its forced start)`,
    ...(copies ?? []).map((c) => `copy ${c.from} to ${c.to} (not moved: ${c.from} stays as it is; 0700, every file fsynced; free space checked first)`),
    `start ${unit} once with --force-new-cluster (${FORCE_NEW_CLUSTER_ENV}=true in ${plan.files.envFile} for that start only) on the data in ${plan.member.dataDir}: etcd rewrites the membership to ${self} alone and keeps every key it has; wait until it leads a one-member cluster`,
    `remove any of ${d.dead.map((m) => m.name || m.id).join(', ') || 'the lost members'} still listed (there should be none) and verify through the API that ${self} is the only member`,
    `write ${plan.files.envFile} without the flag: ETCD_INITIAL_CLUSTER=${aloneCluster(plan)}, ETCD_INITIAL_CLUSTER_STATE=existing; note this member's client URLs as the cluster's in ${PATHS.recordFile}`,
    `restart ${unit} normally`,
    `wait until ${self} serves, leads and reads linearizably`,
  ];
}

// ------------------------------------------------------------------ preflight

async function observePreflight(ctx: PhaseContext): Promise<RecoverWorld> {
  const { plan, record } = ctx;
  const f = record.facts;
  const base = { localURL: plan.member.urls.localClient, unitName: plan.service.unitName };
  if (!f) return { ...base, recorded: undefined, local: { answers: false, why: 'no host record' }, members: [], peers: [] };
  const h = await ctx.cluster();
  const resume = f.recovery;
  const seen = await observeRecovery(h.client, plan.member.urls.localClient, { timeoutMs: PROBE_TIMEOUT_MS, ...(resume ? { resume } : {}) });
  return {
    ...base,
    ...seen,
    recorded: { memberName: f.memberName, complete: f.complete, ...(f.memberId ? { memberId: f.memberId } : {}) },
    ...(resume ? { resume } : {}),
  };
}

const preflight: Phase = phase<RecoverWorld, RecoverDecision>({
  name: 'preflight',
  short: 'Prove the cluster lost (no quorum, no other voting member answers), print what will be done; refuse with the numbers otherwise',
  long: "Reads this member's own member list, tries a linearizable read through it and probes every other member's client URLs (1.5 s each). Refused while quorum holds or another voting member answers, on a learner, and where no completed etcdadm member runs.",
  runIf: (ctx) =>
    ctx.plan.service.initSystem === 'systemd'
      ? true
      : refuse({ message: 'recover supports members run by systemd; this member runs as a static Pod (--init-system kubelet)', hint: "follow etcd's disaster-recovery guide by hand (start the member once with --force-new-cluster)" }),
  observe: observePreflight,
  decide: (_plan, w) => decideRecover(w),
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d.kind === 'refuse') refuse(d);
    if (!isKnownEtcdFlag(plan.release.version, 'force-new-cluster'))
      throw new EtcdadmError(`etcd ${plan.release.version} has no --force-new-cluster flag`, { hint: 'recover this member by hand' });
    for (const w of d.warnings) log.warn(w);
    const resume = ctx.record.facts?.recovery;
    const now = new Date();
    const copies = resume?.copies ?? dataDirs(plan).map((from) => ({ from, to: copyPathFor(from, now) }));
    ctx.out(`${d.resuming ? 'Resuming the recovery' : 'Recovery'} of member ${label(d.self)} from the loss of quorum${ctx.dryRun ? ' (dry run: nothing is changed)' : ''}:`);
    ctx.out(`  members dropped: ${d.dead.map((m) => `${label(m)}${m.isLearner ? ' (learner)' : ''} client ${m.clientURLs.join(',') || '-'} peer ${m.peerURLs.join(',')}`).join('; ') || 'none'}`);
    ctx.out(`  data dir: ${plan.member.dataDir}${plan.member.walDir ? `, WAL dir: ${plan.member.walDir}` : ''}; copied to ${copies.map((c) => c.to).join(', ')}`);
    recoverSteps(plan, d, copies).forEach((s, i) => ctx.out(`  ${i + 1}. ${s}`));
    const dead = d.dead.map((m) => ({ name: m.name, id: m.id, clientURLs: m.clientURLs, peerURLs: m.peerURLs }));
    await ctx.record.update({ recovery: resume ?? { startedAt: now.toISOString(), dead, copies } });
    log.info(`${d.resuming ? 'Resuming the recovery of' : 'Recovering'} member ${label(d.self)}; dropping ${d.dead.map(label).join(', ') || 'no other member'}`);
  },
});

/**
 * The condition of every phase after preflight: a recovery under way on this host, which only preflight notes (once
 * it proved the cluster lost). So `recover phase <name>` alone can never force a new cluster out of a healthy one.
 */
function underway(ctx: PhaseContext): true | string {
  if (ctx.record.facts?.recovery) return true;
  return refuse({
    message: 'no recovery is under way on this host: nothing proved the cluster lost',
    hint: "run 'etcdadm recover' (or 'etcdadm recover phase preflight' first): its preflight checks the cluster and notes the recovery",
  });
}

// ------------------------------------------------------------------ stop

/** Until nothing answers on the local client URL (etcd is really gone, so its data dir can be copied). */
async function waitLocalGone(ctx: RunContext): Promise<void> {
  const { plan } = ctx;
  const tls = await ctx.clientTls();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await httpHealth(plan.member.urls.localClient, tls, { timeoutMs: 1000 });
    if (r.status === 0 || r.error) return;
    if (Date.now() > deadline) throw new EtcdadmError(`etcd still answers at ${plan.member.urls.localClient} after ${plan.service.unitName} was stopped`, { hint: 'stop the etcd that runs here by hand, then run recover again' });
    await sleep(100);
  }
}

const stop: Phase = phase<boolean, 'stop' | 'stopped'>({
  name: 'stop',
  runIf: underway,
  short: 'Stop etcd on this host (disabled until the forced start), and make sure nothing answers on its client URL',
  observe: (ctx) => ctx.init.isActive(ctx.plan),
  decide: (_plan, active) => (active ? 'stop' : 'stopped'),
  dryRun: (ctx, d) => [`${d === 'stop' ? `stop and disable ${ctx.plan.service.unitName}, then w` : 'w'}ait until nothing answers at ${ctx.plan.member.urls.localClient}`],
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d === 'stop') {
      log.info(`Stopping ${plan.service.unitName}`);
      await ctx.init.stop(plan);
    } else log.info(`${plan.service.unitName} is not running`);
    await waitLocalGone(ctx);
  },
});

// ------------------------------------------------------------------ copy-aside

type CopyWorld = { copies: NonNullable<RecoveryInProgress['copies']>; forced: boolean };
const copyAside: Phase = phase<CopyWorld, CopyWorld>({
  name: 'copy-aside',
  runIf: underway,
  short: 'Copy the data dir (and WAL dir) to a sibling dir with a timestamp, 0700, fsynced; the data dir itself stays',
  async observe(ctx) {
    const r = ctx.record.facts?.recovery;
    return { copies: r?.copies ?? dataDirs(ctx.plan).map((from) => ({ from, to: copyPathFor(from) })), forced: r?.forced === true };
  },
  decide: (_plan, w) => w,
  async dryRun(ctx, w) {
    const out: string[] = [];
    for (const c of w.copies) out.push((await ctx.host.exists(c.to)) ? `nothing: ${c.from} was copied to ${c.to} already` : `copy ${c.from} (${await ctx.host.treeBytes(c.from)} bytes) to ${c.to} (0700, every file fsynced)`);
    return out;
  },
  async act(ctx, w) {
    const { plan, host, log } = ctx;
    if (await ctx.init.isActive(plan)) throw new EtcdadmError(`${plan.service.unitName} is running: the data dir is copied only while etcd is stopped`, { hint: "run 'etcdadm recover' (all phases) again" });
    for (const c of w.copies) {
      if (await host.exists(c.to)) {
        log.info(`${c.from} was copied to ${c.to} already`);
        continue;
      }
      if (w.forced) {
        log.warn(`${c.to} is missing, and the forced start happened already: a copy now would not hold the data as it was; not copying`);
        continue;
      }
      if ((await host.stat(c.from))?.kind !== 'dir') throw new EtcdadmError(`${c.from} is not a directory`, { hint: `check ${PATHS.recordFile}: it names the data dir this member was set up with` });
      const bytes = await host.treeBytes(c.from);
      const free = await host.freeBytes(dirname(c.to));
      if (free < bytes + MIN_FREE_BYTES)
        throw new EtcdadmError(`not enough free space for a copy of ${c.from} (${bytes} bytes) in ${dirname(c.to)}: ${free} bytes free, ${bytes + MIN_FREE_BYTES} needed`, {
          hint: `free space on the filesystem of ${dirname(c.to)}, then run recover again (etcd is stopped, nothing else changed)`,
        });
      log.info(`Copying ${c.from} (${bytes} bytes) to ${c.to}`);
      await host.copyTree(c.from, c.to, 0o700);
      log.info(`Copied ${c.from} to ${c.to} (0700, fsynced): the data as it was before the recovery`);
    }
  },
});

// ------------------------------------------------------------------ force-new-cluster

/** etcd.env without the force flag (whatever else it says). */
function withoutForce(text: string): string {
  return text.replace(new RegExp(`^${FORCE_NEW_CLUSTER_ENV}=.*\\n?`, 'gm'), '');
}

const forceNewCluster: Phase = phase<{ forced: boolean }, 'force' | 'forced'>({
  name: 'force-new-cluster',
  runIf: underway,
  commits: 'etcd rewrote the membership on its data: the recovery is finished by running recover again',
  short: `Start etcd once with --force-new-cluster (${FORCE_NEW_CLUSTER_ENV}=true for that start only); wait until it leads a one-member cluster`,
  long: "etcd then commits the removal of every other member itself, on this member's own data: the cluster ID and every key it had applied stay. The flag is taken out of etcd.env as soon as etcd has started, whatever happens.",
  observe: async (ctx) => ({ forced: ctx.record.facts?.recovery?.forced === true }),
  decide: (_plan, w) => (w.forced ? 'forced' : 'force'),
  dryRun: (ctx, d) =>
    d === 'forced'
      ? ['nothing: etcd started with --force-new-cluster already (this recovery)']
      : [`add ${FORCE_NEW_CLUSTER_ENV}=true to ${ctx.plan.files.envFile}, start ${ctx.plan.service.unitName}, wait until it leads a one-member cluster, take the flag out again`],
  async act(ctx, d) {
    const { plan, host, log } = ctx;
    const env = plan.files.envFile;
    const text = await host.read(env);
    if (text === undefined) throw new EtcdadmError(`${env} does not exist`, { hint: 'this member was not set up by etcdadm init/join; recover it by hand' });
    if (d === 'forced') {
      log.info('etcd started with --force-new-cluster already (this recovery)');
      if (text !== withoutForce(text)) await host.write(env, withoutForce(text), { mode: 0o644 });
      return;
    }
    const selfId = ctx.record.facts?.memberId;
    if (!selfId) throw new EtcdadmError(`${PATHS.recordFile} has no member ID`, { hint: 'recover this member by hand' });
    await host.write(env, `${withoutForce(text)}${FORCE_NEW_CLUSTER_ENV}=true\n`, { mode: 0o644 });
    log.info(`Starting ${plan.service.unitName} with --force-new-cluster`);
    const h = await ctx.cluster();
    try {
      await ctx.init.start(plan);
      await h.timed(() => waitForcedAlone(h, plan.member.urls.localClient, selfId, waitOptions(ctx)));
    } finally {
      // etcd read its settings at start: the flag must not be there for any later start
      await host.write(env, withoutForce(text), { mode: 0o644 });
    }
    const r = ctx.record.facts?.recovery;
    if (r) await ctx.record.update({ recovery: { ...r, forced: true } });
    log.info(`etcd leads a new one-member cluster on ${plan.member.name}'s data; ${FORCE_NEW_CLUSTER_ENV} is gone from ${env}`);
  },
});

// ------------------------------------------------------------------ members

const members: Phase = phase<undefined, undefined>({
  name: 'members',
  runIf: underway,
  short: 'Remove any lost member still listed (there should be none); verify through the API that this member is the only one',
  dryRun: (ctx) => [`wait until ${ctx.plan.member.name} serves, remove any lost member still listed, check that it is the only member`],
  async act(ctx) {
    const { log } = ctx;
    const selfId = ctx.record.facts?.memberId;
    if (!selfId) throw new EtcdadmError(`${PATHS.recordFile} has no member ID`, { hint: 'recover this member by hand' });
    const h = await ctx.cluster();
    if (!(await ctx.init.isActive(ctx.plan))) await ctx.init.start(ctx.plan); // a resumed run: etcd was stopped
    await waitServing(h, ctx.plan.member.urls.localClient, waitOptions(ctx));
    await waitQuorumRead(h, ctx.plan.member.urls.localClient, waitOptions(ctx));
    const removed = await dropLeftovers(h, selfId, log);
    log.info(removed.length ? `Removed ${removed.map(label).join(', ')}; ${ctx.plan.member.name} is the only member` : `${ctx.plan.member.name} (${selfId}) is the only member; no lost member is listed`);
  },
});

// ------------------------------------------------------------------ configure

const configure: Phase = phase<undefined, undefined>({
  name: 'configure',
  runIf: underway,
  short: 'Write etcd.env without the force flag for a cluster of this member alone (state existing); the host record: this member is the cluster',
  async act(ctx) {
    const { plan, host, log } = ctx;
    const env = await runningEnv(host, plan);
    const token = env.get('ETCD_INITIAL_CLUSTER_TOKEN') ?? ctx.record.facts?.clusterToken;
    if (!token) throw new EtcdadmError(`${plan.files.envFile} has no ETCD_INITIAL_CLUSTER_TOKEN`, { hint: 'recover this member by hand' });
    const text = renderEnvFile(plan, { initialCluster: aloneCluster(plan), state: 'existing', token });
    await host.write(plan.files.envFile, text, { mode: 0o644 });
    const h = await ctx.cluster();
    const st = await h.client.status(plan.member.urls.localClient).catch(() => undefined);
    await ctx.record.update({ clusterEndpoints: [...plan.member.urls.advertiseClient], ...(st ? { clusterId: st.clusterId.toString(16) } : {}) });
    log.info(`Wrote ${plan.files.envFile}: ETCD_INITIAL_CLUSTER=${aloneCluster(plan)}, state existing, no ${FORCE_NEW_CLUSTER_ENV}`);
  },
});

// ------------------------------------------------------------------ restart, health

const restart: Phase = phase<boolean, 'restart' | 'start'>({
  name: 'restart',
  runIf: underway,
  short: 'Restart etcd normally (without the flag), enabled at boot',
  observe: (ctx) => ctx.init.isActive(ctx.plan),
  decide: (_plan, active) => (active ? 'restart' : 'start'),
  async act(ctx, d) {
    const { plan, log } = ctx;
    log.info(`${d === 'restart' ? 'Restarting' : 'Starting'} ${plan.service.unitName}`);
    if (d === 'restart') await ctx.init.restart(plan);
    else await ctx.init.start(plan);
  },
});

const health: Phase = phase<undefined, undefined>({
  name: 'health',
  runIf: underway,
  short: 'Wait until the member serves, leads a one-member cluster and reads linearizably; end the recovery in the host record',
  dryRun: (ctx) => [`wait until ${ctx.plan.member.name} serves, leads a one-member cluster and reads linearizably; end the recovery in ${PATHS.recordFile}`],
  async act(ctx) {
    const { plan, log } = ctx;
    const h = await ctx.cluster();
    const url = plan.member.urls.localClient;
    await waitServing(h, url, waitOptions(ctx));
    await waitQuorumRead(h, url, waitOptions(ctx));
    const list = await h.client.memberList(true);
    const st = await h.client.status(url);
    if (list.members.length !== 1 || st.leader !== st.memberId)
      throw new EtcdadmError(`after the restart the cluster lists ${list.members.length} members and ${st.leader === st.memberId ? 'this member leads' : 'this member does not lead'}`, { hint: "check 'etcdadm status'" });
    const copies = ctx.record.facts?.recovery?.copies ?? [];
    await ctx.record.update({ endRecovery: true, clusterEndpoints: [...plan.member.urls.advertiseClient] });
    log.info(`Cluster ${list.clusterIdHex} is a healthy one-member cluster on ${plan.member.name}`);
    ctx.out(`Recovered: cluster ${list.clusterIdHex} has one member, ${plan.member.name} (${st.memberIdHex}), healthy.`);
    if (copies.length) ctx.out(`The data as it was before the recovery: ${copies.map((c) => c.to).join(', ')} (remove it once the cluster is whole again).`);
    ctx.out(`Add members one at a time: copy the CA to each new host (rsync -avR ${plan.pki.files.ca.certPath.replace(/ca\.crt$/, 'ca.*')} <host>:/), then run there:`);
    ctx.out(`  etcdadm join ${plan.member.urls.advertiseClient[0] ?? url}`);
  },
});

export const RECOVER_PHASES: readonly Phase[] = [preflight, stop, copyAside, forceNewCluster, members, configure, restart, health];
