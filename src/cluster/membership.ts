/**
 * Membership changes, written once: `etcdadm join`, `reset`, `init` and `etcdadm member` all call these. etcd's
 * runtime-reconfiguration rules are enforced before etcd is asked:
 *
 * - one membership change at a time: no add while a learner or an unstarted member is pending (join waits for
 *   another join's learner to be promoted; `member add` refuses), unless it is the very member being added, which
 *   makes an add repeatable;
 * - quorum guards (quorum.ts), judged on live health: no change without quorum, no voter added that the healthy
 *   voters cannot carry, no removal that costs quorum, nor one of two, nor the last one; `force` overrides with a
 *   warning;
 * - with --strict-reconfig-check (always set) etcd accepts an add only once its leader has been connected to EVERY
 *   voting member for 5 s: with a voting member down or unstarted it would answer "unhealthy cluster" forever, so the
 *   add is refused at once, naming that member;
 * - leadership moves away first when the leader is removed, to the most up-to-date started voting member (highest
 *   raftAppliedIndex), and the removal is sent through another member (the removed one stops itself as soon as it
 *   applies its removal, and may answer "server stopped" although the removal was committed);
 * - "the change went through but the answer was lost" is detected by listing again before reporting a failure;
 * - conditions that go away by themselves are retried with the one policy each has (retry-policy.ts).
 */
import {
  isMemberExists,
  isMemberNotFound,
  isMemberNotLearner,
  isLearnerNotReady,
  isPeerURLExists,
  normalizeEndpoint,
  parseId,
  type Member,
  type MemberListResult,
} from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/retry.js';
import type { ClusterHandle } from './handle.js';
import { addCheck, memberLabel, memberTitle, removalCheck, type Check } from './quorum.js';
import { LEADER_CHANGED, LEARNER_NOT_READY, TOO_MANY_LEARNERS, UNHEALTHY_CLUSTER, retryOn } from './retry-policy.js';
import type { ClusterStatus } from './status.js';

/** How long membership changes are retried by default. */
export const MEMBERSHIP_DEADLINE_MS = 60_000;

export interface RemoveResult {
  removed: Member;
  /** Set when the target led and leadership was moved first. */
  leaderMovedTo?: Member;
  /** The members after the removal. */
  members: Member[];
  /** A refusal of the quorum guard that `force` overrode. */
  forced?: string;
}

export interface AddResult {
  member: Member;
  members: Member[];
  clusterIdHex: string;
  /** The member with these peer URLs was already there (not added again). */
  existed: boolean;
  forced?: string;
}

export interface AddOptions {
  learner: boolean;
  log: Logger;
  /** The new member's name, for messages. */
  name?: string;
  force?: boolean;
  /** With a learner or an unstarted learner pending: wait for it (join) or refuse (member add, the default). */
  whenPending?: 'wait' | 'refuse';
  /** Retry "unhealthy cluster" (default true). */
  retry?: boolean;
  deadlineMs?: number;
}

// ------------------------------------------------------------------ pure helpers

/** The member with one of `peerURLs` (an added, unstarted member has no name yet: find it by peer URL). */
export function findByPeerURLs(members: readonly Member[], peerURLs: readonly string[]): Member | undefined {
  return members.find((m) => m.peerURLs.some((u) => peerURLs.includes(u)));
}

/**
 * The member `target` names: a name, a hex ID (as etcdctl prints it, 0x optional) or a peer URL. Exit code 2 when
 * none or several match.
 */
export function resolveMember(members: readonly Member[], target: string): Member {
  const t = target.trim();
  const byName = members.filter((m) => m.name !== '' && m.name === t);
  if (byName.length === 1) return byName[0]!;
  let byId: Member | undefined;
  try {
    const id = parseId(t);
    byId = members.find((m) => m.id === id);
  } catch {
    byId = undefined;
  }
  if (byId) return byId;
  const byUrl = members.find((m) => m.peerURLs.includes(t) || m.peerURLs.includes(t.replace(/\/+$/, '')));
  if (byUrl) return byUrl;
  if (byName.length > 1) {
    throw new EtcdadmError(`several members are named "${t}": ${byName.map((m) => m.idHex).join(', ')}`, {
      hint: 'name the member by its ID (etcdadm member list)',
      exitCode: 2,
    });
  }
  throw new EtcdadmError(`no member is named "${t}" or has it as ID or peer URL`, {
    hint: `the members are ${members.map(memberTitle).join(', ') || 'none'}; see etcdadm member list`,
    exitCode: 2,
  });
}

/** A learner or an added-but-unstarted member: a membership change that has not finished. */
export function pendingChange(members: readonly Member[], exceptPeerURLs: readonly string[] = []): Member | undefined {
  return members.find((m) => (m.isLearner || m.name === '') && !m.peerURLs.some((u) => exceptPeerURLs.includes(u)));
}

/**
 * Voting members that keep etcd from accepting any add (strict reconfig check: the leader must be connected to every
 * voter): the ones that do not answer, and the unstarted ones.
 */
export function blockingVoters(st: Pick<ClusterStatus, 'members'>): { id: string; name: string; why: 'unreachable' | 'not started' }[] {
  return st.members
    .filter((m) => !m.isLearner && (m.role === 'unstarted' || m.health === 'unreachable'))
    .map((m) => ({ id: m.id, name: m.name, why: m.role === 'unstarted' ? 'not started' : 'unreachable' }));
}

/** The started, healthy voting member other than `leaderId` with the highest raftAppliedIndex. */
export function transferTarget(st: Pick<ClusterStatus, 'members'>, leaderId: string): string | undefined {
  const candidates = st.members
    .filter((s) => s.id !== leaderId && !s.isLearner && s.role !== 'unstarted' && s.health === 'healthy' && s.raftAppliedIndex !== null)
    .sort((a, b) => (b.raftAppliedIndex ?? 0) - (a.raftAppliedIndex ?? 0));
  return candidates[0]?.id;
}

function healthOf(st: ClusterStatus): Map<string, boolean> {
  return new Map(st.members.map((m) => [m.id, m.health === 'healthy']));
}

/** Throws the refusal unless forced; returns the overridden reason when forced. */
function enforce(check: Check, force: boolean, log: Logger, what: string): string | undefined {
  if (check.ok) {
    log.debug(check.note);
    return undefined;
  }
  if (check.kind === 'not-found') throw new EtcdadmError(check.reason, { exitCode: 2 });
  if (!force) {
    throw new EtcdadmError(`refusing to ${what}: ${check.reason}`, {
      hint:
        check.kind === 'no-quorum'
          ? 'bring the cluster back to quorum first (etcdadm status shows which members are down)'
          : 'fix or remove the unhealthy members first (etcdadm status), or pass --force if you accept losing quorum',
    });
  }
  log.warn(`--force: ${what} although ${check.reason}`);
  return check.reason;
}

/** Client URLs of the members other than `exclude`, healthy ones first. */
function otherEndpoints(st: ClusterStatus | undefined, members: readonly Member[], exclude: bigint): string[] {
  const health = new Map(st?.members.map((m) => [m.id, m.health]) ?? []);
  const rank = (m: Member): number => (health.get(m.idHex) === 'healthy' ? 0 : health.get(m.idHex) === 'unhealthy' ? 1 : 2);
  return members
    .filter((m) => m.id !== exclude)
    .sort((a, b) => rank(a) - rank(b))
    .flatMap((m) => m.clientURLs);
}

function normalizePeerURLs(peerURLs: string[]): string[] {
  if (peerURLs.length === 0) throw new EtcdadmError('no peer URL given', { hint: "pass the new member's peer URL, e.g. https://10.0.0.4:2380", exitCode: 2 });
  return peerURLs.map((u) => {
    try {
      return normalizeEndpoint(u, true);
    } catch (err) {
      throw new EtcdadmError(`invalid peer URL "${u}"`, { hint: 'peer URLs look like https://10.0.0.4:2380', exitCode: 2, cause: err });
    }
  });
}

const samePeers = (m: Member, urls: readonly string[]): boolean => urls.some((u) => m.peerURLs.includes(u));

// ------------------------------------------------------------------ add

/** Wait until no other learner or unstarted learner is pending (another join finishing); refuse an unstarted voter. */
async function settlePending(h: ClusterHandle, urls: string[], opts: AddOptions): Promise<{ list: MemberListResult; forced?: string }> {
  const { log } = opts;
  const deadline = Date.now() + (opts.deadlineMs ?? MEMBERSHIP_DEADLINE_MS);
  let waited = 0;
  for (;;) {
    const list = await h.members({ refresh: true });
    const pending = pendingChange(list.members, urls);
    if (!pending) return { list };
    const why = pending.name === '' ? `member ${pending.idHex} (${pending.peerURLs.join(',')}) was added but has not started` : `${memberTitle(pending)} is still a learner`;
    if (opts.force) {
      log.warn(`--force: adding a member although ${why}`);
      return { list, forced: why };
    }
    const canWait = opts.whenPending === 'wait' && pending.isLearner && Date.now() < deadline;
    if (!canWait) {
      throw new EtcdadmError(`refusing to add a member: one membership change at a time, and ${why}`, {
        hint: pending.isLearner
          ? pending.name === ''
            ? `start it (etcdadm join on that host) or remove it (etcdadm member remove ${pending.idHex}) first`
            : `promote it (etcdadm member promote ${pending.idHex}) or remove it first`
          : `start it (etcdadm join on that host) or remove it (etcdadm member remove ${pending.idHex}) first`,
      });
    }
    if (waited++ % 8 === 0) log.info(TOO_MANY_LEARNERS.note);
    await sleep(TOO_MANY_LEARNERS.maxDelayMs);
  }
}

/**
 * Adds a member with `peerURLs` (a learner when `learner`), after the guards above. Adding the same peer URLs again
 * returns the existing member (`existed`).
 */
/** The ID a dry run gives the member it would add (etcd picks the real one). */
const DRY_RUN_ID = 0xd27e0000d27en;

/** A failed run takes back a member it added, as long as it never started (it holds no data of the cluster then). */
function journalAdd(h: ClusterHandle, member: Member): void {
  h.journal?.record(`add member ${member.idHex}`, async () => {
    const now = await h.members({ refresh: true, serializable: true });
    const m = now.members.find((x) => x.id === member.id);
    if (m && m.name === '') await h.client.memberRemove(m.id);
  });
}

export async function addMember(h: ClusterHandle, peerURLs: string[], opts: AddOptions): Promise<AddResult> {
  return h.timed(async () => {
    const { log } = opts;
    const urls = normalizePeerURLs(peerURLs);
    const first = await h.members({ refresh: true });
    const existing = first.members.find((m) => samePeers(m, urls));
    if (existing) {
      if (existing.peerURLs.length !== urls.length || !urls.every((u) => existing.peerURLs.includes(u))) {
        throw new EtcdadmError(`member ${memberTitle(existing)} already has peer URLs ${existing.peerURLs.join(',')}`, {
          hint: 'remove it first, or add it with exactly its peer URLs',
          exitCode: 2,
        });
      }
      log.info(`${memberTitle(existing)} with peer URLs ${urls.join(',')} is already a member`);
      return { member: existing, members: first.members, clusterIdHex: first.clusterIdHex, existed: true };
    }
    let { list, forced } = await settlePending(h, urls, opts);
    const st = await h.status();
    list = await h.members();
    const what = `add ${opts.learner ? 'a learner' : 'a voting member'} at ${urls.join(',')}`;
    forced = enforce(addCheck(list.members, healthOf(st), { learner: opts.learner }), opts.force === true, log, what) ?? forced;
    const blocking = blockingVoters(st);
    if (blocking.length > 0) {
      const names = blocking.map((m) => `${m.name || '(unstarted)'} (${m.id})`).join(', ');
      const unreachable = blocking.some((m) => m.why === 'unreachable');
      throw new EtcdadmError(`etcd refuses to add members while a voting member is ${unreachable ? 'unreachable' : 'not started'}: ${names}`, {
        hint: `bring it back, or remove it first from a member host ('etcdadm member remove ${blocking[0]!.name || blocking[0]!.id}'), then try again`,
      });
    }
    const who = opts.name ? `${opts.name} (${urls.join(',')})` : urls.join(',');
    if (h.dryRun) {
      // every guard above passed; the add itself is only recorded, and shown in the member lists of this run
      h.dryRun.note(`add ${who} as a ${opts.learner ? 'learner' : 'voting member'} to cluster ${list.clusterIdHex}`);
      const member: Member = { id: DRY_RUN_ID, idHex: DRY_RUN_ID.toString(16), name: '', peerURLs: urls, clientURLs: [], isLearner: opts.learner };
      h.simulate({ add: member });
      return { member, members: [...list.members, member], clusterIdHex: list.clusterIdHex, existed: false, ...(forced ? { forced } : {}) };
    }
    log.info(`Adding ${who} as a ${opts.learner ? 'learner' : 'voting member'} to cluster ${list.clusterIdHex} through ${h.client.endpoint}`);
    try {
      const r = await retryOn([UNHEALTHY_CLUSTER, TOO_MANY_LEARNERS], () => h.client.memberAdd(urls, opts.learner), {
        deadlineMs: opts.retry === false ? 0 : (opts.deadlineMs ?? MEMBERSHIP_DEADLINE_MS),
        ...(opts.retry === false ? { attempts: 1 } : {}),
        log,
      });
      h.remember(undefined);
      log.info(`Added ${opts.learner ? 'learner' : 'voting member'} ${r.member.idHex}`);
      journalAdd(h, r.member);
      return { member: r.member, members: r.members, clusterIdHex: r.clusterIdHex, existed: false, ...(forced ? { forced } : {}) };
    } catch (err) {
      // lost answer: the member may be there already (a retry then fails with "member ID already exist" / "Peer URLs
      // already exists"); a serializable read, as quorum may be 2 of 1 right after a voting add to a 1-member cluster
      const after = await h.members({ refresh: true, serializable: true }).catch(() => undefined);
      const added = after?.members.find((m) => samePeers(m, urls));
      if (after && added) {
        log.info(`The member ${added.idHex} was added (the answer was lost${isMemberExists(err) || isPeerURLExists(err) ? ' and a retry found it' : ''})`);
        journalAdd(h, added);
        return { member: added, members: after.members, clusterIdHex: after.clusterIdHex, existed: false, ...(forced ? { forced } : {}) };
      }
      if (TOO_MANY_LEARNERS.matches(err))
        throw new EtcdadmError(`another learner is still joining the cluster and did not finish within ${Math.round((opts.deadlineMs ?? MEMBERSHIP_DEADLINE_MS) / 1000)}s`, {
          hint: 'finish or remove that member first (etcdadm member list shows it), then try again',
          cause: err,
        });
      throw err;
    }
  });
}

// ------------------------------------------------------------------ promote

/**
 * Promotes the learner `target` names (name, hex ID or peer URL) to a voting member, retrying while it is not in
 * sync with the leader and while etcd says "unhealthy cluster". A member that already votes is a no-op.
 */
export async function promoteMember(h: ClusterHandle, target: string | bigint, opts: { log: Logger; deadlineMs?: number }): Promise<Member> {
  return h.timed(async () => {
    const { log } = opts;
    const list = await h.members({ refresh: true });
    const m = typeof target === 'bigint' ? list.members.find((x) => x.id === target) : resolveMember(list.members, target);
    if (!m) throw new EtcdadmError(`no member with ID ${String(target)} in cluster ${list.clusterIdHex}`, { exitCode: 2 });
    if (!m.isLearner) {
      log.info(`${memberTitle(m)} is already a voting member`);
      return m;
    }
    if (m.name === '') {
      throw new EtcdadmError(`learner ${m.idHex} (${m.peerURLs.join(',')}) has not started, so it cannot catch up with the leader`, {
        hint: 'start it first (etcdadm join on that host), then promote it',
      });
    }
    const deadlineMs = opts.deadlineMs ?? MEMBERSHIP_DEADLINE_MS;
    if (h.dryRun) {
      h.dryRun.note(`promote learner ${memberTitle(m)} to a voting member once it has caught up with the leader`);
      h.simulate({ promote: m.id });
      return { ...m, isLearner: false };
    }
    log.info(`Promoting learner ${memberTitle(m)} once it has caught up with the leader`);
    try {
      const r = await retryOn([LEARNER_NOT_READY, UNHEALTHY_CLUSTER], () => h.client.memberPromote(m.id), { deadlineMs, log });
      h.remember(undefined);
      log.info(`Promoted member ${memberTitle(m)} to a voting member`);
      return r.members.find((x) => x.id === m.id) ?? { ...m, isLearner: false };
    } catch (err) {
      const after = await h.members({ refresh: true }).catch(() => undefined);
      const now = after?.members.find((x) => x.id === m.id);
      if (now && !now.isLearner) {
        log.info(`${memberTitle(m)} is a voting member now${isMemberNotLearner(err) ? '' : ' (the answer was lost)'}`);
        return now;
      }
      if (isLearnerNotReady(err)) {
        throw new EtcdadmError(`learner ${memberTitle(m)} did not catch up with the leader within ${Math.round(deadlineMs / 1000)}s`, {
          hint: "check its log and disk; etcdadm status shows its raft index against the leader's",
          cause: err,
        });
      }
      throw err;
    }
  });
}

// ------------------------------------------------------------------ leadership and removal

/** Move leadership from `leader` to the best other voter; returns it, or undefined when there is none to move to. */
export async function moveLeadership(h: ClusterHandle, st: ClusterStatus, members: readonly Member[], leader: Member, log: Logger): Promise<Member | undefined> {
  const toId = transferTarget(st, leader.idHex);
  const to = toId ? members.find((m) => m.idHex === toId) : undefined;
  if (!to) {
    log.warn(`${memberLabel(leader)} is the leader and no other started voting member is healthy; removing it without a leadership transfer`);
    return undefined;
  }
  if (h.dryRun) {
    h.dryRun.note(`move leadership from ${memberLabel(leader)} to ${memberTitle(to)}`);
    return to;
  }
  log.info(`${memberLabel(leader)} is the leader; moving leadership to ${memberTitle(to)} first`);
  const leaderEndpoint = st.members.find((m) => m.id === leader.idHex)?.endpoint ?? undefined;
  // MoveLeader must reach the leader: first the endpoint that answered as the leader; when a leader change got in
  // the way ("not leader", "leader changed"), the client looks up the current leader (a no-op if `to` leads already)
  await retryOn([LEADER_CHANGED], (attempt) => h.client.moveLeader(to.id, attempt === 1 && leaderEndpoint ? { endpoint: leaderEndpoint } : {}), {
    deadlineMs: 5_000,
    attempts: 5,
  }).catch(async (err: unknown) => {
    // the answer may be lost although the transfer happened: the new leader tells
    const s = await h.client.status(to.clientURLs[0]).catch(() => undefined);
    if (s?.leader !== to.id) throw err;
  });
  for (let i = 0; i < 50; i++) {
    const s = await h.client.status(to.clientURLs[0]).catch(() => undefined);
    if (s && s.leader === to.id) {
      log.info(`${memberLabel(to)} is the leader now`);
      return to;
    }
    await sleep(100);
  }
  throw new EtcdadmError(`leadership did not move to ${memberLabel(to)} within 5s`, {
    hint: 'check the cluster with etcdadm status, then run the removal again',
  });
}

/**
 * Removes the member `target` names (name, hex ID or peer URL). Refuses, with the numbers, when the removal would
 * cost quorum (unless `force`); moves leadership away first when the target leads; sends the removal through
 * another member; retries "unhealthy cluster"; a removal whose answer was lost counts as done.
 */
export async function removeMember(h: ClusterHandle, target: string, opts: { log: Logger; force?: boolean; deadlineMs?: number }): Promise<RemoveResult> {
  return h.timed(async () => {
    const { log } = opts;
    const st = await h.status({ refresh: true });
    const list = await h.members();
    const victim = resolveMember(list.members, target);
    const forced = enforce(removalCheck(list.members, healthOf(st), victim.idHex), opts.force === true, log, `remove ${memberLabel(victim)}`);

    let leaderMovedTo: Member | undefined;
    if (st.leaderId === victim.idHex) leaderMovedTo = await moveLeadership(h, st, list.members, victim, log);

    const via = [...otherEndpoints(st, list.members, victim.id), ...victim.clientURLs];
    if (via.length === 0) throw new EtcdadmError(`no member of cluster ${list.clusterIdHex} has a client URL to send the removal to`);
    // the new leader first: it has just been shown to answer
    const ordered = leaderMovedTo ? [...leaderMovedTo.clientURLs, ...via.filter((u) => !leaderMovedTo!.clientURLs.includes(u))] : via;
    const remover = h.via(ordered);
    if (h.dryRun) {
      h.dryRun.note(`remove member ${memberTitle(victim)} from cluster ${list.clusterIdHex}`);
      h.simulate({ remove: victim.id });
      const members = list.members.filter((m) => m.id !== victim.id);
      return { removed: victim, members, ...(leaderMovedTo ? { leaderMovedTo } : {}), ...(forced ? { forced } : {}) };
    }
    log.info(`Removing member ${memberTitle(victim)} from cluster ${list.clusterIdHex}`);
    let members: Member[];
    try {
      const r = await retryOn([UNHEALTHY_CLUSTER], () => remover.client.memberRemove(victim.id), { deadlineMs: opts.deadlineMs ?? MEMBERSHIP_DEADLINE_MS, log });
      members = r.members;
    } catch (err) {
      // the answer may have been lost while the removal went through (or an earlier attempt did it): look first
      const after = await remover.members({ refresh: true }).catch(() => undefined);
      if (!after || after.members.some((m) => m.id === victim.id)) throw err;
      log.info(`The removal of ${victim.idHex} went through (${isMemberNotFound(err) ? 'an earlier attempt did it' : 'its answer was lost'})`);
      members = after.members;
    }
    h.remember(undefined);
    log.info(`Removed member ${memberTitle(victim)}`);
    return { removed: victim, members, ...(leaderMovedTo ? { leaderMovedTo } : {}), ...(forced ? { forced } : {}) };
  });
}
