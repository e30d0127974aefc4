/**
 * Quorum math for etcd's runtime reconfiguration (pure; no I/O). Rules, as etcd applies them with
 * --strict-reconfig-check (the default) plus the ones etcd documents as unsafe:
 *
 * - Only voting members count: quorum = floor(voters / 2) + 1. Learners never count, and removing or adding a
 *   learner never changes quorum.
 * - A membership change is a raft entry: it needs a quorum of the *current* configuration to commit, so a cluster
 *   without quorum gets no change at all.
 * - Removing a voter must leave a configuration whose healthy voters still make its quorum. Removing an unhealthy
 *   (dead, unstarted) voter from a cluster that has quorum is always fine: that is how a dead member is replaced.
 * - A 2-member cluster losing one is unsafe (etcd's docs: quorum is 2 until the removal is applied, so if either
 *   member fails during the change the cluster is stuck), and removing the last voter destroys the cluster.
 * - Adding a voter raises quorum at once while the new member has not started yet: the healthy voters must already
 *   make the new quorum, or the cluster stalls until the new member runs. The one exception is etcd's own: a plain
 *   1-member cluster may grow to 2 voting members (how its recovery guide rebuilds a cluster from one restored
 *   member); quorum is then 2 until the new member starts. Learners never need the exception.
 *
 * Health is "started and answering" (a quorum read served, or /health for a learner), keyed by the member ID as
 * etcdctl prints it (hex); a member missing from the health map counts as unhealthy.
 */

/** The part of a member that quorum math needs (EtcdClient's Member fits). */
export interface QuorumMember {
  /** Member ID as etcdctl prints it (lowercase hex, unpadded). */
  idHex: string;
  /** Empty for a member that was added but has not started. */
  name: string;
  isLearner: boolean;
}

/** Health by member ID (hex): true = started and answering. */
export type HealthByMember = ReadonlyMap<string, boolean> | Readonly<Record<string, boolean>>;

export interface QuorumInfo {
  /** Voting members. */
  voters: number;
  /** Voting members that are healthy. */
  healthyVoters: number;
  learners: number;
  /** floor(voters / 2) + 1 (0 for no voters). */
  quorum: number;
  /** Whether the healthy voters make the quorum. */
  hasQuorum: boolean;
  /** How many more voting members may fail while quorum holds: healthyVoters - quorum, 0 without quorum. */
  canLose: number;
  /** What the cluster could lose when every voter is healthy: voters - quorum. */
  faultTolerance: number;
}

export type CheckKind =
  /** No quorum now: no membership change can be committed. */
  | 'no-quorum'
  /** The change would leave fewer healthy voters than the new quorum. */
  | 'quorum-loss'
  /** Removing one of two voters. */
  | 'two-member'
  /** Removing the only voter. */
  | 'last-member'
  | 'not-found';

export type Check =
  | { ok: true; /** Why it is fine, for logs. */ note: string }
  | { ok: false; kind: CheckKind; /** Why not, with the numbers; one sentence. */ reason: string };

/** quorum = floor(n/2)+1; 0 for n = 0. */
export function quorumSize(voters: number): number {
  return voters <= 0 ? 0 : Math.floor(voters / 2) + 1;
}

/** Failures a cluster of `voters` healthy voting members survives: voters - quorum. */
export function faultTolerance(voters: number): number {
  return Math.max(0, voters - quorumSize(voters));
}

/** "1 member", "2 members". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** How a member is named in messages: its name, else its hex ID (an unstarted member has no name). */
export function memberLabel(m: Pick<QuorumMember, 'name' | 'idHex'>): string {
  return m.name || m.idHex;
}

/** Name and ID for messages: "eahost2 (91bc3c398fb3c146)", or "91bc3c398fb3c146 (unstarted)" for a member without a name. */
export function memberTitle(m: Pick<QuorumMember, 'name' | 'idHex'>): string {
  return m.name ? `${m.name} (${m.idHex})` : `${m.idHex} (unstarted)`;
}

export function isHealthy(health: HealthByMember, idHex: string): boolean {
  if (health instanceof Map) return health.get(idHex) === true;
  return (health as Readonly<Record<string, boolean>>)[idHex] === true;
}

/** Quorum, failure tolerance and what the cluster can lose now. */
export function quorumInfo(members: readonly QuorumMember[], health: HealthByMember): QuorumInfo {
  const voters = members.filter((m) => !m.isLearner);
  const healthyVoters = voters.filter((m) => isHealthy(health, m.idHex)).length;
  const quorum = quorumSize(voters.length);
  const hasQuorum = voters.length > 0 && healthyVoters >= quorum;
  return {
    voters: voters.length,
    healthyVoters,
    learners: members.length - voters.length,
    quorum,
    hasQuorum,
    canLose: hasQuorum ? healthyVoters - quorum : 0,
    faultTolerance: faultTolerance(voters.length),
  };
}

/** "can lose 1 member", "can lose 0 members", or "quorum lost". */
export function canLoseText(q: QuorumInfo): string {
  return q.hasQuorum ? `can lose ${plural(q.canLose, 'member')}` : 'quorum lost';
}

function noQuorum(q: QuorumInfo): Check {
  return {
    ok: false,
    kind: 'no-quorum',
    reason:
      `the cluster has no quorum: ${plural(q.voters, 'voting member')} of which ${q.healthyVoters} ${q.healthyVoters === 1 ? 'is' : 'are'} healthy; ` +
      `quorum of ${q.voters} needs ${q.quorum}, so no membership change can be committed`,
  };
}

/**
 * Whether removing `targetId` (hex ID) keeps the cluster safe. Learners: always fine. Voters: the cluster must have
 * quorum now, must not be down to 1 or 2 voters, and the remaining healthy voters must make the remaining quorum.
 */
export function removalCheck(members: readonly QuorumMember[], health: HealthByMember, targetId: string | bigint): Check {
  const id = typeof targetId === 'bigint' ? targetId.toString(16) : targetId.toLowerCase().replace(/^0x/, '');
  const target = members.find((m) => m.idHex === id);
  if (!target) return { ok: false, kind: 'not-found', reason: `no member with ID ${id} in the cluster` };
  const label = memberLabel(target);
  if (target.isLearner) return { ok: true, note: `${label} is a learner; learners do not count for quorum` };
  const q = quorumInfo(members, health);
  if (!q.hasQuorum) return noQuorum(q);
  if (q.voters === 1) {
    return { ok: false, kind: 'last-member', reason: `${label} is the only voting member: removing it destroys the cluster and its data` };
  }
  const targetHealthy = isHealthy(health, id);
  if (q.voters === 2) {
    return {
      ok: false,
      kind: 'two-member',
      reason:
        `a 2-member cluster loses quorum safety when one is removed: quorum stays 2 until the removal of ${label} is applied, ` +
        'and the cluster is stuck if either member fails meanwhile (etcd calls this unsafe)',
    };
  }
  const after = q.voters - 1;
  const healthyAfter = q.healthyVoters - (targetHealthy ? 1 : 0);
  const quorumAfter = quorumSize(after);
  if (healthyAfter < quorumAfter) {
    return {
      ok: false,
      kind: 'quorum-loss',
      reason: `removing ${label} would leave ${plural(after, 'voting member')} of which ${healthyAfter} ${healthyAfter === 1 ? 'is' : 'are'} healthy; quorum of ${after} needs ${quorumAfter}`,
    };
  }
  return {
    ok: true,
    note: targetHealthy
      ? `removing ${label} leaves ${plural(after, 'voting member')}, ${healthyAfter} healthy, quorum ${quorumAfter}`
      : `${label} is not healthy; removing it leaves ${plural(after, 'voting member')}, all ${healthyAfter} healthy ones kept, quorum ${quorumAfter}`,
  };
}

/**
 * Whether adding a member is safe. A learner needs only the current quorum (the add must commit). A voter also
 * needs the healthy voters to make the quorum of the grown cluster, since the new member is not running yet.
 */
export function addCheck(members: readonly QuorumMember[], health: HealthByMember, opts: { learner: boolean }): Check {
  const q = quorumInfo(members, health);
  if (!q.hasQuorum) return noQuorum(q);
  if (opts.learner) return { ok: true, note: 'a learner does not count for quorum' };
  if (members.length === 1 && q.healthyVoters === 1)
    return {
      ok: true,
      note: 'growing a 1-member cluster to 2 voting members (etcd allows it, as its recovery guide does): quorum is 2 until the new member starts',
    };
  const after = q.voters + 1;
  const quorumAfter = quorumSize(after);
  if (q.healthyVoters < quorumAfter) {
    return {
      ok: false,
      kind: 'quorum-loss',
      reason:
        `adding a voting member would make ${plural(after, 'voting member')} with quorum ${quorumAfter}, but only ${q.healthyVoters} ${q.healthyVoters === 1 ? 'is' : 'are'} healthy ` +
        'and the new member has not started: the cluster would have no quorum until it runs',
    };
  }
  return { ok: true, note: `adding a voting member makes ${plural(after, 'voting member')}, quorum ${quorumAfter}, ${q.healthyVoters} healthy before it starts` };
}
