/**
 * `etcdadm check`, the doctor: named checks, each with a verdict (ok, warn, fail), the value it measured and, when
 * not ok, the fix. `judge` is pure (every rule below is unit-tested); `gather` reads the cluster once (status, HashKV,
 * each member's /metrics over its client port, serving certificates) and changes nothing.
 *
 * The rules, from etcd's maintenance guide, FAQ and its Prometheus mixin:
 * - members: every member started and answering (fail otherwise);
 * - version: one etcd version (warn while mixed: an upgrade or downgrade under way);
 * - hash: HashKV of every voting member equal at one revision every member has (the lowest current revision), with
 *   the same compaction; a member whose hash differs from the others' is a fail naming it (its data diverged);
 * - db-size: each file against the quota, warn above 80 %, fail above 95 % (the mixin's critical);
 * - fragmentation: the mixin's "in use below 50 % of the file and over 100 MB in use" is a warn;
 * - alarms: any active alarm is a fail;
 * - wal-fsync / backend-commit: p99 above 10 ms / 25 ms is a warn (etcd's FAQ), from the member's histograms since
 *   it started (a doctor's single look; Prometheus with `monitoring rules` watches the recent rate), judged once
 *   there are 100 observations (a p99 of fewer is their slowest, and a member's first commits are);
 * - peer-rtt: the p99 round trip to any peer above the heartbeat interval is a warn (etcd's tuning guide sets the
 *   heartbeat near the round trip);
 * - leader-changes: more than 4 leader changes within 15 minutes (the mixin's rule), judged from the counter and the
 *   member's uptime: more than 4 since a start under 15 minutes ago, or more than 4 per 15 minutes on average;
 * - certificates: this host's certificate files and every member's serving certificates, warn within
 *   pki.renewBeforeDays, fail once expired;
 * - learners: a learner not promoted is a warn (a join that did not finish);
 * - backup: with a schedule on this host, the last backup's age (as `backup status` judges it).
 * Exit code as `status`: 4 when the cluster has no quorum or no member answers, 3 when any check is not ok, else 0.
 */
import { EXIT_DEGRADED, EXIT_HEALTHY, EXIT_UNAVAILABLE, type ClusterStatus, type MemberStatus } from './status.js';
import { fragmentation, mib, pct } from './db-size.js';
import { memberMetrics, type MemberMetrics } from './metrics.js';
import { httpMetrics } from '../etcd/client.js';
import { sleep } from '../util/retry.js';
import type { ClusterHandle } from './handle.js';
import { withServingCerts } from './serving.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  verdict: Verdict;
  /** What was measured, for people: `eahost2 14.4 MiB of 16.0 MiB (90.0%)`. */
  value: string;
  /** The measured figures by member name (null: not measured), where the check measures per member. */
  measured?: Record<string, number | string | null>;
  /** What to do, for every check that is not ok. */
  fix?: string;
}

export interface CheckReport {
  verdict: Verdict;
  exitCode: number;
  checks: CheckResult[];
}

export interface MemberHash {
  name: string;
  hash?: number;
  compactRevision?: string;
  error?: string;
}

export interface CertExpiryInput {
  /** `server.crt on this host`, `eahost2 (served)`. */
  what: string;
  notAfter: Date;
}

export interface CheckInput {
  status: ClusterStatus;
  quotaBytes: number;
  /** HashKV at `hashRevision` of every voting member that answered. */
  hashes: MemberHash[];
  hashRevision?: string;
  metrics: { name: string; metrics?: MemberMetrics; error?: string }[];
  certificates: CertExpiryInput[];
  renewBeforeDays: number;
  heartbeatMs: number;
  /** With a backup schedule on this host: its health as `backup status` judges it, and the last success. */
  backup?: { state: string; problem?: string; lastSuccess?: string; every: string };
  now: Date;
}

export const THRESHOLDS = {
  dbWarn: 0.8,
  dbFail: 0.95,
  fragmentedInUse: 0.5,
  fragmentedMinBytes: 100 * 1024 * 1024,
  walFsyncMs: 10,
  backendCommitMs: 25,
  leaderChanges: 4,
  leaderWindowSeconds: 15 * 60,
  /** Fewer observations than this are too few for a p99 (a member's first commits, at bootstrap, are its slowest). */
  minObservations: 100,
} as const;

const label = (m: Pick<MemberStatus, 'name' | 'id'>) => m.name || m.id;
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
const worst = (vs: Verdict[]): Verdict => (vs.includes('fail') ? 'fail' : vs.includes('warn') ? 'warn' : 'ok');

function members(st: ClusterStatus): CheckResult {
  const bad = st.members.filter((m) => m.health !== 'healthy' || m.role === 'unstarted');
  const value = `${st.members.length - bad.length}/${st.members.length} healthy, quorum ${st.quorum}${st.hasQuorum ? `, can lose ${st.canLose}` : ', quorum lost'}`;
  if (bad.length === 0) return { name: 'members', verdict: 'ok', value };
  const names = bad.map((m) => `${label(m)} ${m.role === 'unstarted' ? 'not started' : m.health}`).join(', ');
  return {
    name: 'members',
    verdict: 'fail',
    value: `${value}; ${names}`,
    measured: Object.fromEntries(st.members.map((m) => [label(m), m.health])),
    fix: `start etcd on ${bad.map(label).join(', ')} (systemctl start etcd there) and look at its log (journalctl -u etcd); if a host is lost for good, replace it: etcdadm join --replace ${label(bad[0]!)} on a new host`,
  };
}

function version(st: ClusterStatus): CheckResult {
  const versions = [...new Set(st.members.map((m) => m.version).filter((v): v is string => !!v))].sort();
  if (versions.length <= 1) return { name: 'version', verdict: 'ok', value: versions[0] ? `etcd ${versions[0]} on every member that answered` : 'no member answered' };
  return {
    name: 'version',
    verdict: 'warn',
    value: `mixed: ${st.members.map((m) => `${label(m)} ${m.version ?? '?'}`).join(', ')}`,
    measured: Object.fromEntries(st.members.map((m) => [label(m), m.version])),
    fix: "an upgrade or downgrade is under way: finish it ('etcdadm upgrade plan' shows the next step), one member at a time",
  };
}

function hash(input: CheckInput): CheckResult {
  const ok = input.hashes.filter((h) => h.hash !== undefined);
  const failed = input.hashes.filter((h) => h.hash === undefined);
  const measured = Object.fromEntries(input.hashes.map((h) => [h.name, h.hash ?? null]));
  if (ok.length < 2 && failed.length === 0) return { name: 'hash', verdict: 'ok', value: ok.length ? 'one voting member: nothing to compare' : 'no voting member answered', measured };
  const compactions = new Set(ok.map((h) => h.compactRevision));
  if (compactions.size > 1)
    return { name: 'hash', verdict: 'warn', value: `the members' compactions differ (${ok.map((h) => `${h.name} ${h.compactRevision}`).join(', ')}): not compared`, measured, fix: 'a compaction was being applied: run etcdadm check again' };
  const groups = new Map<number, string[]>();
  for (const h of ok) groups.set(h.hash!, [...(groups.get(h.hash!) ?? []), h.name]);
  const sorted = [...groups.entries()].sort((a, b) => b[1].length - a[1].length);
  const at = `at revision ${input.hashRevision ?? '?'}`;
  if (sorted.length > 1) {
    const majority = sorted[0]![1].length > sorted[1]![1].length ? sorted[0]! : undefined;
    const odd = (majority ? sorted.slice(1) : sorted).flatMap(([, names]) => names);
    return {
      name: 'hash',
      verdict: 'fail',
      value: majority
        ? `${odd.join(', ')} ${odd.length === 1 ? 'differs' : 'differ'} from ${majority[1].join(', ')} ${at} (${sorted.map(([hv, n]) => `${n.join(',')}: ${hv}`).join('; ')})`
        : `no two members agree ${at} (${sorted.map(([hv, n]) => `${n.join(',')}: ${hv}`).join('; ')})`,
      measured,
      fix: majority
        ? `the data of ${odd.join(', ')} diverged from the others': replace ${odd.length === 1 ? 'that member' : 'those members'} one at a time (etcdadm reset there, then etcdadm join; or etcdadm join --replace from a new host) so it copies the others' data`
        : 'the members disagree with no majority: stop writes, take a snapshot of each member (etcdadm snapshot save --endpoints) and restore the cluster from the right one (etcdadm restore)',
    };
  }
  if (failed.length)
    return { name: 'hash', verdict: 'warn', value: `equal ${at} on ${ok.map((h) => h.name).join(', ')}; not hashed: ${failed.map((h) => `${h.name} (${h.error ?? 'no answer'})`).join(', ')}`, measured, fix: 'run etcdadm check again once every member answers' };
  return { name: 'hash', verdict: 'ok', value: `equal ${at} on ${ok.length} voting members`, measured };
}

function dbSize(input: CheckInput): CheckResult {
  const q = input.quotaBytes;
  const rows = input.status.members.filter((m) => m.dbSize !== null);
  const measured = Object.fromEntries(input.status.members.map((m) => [label(m), m.dbSize]));
  if (rows.length === 0) return { name: 'db-size', verdict: 'ok', value: 'no member answered', measured };
  const top = rows.reduce((a, b) => (b.dbSize! > a.dbSize! ? b : a));
  const share = top.dbSize! / q;
  const value = `${label(top)} ${mib(top.dbSize!)} of the ${mib(q)} quota (${pct(share)})`;
  const verdict: Verdict = share > THRESHOLDS.dbFail ? 'fail' : share > THRESHOLDS.dbWarn ? 'warn' : 'ok';
  if (verdict === 'ok') return { name: 'db-size', verdict, value, measured };
  return {
    name: 'db-size',
    verdict,
    value,
    measured,
    fix: `free space before writes are refused: etcdadm maintain (compact and defragment every member), delete data you do not need, or raise etcd.quotaBackendBytes (8 GiB is etcd's suggested maximum)`,
  };
}

function fragmented(input: CheckInput): CheckResult {
  const rows = input.status.members.filter((m) => m.dbSize !== null && m.dbSizeInUse !== null);
  const measured = Object.fromEntries(input.status.members.map((m) => [label(m), m.dbSize === null ? null : Number(fragmentation(m.dbSize, m.dbSizeInUse).toFixed(3))]));
  if (rows.length === 0) return { name: 'fragmentation', verdict: 'ok', value: 'no member answered', measured };
  const bad = rows.filter((m) => m.dbSizeInUse! / m.dbSize! < THRESHOLDS.fragmentedInUse && m.dbSizeInUse! > THRESHOLDS.fragmentedMinBytes);
  const top = rows.reduce((a, b) => (fragmentation(b.dbSize, b.dbSizeInUse) > fragmentation(a.dbSize, a.dbSizeInUse) ? b : a));
  const value = `most free: ${label(top)} ${pct(fragmentation(top.dbSize, top.dbSizeInUse))} of ${mib(top.dbSize!)}`;
  if (bad.length === 0) return { name: 'fragmentation', verdict: 'ok', value, measured };
  return {
    name: 'fragmentation',
    verdict: 'warn',
    value: `${bad.map((m) => `${label(m)} ${mib(m.dbSizeInUse!)} in use of ${mib(m.dbSize!)}`).join(', ')} (below half in use)`,
    measured,
    fix: 'etcdadm defrag --all (one member at a time, the leader last)',
  };
}

function alarms(st: ClusterStatus): CheckResult {
  const raised = st.members.flatMap((m) => m.alarms.map((a) => `${a} on ${label(m)}`));
  if (raised.length === 0) return { name: 'alarms', verdict: 'ok', value: 'none' };
  const nospace = raised.some((a) => a.startsWith('NOSPACE'));
  return {
    name: 'alarms',
    verdict: 'fail',
    value: raised.join(', '),
    fix: nospace
      ? 'writes are refused: etcdadm maintain (compact, defragment, check the quota, disarm)'
      : "a member's data is corrupt: find it with the hash check, replace it (etcdadm join --replace from a new host), then etcdadm alarm disarm",
  };
}

function latency(input: CheckInput, name: 'wal-fsync' | 'backend-commit'): CheckResult {
  const limit = name === 'wal-fsync' ? THRESHOLDS.walFsyncMs : THRESHOLDS.backendCommitMs;
  const pick = (m: MemberMetrics) => (name === 'wal-fsync' ? { p99: m.walFsyncP99Ms, n: m.walFsyncs } : { p99: m.backendCommitP99Ms, n: m.backendCommits });
  const measured: Record<string, number | null> = {};
  const slow: string[] = [];
  const parts: string[] = [];
  for (const r of input.metrics) {
    const v = r.metrics ? pick(r.metrics) : undefined;
    measured[r.name] = v?.p99 === undefined ? null : Number(v.p99.toFixed(2));
    if (v?.p99 === undefined) {
      parts.push(`${r.name} ${r.error ? 'no metrics' : 'none yet'}`);
      continue;
    }
    if (v.n < THRESHOLDS.minObservations) {
      parts.push(`${r.name} ${ms(v.p99)} (${v.n} only, too few to judge)`);
      continue;
    }
    parts.push(`${r.name} ${ms(v.p99)}`);
    if (v.p99 > limit) slow.push(`${r.name} ${ms(v.p99)} over ${v.n} ${name === 'wal-fsync' ? 'fsyncs' : 'commits'}`);
  }
  const what = name === 'wal-fsync' ? 'WAL fsync' : 'backend commit';
  if (slow.length === 0) return { name, verdict: 'ok', value: `p99 ${parts.join(', ')} (limit ${limit} ms)`, measured };
  return {
    name,
    verdict: 'warn',
    value: `${what} p99 above ${limit} ms: ${slow.join(', ')}`,
    measured,
    fix:
      name === 'wal-fsync'
        ? "the disk is too slow for etcd's WAL: a dedicated SSD (member.walDir on its own device), no other IO-heavy work on the host (etcd's hardware guide)"
        : "the disk is too slow for etcd's database: a dedicated SSD for the data dir, no other IO-heavy work on the host, and a defragmented, smaller database",
  };
}

function peerRtt(input: CheckInput): CheckResult {
  const measured: Record<string, number | null> = {};
  const slow: string[] = [];
  const parts: string[] = [];
  for (const r of input.metrics) {
    const v = r.metrics?.peerRttP99Ms;
    measured[r.name] = v === undefined ? null : Number(v.toFixed(2));
    if (v === undefined) continue;
    parts.push(`${r.name} ${ms(v)}`);
    if (v > input.heartbeatMs) slow.push(`${r.name} ${ms(v)}`);
  }
  if (parts.length === 0) return { name: 'peer-rtt', verdict: 'ok', value: 'no peer round trip measured yet', measured };
  if (slow.length === 0) return { name: 'peer-rtt', verdict: 'ok', value: `p99 ${parts.join(', ')} (heartbeat ${input.heartbeatMs} ms)`, measured };
  return {
    name: 'peer-rtt',
    verdict: 'warn',
    value: `peer round trip p99 above the ${input.heartbeatMs} ms heartbeat: ${slow.join(', ')}`,
    measured,
    fix: 'members this far apart miss heartbeats: raise etcd.heartbeatInterval near the round trip and etcd.electionTimeout to 10× it (etcd tuning guide), or move the members closer',
  };
}

function leaderChanges(input: CheckInput): CheckResult {
  const measured: Record<string, number | null> = {};
  const many: string[] = [];
  const parts: string[] = [];
  const { leaderChanges: max, leaderWindowSeconds: window } = THRESHOLDS;
  for (const r of input.metrics) {
    const n = r.metrics?.leaderChanges;
    const up = r.metrics?.uptimeSeconds;
    measured[r.name] = n ?? null;
    if (n === undefined || up === undefined) continue;
    parts.push(`${r.name} ${n} in ${up < 7200 ? `${Math.round(up / 60)}m` : `${Math.round(up / 3600)}h`}`);
    const tooMany = up <= window ? n > max : (n / up) * window > max;
    if (tooMany) many.push(`${r.name} ${n} since it started ${Math.round(up / 60)} minutes ago`);
  }
  if (parts.length === 0) return { name: 'leader-changes', verdict: 'ok', value: 'not measured', measured };
  if (many.length === 0) return { name: 'leader-changes', verdict: 'ok', value: `seen since start: ${parts.join(', ')}`, measured };
  return {
    name: 'leader-changes',
    verdict: 'warn',
    value: `more than ${max} leader changes per 15 minutes: ${many.join(', ')}`,
    measured,
    fix: 'frequent elections mean members miss heartbeats: check the wal-fsync and peer-rtt checks, CPU and network load, and the heartbeat/election settings',
  };
}

function certificates(input: CheckInput): CheckResult {
  const days = (c: CertExpiryInput) => (c.notAfter.getTime() - input.now.getTime()) / 86_400_000;
  if (input.certificates.length === 0) return { name: 'certificates', verdict: 'ok', value: 'no certificate found to check' };
  const soonest = [...input.certificates].sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
  const expired = soonest.filter((c) => days(c) <= 0);
  const due = soonest.filter((c) => days(c) > 0 && days(c) <= input.renewBeforeDays);
  const first = soonest[0]!;
  const left = (c: CertExpiryInput) => `${c.what} in ${Math.max(0, Math.floor(days(c)))} days (${c.notAfter.toISOString().slice(0, 10)})`;
  if (expired.length === 0 && due.length === 0) return { name: 'certificates', verdict: 'ok', value: `first to expire: ${left(first)}; renewal window ${input.renewBeforeDays} days` };
  return {
    name: 'certificates',
    verdict: expired.length ? 'fail' : 'warn',
    value: expired.length ? `expired: ${expired.map((c) => c.what).join(', ')}` : `within the ${input.renewBeforeDays}-day renewal window: ${due.map(left).join(', ')}`,
    fix: 'etcdadm certs renew all on the host of each (no restart; or arm it once: etcdadm certs renew --schedule)',
  };
}

function learners(st: ClusterStatus): CheckResult {
  const l = st.members.filter((m) => m.isLearner);
  if (l.length === 0) return { name: 'learners', verdict: 'ok', value: 'none' };
  return {
    name: 'learners',
    verdict: 'warn',
    value: `not promoted: ${l.map(label).join(', ')}`,
    fix: `a join did not finish: run the same etcdadm join again on its host (it promotes the learner once caught up), or etcdadm member promote ${label(l[0]!)}`,
  };
}

function backup(input: CheckInput): CheckResult {
  const b = input.backup;
  if (!b) return { name: 'backup', verdict: 'ok', value: 'no backup schedule on this host' };
  const age = b.lastSuccess ? `last success ${b.lastSuccess}` : 'no success yet';
  if (b.state === 'ok' || b.state === 'pending') return { name: 'backup', verdict: 'ok', value: `every ${b.every}, ${age}` };
  return { name: 'backup', verdict: b.state === 'failed' ? 'fail' : 'warn', value: b.problem ?? b.state, fix: 'etcdadm backup status shows why; etcdadm backup run takes one now' };
}

/** The checks, in a fixed order, and the exit code. Pure. */
export function judge(input: CheckInput): CheckReport {
  const st = input.status;
  const checks = [
    members(st),
    version(st),
    hash(input),
    dbSize(input),
    fragmented(input),
    alarms(st),
    latency(input, 'wal-fsync'),
    latency(input, 'backend-commit'),
    peerRtt(input),
    leaderChanges(input),
    certificates(input),
    learners(st),
    backup(input),
  ];
  const verdict = worst(checks.map((c) => c.verdict));
  const noAnswer = st.members.every((m) => m.endpoint === null);
  const exitCode = !st.hasQuorum || noAnswer ? EXIT_UNAVAILABLE : verdict === 'ok' ? EXIT_HEALTHY : EXIT_DEGRADED;
  return { verdict, exitCode, checks };
}

// ------------------------------------------------------------------ measuring (reads only)

/** HashKV of each voting member that answers, at the lowest current revision among them; retried once when a compaction was being applied. */
async function hashes(h: ClusterHandle, st: ClusterStatus): Promise<{ hashes: MemberHash[]; revision?: string }> {
  const voters = st.members.filter((m) => !m.isLearner && m.endpoint !== null);
  if (voters.length === 0) return { hashes: [] };
  for (let attempt = 0; ; attempt++) {
    const revs = await Promise.all(voters.map((m) => h.client.revision(m.endpoint!).catch(() => undefined)));
    const known = revs.filter((r): r is bigint => r !== undefined);
    if (known.length === 0) return { hashes: voters.map((m) => ({ name: label(m), error: 'no answer' })) };
    const rev = known.reduce((a, b) => (b < a ? b : a));
    const out = await Promise.all(
      voters.map(async (m): Promise<MemberHash> => {
        try {
          const r = await h.client.hashKV(m.endpoint!, rev);
          return { name: label(m), hash: r.hash, compactRevision: r.compactRevision.toString() };
        } catch (err) {
          return { name: label(m), error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
        }
      }),
    );
    const compactions = new Set(out.filter((x) => x.hash !== undefined).map((x) => x.compactRevision));
    if (compactions.size <= 1 || attempt >= 1) return { hashes: out, revision: rev.toString() };
    await sleep(500);
  }
}

/** Each answering member's /metrics (over its client port, with the client certificate). */
async function metrics(h: ClusterHandle, st: ClusterStatus, now: Date): Promise<CheckInput['metrics']> {
  return Promise.all(
    st.members.map(async (m) => {
      if (m.endpoint === null) return { name: label(m), error: 'no answer' };
      try {
        return { name: label(m), metrics: memberMetrics(await httpMetrics(m.endpoint, h.tls, { timeoutMs: 3000 }), now.getTime() / 1000) };
      } catch (err) {
        return { name: label(m), error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/** What `check` measures on the cluster: status with serving certificates, hashes, metrics. Changes nothing. */
export async function measureCluster(h: ClusterHandle, now: Date): Promise<Pick<CheckInput, 'status' | 'hashes' | 'hashRevision' | 'metrics' | 'certificates'>> {
  const list = await h.members({ refresh: true });
  const status = await withServingCerts(list.members, h.status({ refresh: true }), h.tls);
  const [hv, mv] = await Promise.all([hashes(h, status), metrics(h, status, now)]);
  const certificates = status.members.flatMap((m) => (m.servingCert ? [{ what: `${label(m)}'s serving certificate`, notAfter: new Date(m.servingCert.expires) }] : []));
  return { status, hashes: hv.hashes, ...(hv.revision ? { hashRevision: hv.revision } : {}), metrics: mv, certificates };
}
