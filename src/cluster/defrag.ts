/**
 * Defragmentation and NOSPACE recovery, by etcd's maintenance guide: defragmenting blocks the member's reads and
 * writes and acts on one member only, so members go one at a time — followers first, the leader last, leadership
 * moved away before it — and each only when enough of its file is free (fragmentation: file size − size in use, as a
 * share of the file size). A member down refuses the rolling run (the member being defragmented is briefly out too:
 * two out of three would cost quorum) unless forced. `planDefrag` decides, pure; `defragOne` acts on one member.
 */
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/retry.js';
import type { ClusterHandle } from './handle.js';
import { moveLeadership } from './membership.js';
import { fragmentation, pct } from './db-size.js';
import type { ClusterStatus } from './status.js';

export { fragmentation } from './db-size.js';


export { parseThreshold } from '../util/share.js';

export interface DefragStep {
  name: string;
  /** Hex ID. */
  id: string;
  /** The client URL that answered status. */
  endpoint: string;
  leader: boolean;
  action: 'defrag' | 'skip';
  fragmentation: number;
  dbSize: number;
  dbSizeInUse: number;
  /** Why skipped, or what is to be freed. */
  why: string;
}

export type DefragPlan = { kind: 'refuse'; message: string; hint: string } | { kind: 'run'; steps: DefragStep[] };


/**
 * The members to defragment (`only`: one member by hex ID, else all), in order: followers and learners first, the
 * leader last; each skipped when its fragmentation is not above `threshold` — unless `regardless` gives a reason to
 * defragment it anyway. Refused while a member is down or not started, unless `force` (then the down ones are left
 * out). Pure.
 */
export function planDefrag(
  st: Pick<ClusterStatus, 'members'>,
  opts: { threshold: number; force: boolean; only?: string; regardless?: (m: ClusterStatus['members'][number]) => string | undefined },
): DefragPlan {
  const down = st.members.filter((m) => m.role === 'unstarted' || m.health !== 'healthy');
  const chosen = opts.only ? st.members.filter((m) => m.id === opts.only) : st.members;
  if (opts.only && chosen.length === 0) return { kind: 'refuse', message: `member ${opts.only} is not in the cluster`, hint: 'run etcdadm status to see the members' };
  if (down.length && !opts.force) {
    return {
      kind: 'refuse',
      message: `refusing to defragment while ${down.map((m) => `${m.name || m.id} is ${m.role === 'unstarted' ? 'not started' : m.health}`).join(', ')}: the member being defragmented is out briefly too, and that could cost quorum`,
      hint: 'bring the member back (etcdadm status), or pass --force to defragment the healthy members anyway',
    };
  }
  const up = chosen.filter((m) => !down.includes(m) && m.endpoint !== null);
  const ordered = [...up.filter((m) => m.role !== 'leader'), ...up.filter((m) => m.role === 'leader')];
  return {
    kind: 'run',
    steps: ordered.map((m) => {
      const f = fragmentation(m.dbSize, m.dbSizeInUse);
      const size = m.dbSize ?? 0;
      const inUse = m.dbSizeInUse ?? 0;
      const base = { name: m.name, id: m.id, endpoint: m.endpoint!, leader: m.role === 'leader', fragmentation: f, dbSize: size, dbSizeInUse: inUse };
      const regardless = opts.regardless?.(m);
      if (regardless) return { ...base, action: 'defrag' as const, why: regardless };
      return f > opts.threshold
        ? { ...base, action: 'defrag' as const, why: `${pct(f)} of ${size} bytes free (threshold ${pct(opts.threshold)})` }
        : { ...base, action: 'skip' as const, why: `${pct(f)} free, not above the threshold ${pct(opts.threshold)}` };
    }),
  };
}

export interface DefragResult {
  name: string;
  before: number;
  after: number;
  freed: number;
}

/** How long one member's Defragment may take: etcd rewrites the whole file (about 100 MB/s on a slow disk). */
function defragTimeoutMs(dbSize: number): number {
  return Math.max(60_000, Math.ceil(dbSize / (50 * 1024 * 1024)) * 1000 + 60_000);
}

/**
 * Defragment one member: leadership moved away first when it leads, then Defragment, then wait until it serves
 * again (its own Status answers, and a quorum read through it). Returns the file sizes before and after.
 */
export async function defragOne(h: ClusterHandle, step: DefragStep, log: Logger): Promise<DefragResult> {
  if (step.leader) {
    const st = await h.status({ refresh: true });
    const list = await h.members();
    const self = list.members.find((m) => m.idHex === step.id);
    const leads = st.members.find((m) => m.id === step.id)?.role === 'leader';
    if (self && leads && st.voters > 1) await moveLeadership(h, st, list.members, self, log);
  }
  log.info(`Defragmenting ${step.name} (${step.why})`);
  const t0 = Date.now();
  await h.client.defragment(step.endpoint, defragTimeoutMs(step.dbSize));
  const deadline = Date.now() + 60_000;
  let why = '';
  while (Date.now() < deadline) {
    const s = await h.client.status(step.endpoint).catch((e: unknown) => e as Error);
    if (!(s instanceof Error)) {
      const health = await h.client.healthCheck(step.endpoint);
      if (health.healthy) {
        const freed = step.dbSize - s.dbSize;
        log.info(`${step.name}: ${step.dbSize} → ${s.dbSize} bytes (${freed} freed) in ${Date.now() - t0} ms; serving again`);
        return { name: step.name, before: step.dbSize, after: s.dbSize, freed };
      }
      why = health.error ?? 'not healthy';
    } else why = s.message;
    await sleep(200);
  }
  throw new EtcdadmError(`${step.name} did not serve again within 60 s after its defragmentation: ${why}`, { hint: 'check it with etcdadm status; the next members were not defragmented' });
}

/**
 * After a compaction to `revision`: wait until every member in `endpoints` has applied it (a read below it is
 * refused there) and has finished freeing its pages (its size in use stops shrinking: etcd deletes the old revisions
 * in batches in the background). Only then does a member's free share say what defragmenting it would free.
 */
export async function waitCompactionApplied(h: ClusterHandle, endpoints: readonly string[], revision: bigint, log: Logger, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = revision > 1n ? revision - 1n : revision;
  const pending = new Set(endpoints);
  while (pending.size && Date.now() < deadline) {
    for (const e of [...pending]) if (await h.client.compactedPast(e, probe).catch(() => false)) pending.delete(e);
    if (pending.size) await sleep(100);
  }
  let last = new Map<string, number>();
  while (Date.now() < deadline) {
    const sizes = new Map<string, number>();
    for (const e of endpoints) {
      const s = await h.client.status(e).catch(() => undefined);
      if (s) sizes.set(e, s.dbSizeInUse);
    }
    if (sizes.size === endpoints.length && [...sizes].every(([e, n]) => last.get(e) === n)) return;
    last = sizes;
    await sleep(300);
  }
  log.warn(`the compaction was still being applied after ${timeoutMs / 1000} s; going on`);
}