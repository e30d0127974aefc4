/**
 * Reading etcd's Prometheus metrics (the text exposition format its /metrics serves) for `etcdadm check`. Pure: a
 * parser for the samples of the metric families asked for, and the quantile of a histogram computed the way
 * Prometheus's histogram_quantile does (linear within the bucket; a quantile in the +Inf bucket is the highest finite
 * bound). The histograms count since the member started: a quantile here covers its whole run, not the last minutes.
 */

export interface Sample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** The samples of `names` (exact sample names, such as `etcd_disk_wal_fsync_duration_seconds_bucket`). */
export function parseMetrics(text: string, names: readonly string[]): Map<string, Sample[]> {
  const wanted = new Set(names);
  const out = new Map<string, Sample[]>(names.map((n) => [n, []]));
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (!wanted.has(name)) continue;
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const close = rest.lastIndexOf('}');
      if (close < 0) continue;
      labels = parseLabels(rest.slice(1, close));
      rest = rest.slice(close + 1);
    }
    const value = parseValue(rest.trim().split(/\s+/)[0] ?? '');
    if (value === undefined) continue;
    out.get(name)!.push({ labels, value });
  }
  return out;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re)) labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return labels;
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  const n = Number(text);
  return text !== '' && !Number.isNaN(n) ? n : undefined;
}

export interface Bucket {
  /** Upper bound (Infinity for +Inf). */
  le: number;
  /** Cumulative count of observations ≤ le. */
  count: number;
}

/** The buckets of one histogram from its `_bucket` samples (those matching `where`), summed over other labels. */
export function bucketsOf(samples: readonly Sample[], where: (labels: Readonly<Record<string, string>>) => boolean = () => true): Bucket[] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (!where(s.labels)) continue;
    const le = parseValue(s.labels.le ?? '');
    if (le === undefined) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile (0..1) of a cumulative histogram, as Prometheus's histogram_quantile: undefined without
 * observations; linear interpolation within the bucket that holds it (from 0 for the first bucket); in the +Inf
 * bucket, the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  if (buckets.length === 0) return undefined;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted[sorted.length - 1]!.count;
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      if (b.count === prevCount) return b.le;
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevLe = b.le === Infinity ? prevLe : b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** The number of observations of a histogram (its +Inf bucket). */
export function observations(buckets: readonly Bucket[]): number {
  return buckets.length ? buckets[buckets.length - 1]!.count : 0;
}

/** The sum of a counter or gauge's samples (matching `where`); undefined when there is none. */
export function sumOf(samples: readonly Sample[] | undefined, where: (labels: Readonly<Record<string, string>>) => boolean = () => true): number | undefined {
  const xs = (samples ?? []).filter((s) => where(s.labels));
  return xs.length ? xs.reduce((a, s) => a + s.value, 0) : undefined;
}

/** What `etcdadm check` reads from one member's /metrics. */
export interface MemberMetrics {
  walFsyncP99Ms?: number;
  walFsyncs: number;
  backendCommitP99Ms?: number;
  backendCommits: number;
  /** The highest p99 of the round trips to any peer. */
  peerRttP99Ms?: number;
  leaderChanges?: number;
  /** Seconds since the process started. */
  uptimeSeconds?: number;
}

export const METRIC_NAMES = [
  'etcd_disk_wal_fsync_duration_seconds_bucket',
  'etcd_disk_backend_commit_duration_seconds_bucket',
  'etcd_network_peer_round_trip_time_seconds_bucket',
  'etcd_server_leader_changes_seen_total',
  'process_start_time_seconds',
] as const;

/** The figures `check` judges, from one member's metrics text; `nowSeconds` for the uptime. */
export function memberMetrics(text: string, nowSeconds: number): MemberMetrics {
  const m = parseMetrics(text, METRIC_NAMES);
  const ms = (x: number | undefined) => (x === undefined ? undefined : x * 1000);
  const wal = bucketsOf(m.get('etcd_disk_wal_fsync_duration_seconds_bucket')!);
  const commit = bucketsOf(m.get('etcd_disk_backend_commit_duration_seconds_bucket')!);
  const rttSamples = m.get('etcd_network_peer_round_trip_time_seconds_bucket')!;
  const peers = [...new Set(rttSamples.map((s) => s.labels.To ?? ''))];
  const rtts = peers.map((p) => histogramQuantile(0.99, bucketsOf(rttSamples, (l) => (l.To ?? '') === p))).filter((x): x is number => x !== undefined);
  const started = sumOf(m.get('process_start_time_seconds'));
  const walFsyncP99Ms = ms(histogramQuantile(0.99, wal));
  const backendCommitP99Ms = ms(histogramQuantile(0.99, commit));
  const leaderChanges = sumOf(m.get('etcd_server_leader_changes_seen_total'));
  return {
    walFsyncs: observations(wal),
    backendCommits: observations(commit),
    ...(walFsyncP99Ms !== undefined ? { walFsyncP99Ms } : {}),
    ...(backendCommitP99Ms !== undefined ? { backendCommitP99Ms } : {}),
    ...(rtts.length ? { peerRttP99Ms: Math.max(...rtts) * 1000 } : {}),
    ...(leaderChanges !== undefined ? { leaderChanges } : {}),
    ...(started !== undefined ? { uptimeSeconds: Math.max(0, nowSeconds - started) } : {}),
  };
}
