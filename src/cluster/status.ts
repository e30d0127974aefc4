/**
 * The health of a whole cluster, as one object: every member of the member list (also those that do not answer),
 * what each reports about itself, and what that means for quorum. Backs `etcdadm status`.
 *
 * Every member is probed in parallel, each probe bounded (default 2 s): Status on its client URLs in order (the
 * first that answers), then a quorum read on that URL (etcdctl's `endpoint health`), or GET /health for a learner
 * (a learner refuses quorum reads). Active alarms come from the Alarm RPC, else from the members' Status errors.
 *
 * Cluster version: the LOWEST server version the answering members report (e.g. "3.5.30"), i.e. the highest
 * version every answering member runs. etcd's own "cluster version" (major.minor only, "3.5.0", from GET /version)
 * is not exposed by our gRPC client, and the full server version is what an operator compares during upgrades;
 * `mixedVersions` says whether members differ.
 *
 * Exit codes of `etcdadm status` (and of anything else that reports cluster health):
 *   0  EXIT_HEALTHY      every member is healthy, no alarm
 *   1  EXIT_ERROR        the check could not run (bad flags are 2, as everywhere: invalid input)
 *   3  EXIT_DEGRADED     quorum holds, but a member is unhealthy, unreachable or unstarted, or an alarm is raised
 *   4  EXIT_UNAVAILABLE  no quorum, or no member answers at all
 */
import { fragmentation } from './db-size.js';
import {
  httpHealth,
  isTlsError,
  isUnavailable,
  isUnreachable,
  type EtcdClient,
  type EtcdStatus,
  type EtcdTls,
  type Member,
  type MemberListResult,
} from '../etcd/client.js';
import { compareVersions, parseVersion } from '../config/version.js';
import { EtcdadmError } from '../errors.js';
import { memberLabel, plural, quorumInfo, type QuorumInfo } from './quorum.js';

export const EXIT_HEALTHY = 0;
export const EXIT_ERROR = 1;
export const EXIT_DEGRADED = 3;
export const EXIT_UNAVAILABLE = 4;

export type MemberRole = 'leader' | 'follower' | 'learner' | 'unstarted';
export type MemberHealth = 'healthy' | 'unhealthy' | 'unreachable';
export type ClusterHealth = 'healthy' | 'degraded' | 'unavailable';

export interface MemberStatus {
  name: string;
  /** Hex, as etcdctl prints it. */
  id: string;
  peerURLs: string[];
  clientURLs: string[];
  role: MemberRole;
  isLearner: boolean;
  health: MemberHealth;
  /** The client URL that answered; null when none did. */
  endpoint: string | null;
  /** Server version; null when the member did not answer. */
  version: string | null;
  dbSize: number | null;
  dbSizeInUse: number | null;
  /** The share of the file that is free (file size − size in use) / file size, 0..1; null when the member did not answer. */
  fragmentation?: number | null;
  raftTerm: number | null;
  raftIndex: number | null;
  raftAppliedIndex: number | null;
  /** Active alarms on this member: NOSPACE, CORRUPT. */
  alarms: string[];
  /** etcd 3.6+: the version of its db file ("3.6.0"), which follows the cluster version. */
  storageVersion?: string;
  /** Why the member is not healthy (one line), or errors it reports itself; null when none. */
  error: string | null;
  /**
   * The earliest expiry of the certificates its client and peer ports present to a new TLS connection, and the
   * CA (common name) that issued that one; null when no handshake succeeded. Set by `etcdadm status` only.
   */
  servingCert?: { expires: string; issuer: string } | null;
  /** The CAs (of those whose key this host holds) whose client certificates the member accepts; set by `etcdadm status`. */
  trustedCAs?: string[];
}

export interface ClusterStatus {
  /** Hex. */
  clusterId: string;
  /** Lowest server version among the answering members (see the module comment); null when none answered. */
  version: string | null;
  mixedVersions: boolean;
  /** Hex ID and name of the leader as the members see it; null when there is none. */
  leaderId: string | null;
  leaderName: string | null;
  voters: number;
  learners: number;
  healthyVoters: number;
  quorum: number;
  hasQuorum: boolean;
  /** How many more voting members may fail while quorum holds. */
  canLose: number;
  health: ClusterHealth;
  /** What makes the cluster degraded or unavailable, one line each. */
  problems: string[];
  members: MemberStatus[];
  /** A downgrade enabled through etcd's downgrade API (etcd 3.6+ members report it), to this cluster version. */
  downgrade?: { targetVersion: string };
}

export interface ClusterStatusOptions {
  /** CA and client certificate for GET /health on learners (the gRPC client does not expose its own). */
  tls?: Pick<EtcdTls, 'ca' | 'cert' | 'key' | 'caFile' | 'certFile'>;
  /** Bound of each probe (Status, health check, /health, alarms). Default 2000. */
  timeoutMs?: number;
}

const DEFAULT_PROBE_TIMEOUT_MS = 2000;

class ProbeTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms}ms`);
  }
}

/** `p`, or a rejection after `ms` (the request itself is bounded by the client's own deadline). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeout(what, ms)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The member list, committed (linearizable) when the cluster has quorum, else one member's local view, so that a
 * cluster without quorum can still be shown. When no member answers: EtcdadmError with exit code 4; TLS and other
 * failures keep their own (1).
 */
export async function memberListAnyView(client: EtcdClient): Promise<MemberListResult> {
  try {
    try {
      return await client.memberList(true);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      return await client.memberList(false);
    }
  } catch (err) {
    if ((isUnreachable(err) || isUnavailable(err)) && !isTlsError(err)) {
      throw new EtcdadmError(`no etcd member answers: ${errText(err)}`, {
        hint: 'start the members or check the network; pass --endpoints to ask other members',
        exitCode: EXIT_UNAVAILABLE,
        cause: err,
      });
    }
    throw err;
  }
}

interface Probe {
  member: Member;
  status: EtcdStatus | undefined;
  health: MemberHealth;
  error: string | undefined;
}

async function probeMember(client: EtcdClient, m: Member, opts: ClusterStatusOptions): Promise<Probe> {
  const ms = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  if (m.clientURLs.length === 0) {
    return { member: m, status: undefined, health: 'unreachable', error: m.name ? 'no client URL' : 'not started yet (added, never started)' };
  }
  const health = (url: string): Promise<{ healthy: boolean; error?: string }> =>
    within(ms, `health check at ${url}`, client.healthCheck(url)).catch((err: unknown) => ({ healthy: false, error: errText(err) }));
  let status: EtcdStatus | undefined;
  let error: string | undefined;
  // a voter's health check goes out with its Status on the same connection (one round trip, not two); it counts
  // only when Status answered at that URL
  let early: { url: string; health: Promise<{ healthy: boolean; error?: string }> } | undefined;
  let asked: string | undefined;
  for (const url of m.clientURLs) {
    if (!early && !m.isLearner) early = { url, health: health(url) };
    try {
      status = await within(ms, `Status at ${url}`, client.status(url));
      asked = url;
      break;
    } catch (err) {
      error ??= errText(err);
    }
  }
  if (!status) return { member: m, status: undefined, health: 'unreachable', error };
  const url = status.endpoint;
  if (m.isLearner || status.isLearner) {
    const h = await httpHealth(url, opts.tls, { timeoutMs: ms });
    if (h.healthy) return { member: m, status, health: 'healthy', error: undefined };
    return { member: m, status, health: 'unhealthy', error: h.error ?? `GET ${url}/health: ${h.status} ${h.body.trim()}` };
  }
  const h = await (early && early.url === asked ? early.health : health(url));
  return { member: m, status, health: h.healthy ? 'healthy' : 'unhealthy', error: h.healthy ? undefined : (h.error ?? 'unhealthy') };
}

/** The leader most answering members agree on (a member's own claim wins ties); 0n when none. */
function agreedLeader(probes: Probe[]): bigint {
  const votes = new Map<bigint, number>();
  for (const p of probes) {
    const l = p.status?.leader ?? 0n;
    if (l !== 0n) votes.set(l, (votes.get(l) ?? 0) + 1 + (p.status?.memberId === l ? 0.5 : 0));
  }
  let best = 0n;
  let bestVotes = 0;
  for (const [id, n] of votes) {
    if (n > bestVotes) {
      best = id;
      bestVotes = n;
    }
  }
  return best;
}

const ALARM_IN_ERROR = /alarm:\s*([A-Z]+)/;

/** Version order; a version that does not parse sorts by its text. */
function olderOrEqual(a: string, b: string): boolean {
  return parseVersion(a) && parseVersion(b) ? compareVersions(a, b) <= 0 : a <= b;
}

/**
 * Status of every member of `list` (listed with memberListAnyView when not given), probed in parallel with
 * bounded timeouts. Never fails because members are down: they appear as "unreachable".
 */
export async function clusterStatus(client: EtcdClient, list?: MemberListResult, opts: ClusterStatusOptions = {}): Promise<ClusterStatus> {
  const ms = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const ml = list ?? (await memberListAnyView(client));
  const [probes, alarms] = await Promise.all([
    Promise.all(ml.members.map((m) => probeMember(client, m, opts))),
    within(ms, 'Alarm', client.alarms()).catch(() => undefined),
  ]);
  const leader = agreedLeader(probes);
  const health = new Map(probes.map((p) => [p.member.idHex, p.health === 'healthy']));
  const q: QuorumInfo = quorumInfo(ml.members, health);

  const members: MemberStatus[] = probes.map((p) => {
    const m = p.member;
    const s = p.status;
    const own = new Set<string>();
    for (const a of alarms ?? []) if (a.memberIdHex === m.idHex && a.alarm !== 'NONE') own.add(a.alarm);
    if (!alarms) for (const e of s?.errors ?? []) {
      const match = ALARM_IN_ERROR.exec(e);
      if (match && match[1] !== 'NONE') own.add(match[1]!);
    }
    const selfErrors = (s?.errors ?? []).filter((e) => !ALARM_IN_ERROR.test(e));
    const role: MemberRole = m.name === '' ? 'unstarted' : m.id === leader ? 'leader' : m.isLearner ? 'learner' : 'follower';
    return {
      name: m.name,
      id: m.idHex,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      role,
      isLearner: m.isLearner,
      health: p.health,
      endpoint: s?.endpoint ?? null,
      version: s?.version || null,
      dbSize: s ? s.dbSize : null,
      dbSizeInUse: s ? s.dbSizeInUse : null,
      fragmentation: s ? fragmentation(s.dbSize, s.dbSizeInUse) : null,
      raftTerm: s ? Number(s.raftTerm) : null,
      raftIndex: s ? Number(s.raftIndex) : null,
      raftAppliedIndex: s ? Number(s.raftAppliedIndex) : null,
      alarms: [...own].sort(),
      error: p.error ?? (selfErrors.length ? selfErrors.join('; ') : null),
      ...(s?.storageVersion ? { storageVersion: s.storageVersion } : {}),
    };
  });

  const versions = members.map((m) => m.version).filter((v): v is string => v !== null);
  const version = versions.length ? versions.reduce((a, b) => (olderOrEqual(a, b) ? a : b)) : null;
  const leaderMember = ml.members.find((m) => m.id === leader);

  const problems: string[] = [];
  const answered = members.some((m) => m.endpoint !== null);
  if (!answered) problems.push('no member answers');
  if (!q.hasQuorum) {
    problems.push(`quorum lost: ${q.healthyVoters} of ${plural(q.voters, 'voting member')} healthy, quorum needs ${q.quorum}`);
  }
  if (answered && leader === 0n) problems.push('no leader');
  for (const m of members) {
    const label = memberLabel({ name: m.name, idHex: m.id });
    if (m.role === 'unstarted') problems.push(`${label} (${m.peerURLs.join(',')}) was added but has not started`);
    else if (m.health !== 'healthy') problems.push(`${label} is ${m.health}${m.error ? `: ${m.error}` : ''}`);
    for (const a of m.alarms) problems.push(`alarm ${a} on ${label}`);
  }
  const clusterHealth: ClusterHealth = !answered || !q.hasQuorum ? 'unavailable' : problems.length ? 'degraded' : 'healthy';

  const downgrade = probes.find((p) => p.status?.downgrade?.enabled)?.status?.downgrade;
  return {
    clusterId: ml.clusterIdHex,
    version,
    mixedVersions: new Set(versions).size > 1,
    leaderId: leader === 0n ? null : leader.toString(16),
    leaderName: leader === 0n ? null : leaderMember ? memberLabel(leaderMember) : leader.toString(16),
    voters: q.voters,
    learners: q.learners,
    healthyVoters: q.healthyVoters,
    quorum: q.quorum,
    hasQuorum: q.hasQuorum,
    canLose: q.canLose,
    health: clusterHealth,
    problems,
    members,
    ...(downgrade ? { downgrade: { targetVersion: downgrade.targetVersion } } : {}),
  };
}

/** 0 healthy, 3 degraded, 4 unavailable (see the module comment). */
export function statusExitCode(s: Pick<ClusterStatus, 'health'>): number {
  return s.health === 'healthy' ? EXIT_HEALTHY : s.health === 'degraded' ? EXIT_DEGRADED : EXIT_UNAVAILABLE;
}
