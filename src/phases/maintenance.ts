/**
 * Keeping a cluster's databases healthy, through src/cluster/defrag.ts:
 *
 *   etcdadm defrag [--all]     defrag        this member, or every member one at a time, followers first, the leader
 *                                            last; only above --threshold; refused while a member is down
 *   etcdadm alarm disarm       disarm        the active alarms (all, or one member's)
 *   etcdadm maintain           preflight     what is wrong: alarms, each DB against the quota
 *                              compact       the history up to the current revision (minus --retain-revisions)
 *                              defrag        every member as `defrag --all`
 *                              verify        every DB below the quota, else stop: NOSPACE stays armed
 *                              disarm        NOSPACE disarmed
 * (etcd's NOSPACE procedure, docs/operations.md). Each phase reads the cluster itself; run again, nothing is left
 * to do and nothing changes.
 */
import { fragmentation, defragOne, planDefrag, waitCompactionApplied, type DefragPlan } from '../cluster/defrag.js';
import type { ClusterStatus } from '../cluster/status.js';
import type { Plan } from '../config/types.js';
import type { Alarm } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { refuse } from './preflight.js';
import { selfIn } from './shared.js';

export interface DefragOptions {
  /** Every member; else this host's member. */
  all: boolean;
  threshold: number;
  force: boolean;
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

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** This host's member (by the record's ID, else the plan's name), as a hex ID. */
function selfId(ctx: PhaseContext, st: ClusterStatus): string {
  const self = selfIn(st.members, ctx.record.facts?.memberId, ctx.plan.member.name);
  if (!self) refuse({ message: `this host's member ${ctx.plan.member.name} is not in the cluster`, hint: 'run it on a member host, or pass --all' });
  return self.id;
}

async function runDefrag(ctx: PhaseContext, d: DefragPlan): Promise<void> {
  if (d.kind === 'refuse') refuse(d);
  const h = await ctx.cluster();
  let freed = 0;
  let done = 0;
  for (const step of d.steps) {
    if (step.action === 'skip') {
      ctx.log.info(`Skipping ${step.name}: ${step.why}`);
      continue;
    }
    const r = await defragOne(h, step, ctx.log);
    freed += r.freed;
    done++;
  }
  ctx.log.info(done ? `Defragmented ${done} member(s): ${freed} bytes freed` : 'Nothing to defragment');
}

function defragDryRun(d: DefragPlan): string[] {
  if (d.kind === 'refuse') refuse(d);
  return d.steps.map((s) => (s.action === 'skip' ? `skip ${s.name}: ${s.why}` : `defragment ${s.name}${s.leader ? ' (the leader, last; leadership moved away first)' : ''}: ${s.why}`));
}

export const defragPhase: Phase<DefragOptions> = phase<{ st: ClusterStatus; self?: string }, DefragPlan, DefragOptions>({
  name: 'defrag',
  short: 'Defragment members one at a time, followers first, the leader last, each only above the threshold',
  async observe(ctx) {
    const st = await (await ctx.cluster()).status({ refresh: true });
    return { st, ...(ctx.options.all ? {} : { self: selfId(ctx, st) }) };
  },
  decide: (_plan, w, o) => planDefrag(w.st, { threshold: o.threshold, force: o.force, ...(w.self ? { only: w.self } : {}) }),
  act: runDefrag,
  dryRun: (_ctx, d) => defragDryRun(d),
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

const maintainDefrag: Phase<MaintainOptions> = phase<ClusterStatus, DefragPlan, MaintainOptions>({
  name: 'defrag',
  short: 'Defragment every member as `etcdadm defrag --all` does',
  async observe(ctx) {
    return (await ctx.cluster()).status({ refresh: true });
  },
  decide: (plan, st, o) => planDefrag(st, { threshold: o.threshold, force: o.force, regardless: (m) => nearQuota(m, plan.etcd.quotaBackendBytes) }),
  act: runDefrag,
  dryRun: (_ctx, d) => defragDryRun(d),
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
