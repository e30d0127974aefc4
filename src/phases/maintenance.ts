/**
 * Keeping a cluster's databases healthy, through src/cluster/defrag.ts:
 *
 *   etcdadm defrag [--all]     defrag        this member, or every member one at a time, followers first, the leader
 *                                            last; only above --threshold; refused while a member is down; under the
 *                                            cluster-wide defrag lock (src/cluster/lock.ts): while another host holds
 *                                            it, refused — or, with --scheduled (the timer's run), skipped, exit 0
 *   etcdadm alarm disarm       disarm        the active alarms (all, or one member's)
 *   etcdadm maintain           preflight     what is wrong: alarms, each DB against the quota
 *                              compact       the history up to the current revision (minus --retain-revisions)
 *                              defrag        every member as `defrag --all`
 *                              verify        every DB below the quota, else stop: NOSPACE stays armed
 *                              disarm        NOSPACE disarmed
 * (etcd's NOSPACE procedure, docs/operations.md). Each phase reads the cluster itself; run again, nothing is left
 * to do and nothing changes. The defrag timer (`defrag --schedule`) is src/phases/defrag-schedule.ts.
 */
import { fragmentation, defragOne, planDefrag, waitCompactionApplied, type DefragPlan } from '../cluster/defrag.js';
import { mib, pct } from '../cluster/db-size.js';
import { DEFRAG_LOCK, LOCK_TTL_SEC, acquireLock, describeHolder, parseHolder, selfHolder, type LockHolder } from '../cluster/lock.js';
import type { ClusterStatus } from '../cluster/status.js';
import { testHold } from '../host/testhooks.js';
import type { DefragScheduleSpec } from './defrag-schedule.js';
import type { Plan } from '../config/types.js';
import type { Alarm } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase, type PhaseResult } from '../run/phase.js';
import { refuse } from './preflight.js';
import { selfIn } from './shared.js';

export interface DefragOptions {
  /** Every member; else this host's member. */
  all: boolean;
  threshold: number;
  force: boolean;
  /** The timer's run: while another host holds the defrag lock, skip (exit 0) instead of refusing. */
  scheduled: boolean;
  /** defrag --schedule: the timer's interval and threshold (src/phases/defrag-schedule.ts). */
  schedule?: DefragScheduleSpec;
}

export interface MaintainOptions {
  threshold: number;
  force: boolean;
  /** Revisions of history kept by the compaction (0: compact at the current revision). */
  retainRevisions: bigint;
}

export interface AlarmDisarmOptions {
  /** A member's name or hex ID: only its alarms. */
  member?: string;
}


/** This host's member (by the record's ID, else the plan's name), as a hex ID. */
function selfId(ctx: PhaseContext, st: ClusterStatus): string {
  const self = selfIn(st.members, ctx.record.facts?.memberId, ctx.plan.member.name);
  if (!self) refuse({ message: `this host's member ${ctx.plan.member.name} is not in the cluster`, hint: 'run it on a member host, or pass --all' });
  return self.id;
}

/** What a defrag phase decided: the plan, or that another host holds the defrag lock. */
export type DefragDecision = DefragPlan | { kind: 'busy'; holder: LockHolder };

/**
 * While another host holds the defrag lock: the timer's run skips, saying who holds it (exit 0: the cluster is being
 * taken care of); a run by hand is refused (exit 1). Pure.
 */
export function lockBusy(holder: LockHolder, scheduled: boolean): { kind: 'skip'; message: string } | { kind: 'refuse'; message: string; hint: string } {
  const who = describeHolder(holder);
  if (scheduled) return { kind: 'skip', message: `another host (${who}) is running the rolling defrag; skipping` };
  return {
    kind: 'refuse',
    message: `another host (${who}) is running the rolling defrag: one defragmentation at a time per cluster`,
    hint: `run this again when it has ended (its lock ${DEFRAG_LOCK} goes with it, or within ${LOCK_TTL_SEC} s of its host stopping)`,
  };
}

/** The lock holder a phase observes (none when the key is absent). */
async function observeHolder(ctx: PhaseContext): Promise<LockHolder | undefined> {
  const value = await (await ctx.cluster()).client.get(DEFRAG_LOCK);
  return value === undefined ? undefined : parseHolder(value);
}

function busy(ctx: PhaseContext, holder: LockHolder, scheduled: boolean): PhaseResult {
  const b = lockBusy(holder, scheduled);
  if (b.kind === 'refuse') refuse(b);
  return { done: b.message };
}

/**
 * Defragment the members a plan names, one at a time, under the cluster-wide defrag lock (taken only when there is
 * something to defragment, so that an idle run writes nothing). Once the lock is held the plan is decided again from
 * a fresh status: a run that ended between the first look and the lock has changed the files.
 */
async function runDefrag(ctx: PhaseContext, d: DefragDecision, again: (st: ClusterStatus) => DefragPlan, scheduled: boolean, command: string): Promise<PhaseResult | void> {
  if (d.kind === 'busy') return busy(ctx, d.holder, scheduled);
  if (d.kind === 'refuse') refuse(d);
  if (!d.steps.some((s) => s.action === 'defrag')) {
    for (const step of d.steps) ctx.log.info(`Skipping ${step.name}: ${step.why}`);
    ctx.log.info('Nothing to defragment');
    return;
  }
  const h = await ctx.cluster();
  const taken = await acquireLock(h.client, DEFRAG_LOCK, selfHolder((await ctx.host.facts()).hostname, ctx.plan.member.name, command), ctx.log);
  if (taken.kind === 'busy') return busy(ctx, taken.holder, scheduled);
  const lock = taken.lock;
  ctx.log.info(taken.why);
  try {
    await testHold('defrag-locked');
    const plan = again(await h.status({ refresh: true }));
    if (plan.kind === 'refuse') refuse(plan);
    let freed = 0;
    let done = 0;
    for (const step of plan.steps) {
      if (step.action === 'skip') {
        ctx.log.info(`Skipping ${step.name}: ${step.why}`);
        continue;
      }
      await lock.check();
      const r = await defragOne(h, step, ctx.log);
      freed += r.freed;
      done++;
    }
    ctx.log.info(done ? `Defragmented ${done} member(s): ${freed} bytes freed` : 'Nothing to defragment');
  } finally {
    await lock.release();
  }
}

function defragDryRun(d: DefragDecision, scheduled: boolean): string[] | PhaseResult {
  if (d.kind === 'busy') {
    const b = lockBusy(d.holder, scheduled);
    if (b.kind === 'refuse') refuse(b);
    return { done: b.message };
  }
  if (d.kind === 'refuse') refuse(d);
  const lines = d.steps.map((s) => (s.action === 'skip' ? `skip ${s.name}: ${s.why}` : `defragment ${s.name}${s.leader ? ' (the leader, last; leadership moved away first)' : ''}: ${s.why}`));
  return d.steps.some((s) => s.action === 'defrag') ? [`take the cluster lock ${DEFRAG_LOCK} (released at the end)`, ...lines] : lines;
}

interface DefragWorld {
  st: Pick<ClusterStatus, 'members'>;
  self?: string;
  holder?: LockHolder;
}

/** The defrag phase's decision: another host's lock, else the plan. Pure. */
export function decideDefrag(w: DefragWorld, o: Pick<DefragOptions, 'threshold' | 'force'>): DefragDecision {
  if (w.holder) return { kind: 'busy', holder: w.holder };
  return planDefrag(w.st, { threshold: o.threshold, force: o.force, ...(w.self ? { only: w.self } : {}) });
}

export const defragPhase: Phase<DefragOptions> = phase<DefragWorld, DefragDecision, DefragOptions>({
  name: 'defrag',
  short: 'Defragment members one at a time, followers first, the leader last, each only above the threshold; one run per cluster at a time',
  async observe(ctx) {
    const st = await (await ctx.cluster()).status({ refresh: true });
    const holder = await observeHolder(ctx);
    return { st, ...(ctx.options.all ? {} : { self: selfId(ctx, st) }), ...(holder ? { holder } : {}) };
  },
  decide: (_plan, w, o) => decideDefrag(w, o),
  act: (ctx, d) => runDefrag(ctx, d, (st) => planDefrag(st, { threshold: ctx.options.threshold, force: ctx.options.force, ...(ctx.options.all ? {} : { only: selfId(ctx, st) }) }), ctx.options.scheduled, `defrag${ctx.options.all ? ' --all' : ''}${ctx.options.scheduled ? ' --scheduled' : ''}`),
  dryRun: (ctx, d) => defragDryRun(d, ctx.options.scheduled),
});

export const DEFRAG_PHASES: readonly Phase<DefragOptions>[] = [defragPhase];

// ------------------------------------------------------------------ alarms

/** The alarms `member` (name or hex ID) selects; all without it. Pure. */
export function selectAlarms(alarms: readonly Alarm[], st: Pick<ClusterStatus, 'members'>, member: string | undefined): Alarm[] {
  const active = alarms.filter((a) => a.alarm !== 'NONE');
  if (!member) return active;
  const m = st.members.find((x) => x.name === member || x.id === member.toLowerCase());
  if (!m) refuse({ message: `no member ${member} in the cluster`, hint: 'run etcdadm status to see the members' });
  return active.filter((a) => a.memberIdHex === m.id);
}

async function disarm(ctx: PhaseContext, alarms: readonly Alarm[], st: Pick<ClusterStatus, 'members'>): Promise<void> {
  const h = await ctx.cluster();
  for (const a of alarms) {
    const name = st.members.find((m) => m.id === a.memberIdHex)?.name ?? a.memberIdHex;
    await h.client.alarmDisarm(a.alarm as 'NOSPACE' | 'CORRUPT', a.memberId);
    ctx.log.info(`Disarmed ${a.alarm} on ${name}`);
  }
}

export const alarmDisarmPhase: Phase<AlarmDisarmOptions> = phase<{ alarms: Alarm[]; st: ClusterStatus }, Alarm[], AlarmDisarmOptions>({
  name: 'disarm',
  short: 'Disarm the active alarms (all, or one member\'s)',
  async observe(ctx) {
    const h = await ctx.cluster();
    return { alarms: await h.client.alarms(), st: await h.status({ refresh: true }) };
  },
  decide: (_plan, w, o) => selectAlarms(w.alarms, w.st, o.member),
  async act(ctx, alarms) {
    if (!alarms.length) {
      ctx.log.info('No active alarm: nothing to disarm');
      return;
    }
    const st = await (await ctx.cluster()).status();
    await disarm(ctx, alarms, st);
  },
  dryRun: (_ctx, alarms) => (alarms.length ? alarms.map((a) => `disarm ${a.alarm} on member ${a.memberIdHex}`) : []),
});

export const ALARM_DISARM_PHASES: readonly Phase<AlarmDisarmOptions>[] = [alarmDisarmPhase];

// ------------------------------------------------------------------ maintain (NOSPACE recovery)

/** The members whose file is at or above the quota. Pure. */
export function overQuota(st: Pick<ClusterStatus, 'members'>, quota: number): { name: string; dbSize: number }[] {
  return st.members.filter((m) => m.dbSize !== null && m.dbSize >= quota).map((m) => ({ name: m.name, dbSize: m.dbSize! }));
}

const maintainPreflight: Phase<MaintainOptions> = phase<ClusterStatus, ClusterStatus, MaintainOptions>({
  name: 'preflight',
  short: 'Say what is wrong: active alarms, each member\'s database against the quota and its fragmentation',
  async observe(ctx) {
    return (await ctx.cluster()).status({ refresh: true });
  },
  async act(ctx, st) {
    const quota = ctx.plan.etcd.quotaBackendBytes;
    for (const m of st.members) {
      if (m.dbSize === null) ctx.log.warn(`${m.name || m.id}: ${m.health} (${m.error ?? 'no answer'})`);
      else ctx.log.info(`${m.name}: ${mib(m.dbSize)} of the ${mib(quota)} quota (${pct(m.dbSize / quota)}), ${pct(fragmentation(m.dbSize, m.dbSizeInUse))} free${m.alarms.length ? `, alarm ${m.alarms.join(', ')}` : ''}`);
    }
    if (!st.members.some((m) => m.alarms.length)) ctx.log.info('No active alarm');
  },
  dryRun: () => [],
});

interface CompactWorld {
  revision: bigint;
  compacted: bigint;
}
type CompactDecision = { kind: 'compact'; to: bigint } | { kind: 'nothing'; why: string };

/** Where to compact: the current revision minus what is kept, when that is past the last compaction. Pure. */
export function decideCompact(w: CompactWorld, retain: bigint): CompactDecision {
  const to = w.revision - retain;
  if (to <= 0n) return { kind: 'nothing', why: `revision ${w.revision}: nothing older than the ${retain} revisions kept` };
  if (to <= w.compacted) return { kind: 'nothing', why: `compacted already at revision ${w.compacted} (current ${w.revision})` };
  return { kind: 'compact', to };
}

const compactPhase: Phase<MaintainOptions> = phase<CompactWorld, CompactDecision, MaintainOptions>({
  name: 'compact',
  short: 'Compact the history up to the current revision (minus --retain-revisions)',
  async observe(ctx) {
    const h = await ctx.cluster();
    const hk = await h.client.hashKV(undefined, 0n);
    return { revision: hk.revision, compacted: hk.compactRevision };
  },
  decide: (_plan, w, o) => decideCompact(w, o.retainRevisions),
  async act(ctx, d) {
    if (d.kind === 'nothing') {
      ctx.log.info(`Nothing to compact: ${d.why}`);
      return;
    }
    const h = await ctx.cluster();
    await h.client.compact(d.to, true, 120_000);
    // the members apply it each in their own time: the defragmentation that follows must see what it freed everywhere
    const st = await h.status({ refresh: true });
    await waitCompactionApplied(h, st.members.flatMap((m) => (m.endpoint ? [m.endpoint] : [])), d.to, ctx.log);
    ctx.log.info(`Compacted the history up to revision ${d.to} (applied on every member)`);
  },
  dryRun: (_ctx, d) => (d.kind === 'compact' ? [`compact the history up to revision ${d.to}`] : []),
});

/** maintain's plan: every member above the threshold, and every one near the quota whatever its free share. Pure. */
function maintainPlan(plan: Plan, st: Pick<ClusterStatus, 'members'>, o: MaintainOptions): DefragPlan {
  return planDefrag(st, { threshold: o.threshold, force: o.force, regardless: (m) => nearQuota(m, plan.etcd.quotaBackendBytes) });
}

const maintainDefrag: Phase<MaintainOptions> = phase<DefragWorld, DefragDecision, MaintainOptions>({
  name: 'defrag',
  short: 'Defragment every member as `etcdadm defrag --all` does (under the same cluster-wide lock)',
  async observe(ctx) {
    const st = await (await ctx.cluster()).status({ refresh: true });
    const holder = await observeHolder(ctx);
    return { st, ...(holder ? { holder } : {}) };
  },
  decide: (plan, w, o) => (w.holder ? { kind: 'busy', holder: w.holder } : maintainPlan(plan, w.st, o)),
  act: (ctx, d) => runDefrag(ctx, d, (st) => maintainPlan(ctx.plan, st, ctx.options), false, 'maintain'),
  dryRun: (_ctx, d) => defragDryRun(d, false),
});

/**
 * Why a member is defragmented whatever its free share: its file is near the quota. etcd reports the size in use as of
 * the member's last write commit, and a member under NOSPACE takes no writes, so after the compaction its free share
 * can read as it was before (seen in the lab: a follower still at 6 % free, its leader at 89 %). Pure.
 */
export function nearQuota(m: { dbSize: number | null }, quota: number): string | undefined {
  if (m.dbSize === null || m.dbSize < NEAR_QUOTA * quota) return undefined;
  return `its file is at ${pct(m.dbSize / quota)} of the quota (its free share shows only after its next write)`;
}

const NEAR_QUOTA = 0.8;

const verifyPhase: Phase<MaintainOptions> = phase<ClusterStatus, { name: string; dbSize: number }[], MaintainOptions>({
  name: 'verify',
  short: 'Check that every member\'s database is below the quota (else NOSPACE stays armed)',
  async observe(ctx) {
    return (await ctx.cluster()).status({ refresh: true });
  },
  decide: (plan: Plan, st) => overQuota(st, plan.etcd.quotaBackendBytes),
  async act(ctx, over) {
    const quota = ctx.plan.etcd.quotaBackendBytes;
    if (over.length)
      throw new EtcdadmError(`${over.map((o) => `${o.name} holds ${mib(o.dbSize)}`).join(', ')}: still at or above the ${mib(quota)} quota after compaction and defragmentation; the NOSPACE alarm stays armed`, {
        hint: 'delete data you do not need (etcdctl del), or raise etcd.quotaBackendBytes (8 GiB is the suggested maximum) and restart the members, then run etcdadm maintain again',
      });
    ctx.log.info(`Every database is below the ${mib(quota)} quota`);
  },
  dryRun: () => [],
});

const maintainDisarm: Phase<MaintainOptions> = phase<{ alarms: Alarm[]; st: ClusterStatus }, Alarm[], MaintainOptions>({
  name: 'disarm',
  short: 'Disarm NOSPACE: writes are accepted again',
  async observe(ctx) {
    const h = await ctx.cluster();
    return { alarms: await h.client.alarms(), st: await h.status() };
  },
  decide: (_plan, w) => w.alarms.filter((a) => a.alarm === 'NOSPACE'),
  async act(ctx, alarms) {
    if (!alarms.length) {
      ctx.log.info('No NOSPACE alarm: nothing to disarm');
      return;
    }
    await disarm(ctx, alarms, (await (await ctx.cluster()).status()));
  },
  dryRun: (_ctx, alarms) => alarms.map((a) => `disarm NOSPACE on member ${a.memberIdHex}`),
});

export const MAINTAIN_PHASES: readonly Phase<MaintainOptions>[] = [maintainPreflight, compactPhase, maintainDefrag, verifyPhase, maintainDisarm];
