/**
 * Membership operations behind `etcdadm member ...`, usable from any member host (they only need a client URL that
 * answers and the client certificate). etcd's runtime-reconfiguration rules are enforced before etcd is asked:
 *
 * - one membership change at a time: no add while a learner or an unstarted member is pending (unless it is the
 *   very member being added, which makes `add` repeatable);
 * - never remove a voting member when that costs quorum, nor one of two, nor the last one (quorum.ts), judged on
 *   live health; `force` overrides with a warning;
 * - leadership moves away first when the leader is removed, to the most up-to-date started voting member (highest
 *   raftAppliedIndex), and the removal is sent through another member (the removed one stops itself as soon as it
 *   applies its removal, and may answer "server stopped" although the removal was committed);
 * - "the change went through but the answer was lost" is detected by listing again before reporting a failure;
 * - "etcdserver: unhealthy cluster" (etcd refuses changes until every member has been connected for ~5 s, e.g.
 *   after a restart or a leader change) is retried with backoff, like "not in sync" on promote.
 */
import { stringify } from 'yaml';
import {
  isLearnerNotReady,
  isMemberExists,
  isMemberNotFound,
  isMemberNotLearner,
  isPeerURLExists,
  isUnhealthyCluster,
  normalizeEndpoint,
  parseId,
  type EtcdClient,
  type Member,
  type MemberListResult,
} from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { retry, sleep } from '../util/retry.js';
import { addCheck, memberLabel, memberTitle, removalCheck, type Check } from './quorum.js';
import { clusterStatus, memberListAnyView, renderTable, type ClusterStatus, type ClusterStatusOptions } from './status.js';

export interface MemberOpsOptions extends ClusterStatusOptions {
  log: Logger;
  /** How long to retry "unhealthy cluster" / "not in sync". Default 60000. */
  retryDeadlineMs?: number;
}

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

/** The member list (committed when the cluster has quorum, else one member's view). */
export async function listMembers(client: EtcdClient): Promise<MemberListResult> {
  return memberListAnyView(client);
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
  const url = t.replace(/\/+$/, '');
  const byUrl = members.filter((m) => m.peerURLs.some((u) => u.replace(/\/+$/, '') === url));
  if (byUrl.length === 1) return byUrl[0]!;
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

/**
 * Backoff for membership changes that etcd refuses for a while ("unhealthy cluster" until every voter has been
 * connected for 5 s; "not in sync" until a learner caught up): short and capped, so that the change goes through
 * within a quarter second of etcd accepting it instead of waiting out a long exponential delay.
 */
export const MEMBERSHIP_RETRY = { initialDelayMs: 100, maxDelayMs: 250, factor: 1.5 } as const;
const retryTiming = MEMBERSHIP_RETRY;

function unhealthyNote(log: Logger) {
  return (_e: unknown, n: number): void => {
    if (n === 1 || n % 8 === 0) log.info(`etcd accepts membership changes only once every member has been connected for 5s; waiting (attempt ${n + 1})`);
  };
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

/** The started, healthy voting member other than `leader` with the highest raftAppliedIndex. */
function transferTarget(st: ClusterStatus, members: readonly Member[], leader: Member): Member | undefined {
  const candidates = st.members
    .filter((s) => s.id !== leader.idHex && !s.isLearner && s.role !== 'unstarted' && s.health === 'healthy' && s.raftAppliedIndex !== null)
    .sort((a, b) => (b.raftAppliedIndex ?? 0) - (a.raftAppliedIndex ?? 0));
  const best = candidates[0];
  return best ? members.find((m) => m.idHex === best.id) : undefined;
}

async function moveLeadership(client: EtcdClient, st: ClusterStatus, members: readonly Member[], leader: Member, log: Logger): Promise<Member | undefined> {
  const to = transferTarget(st, members, leader);
  if (!to) {
    log.warn(`${memberLabel(leader)} is the leader and no other started voting member is healthy; removing it without a leadership transfer`);
    return undefined;
  }
  log.info(`${memberLabel(leader)} is the leader; moving leadership to ${memberTitle(to)} first`);
  const leaderEndpoint = st.members.find((m) => m.id === leader.idHex)?.endpoint ?? undefined;
  // MoveLeader must reach the leader: first the endpoint that answered as the leader; when a leader change got in
  // the way ("not leader", "leader changed"), the client looks up the current leader (a no-op if `to` leads already)
  await retry((attempt) => client.moveLeader(to.id, attempt === 1 && leaderEndpoint ? { endpoint: leaderEndpoint } : {}), {
    attempts: 5,
    ...retryTiming,
    retryIf: (e) => /not leader|leader changed|no leader/.test(e instanceof Error ? e.message : String(e)),
  }).catch(async (err: unknown) => {
    // the answer may be lost although the transfer happened: the new leader tells
    const s = await client.status(to.clientURLs[0]).catch(() => undefined);
    if (s?.leader !== to.id) throw err;
  });
  for (let i = 0; i < 50; i++) {
    const s = await client.status(to.clientURLs[0]).catch(() => undefined);
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
export async function removeMember(client: EtcdClient, target: string, opts: MemberOpsOptions & { force?: boolean }): Promise<RemoveResult> {
  const { log } = opts;
  const list = await listMembers(client);
  const victim = resolveMember(list.members, target);
  const label = memberLabel(victim);
  const st = await clusterStatus(client, list, opts);
  const forced = enforce(removalCheck(list.members, healthOf(st), victim.idHex), opts.force === true, log, `remove ${label}`);

  let leaderMovedTo: Member | undefined;
  if (st.leaderId === victim.idHex) leaderMovedTo = await moveLeadership(client, st, list.members, victim, log);

  const via = [...otherEndpoints(st, list.members, victim.id), ...victim.clientURLs];
  if (via.length === 0) throw new EtcdadmError(`no member of cluster ${list.clusterIdHex} has a client URL to send the removal to`);
  // the new leader first: it has just been shown to answer
  const ordered = leaderMovedTo ? [...leaderMovedTo.clientURLs, ...via.filter((u) => !leaderMovedTo!.clientURLs.includes(u))] : via;
  const remover = client.withEndpoints(ordered);
  log.info(`Removing member ${memberTitle(victim)} from cluster ${list.clusterIdHex}`);
  try {
    let members: Member[];
    try {
      const r = await retry(() => remover.memberRemove(victim.id), {
        deadlineMs: opts.retryDeadlineMs ?? 60_000,
        ...retryTiming,
        retryIf: isUnhealthyCluster,
        onRetry: unhealthyNote(log),
      });
      members = r.members;
    } catch (err) {
      // the answer may have been lost while the removal went through (or an earlier attempt did it): look first
      const after = await listMembers(remover).catch(() => undefined);
      if (!after || after.members.some((m) => m.id === victim.id)) throw err;
      log.info(`The removal of ${victim.idHex} went through (${isMemberNotFound(err) ? 'an earlier attempt did it' : 'its answer was lost'})`);
      members = after.members;
    }
    log.info(`Removed member ${memberTitle(victim)}`);
    return { removed: victim, members, ...(leaderMovedTo ? { leaderMovedTo } : {}), ...(forced ? { forced } : {}) };
  } finally {
    remover.close();
  }
}

function normalizePeerURLs(peerURLs: string[]): string[] {
  if (peerURLs.length === 0) throw new EtcdadmError('no peer URL given', { hint: 'pass the new member\'s peer URL, e.g. https://10.0.0.4:2380', exitCode: 2 });
  return peerURLs.map((u) => {
    try {
      return normalizeEndpoint(u, true);
    } catch (err) {
      throw new EtcdadmError(`invalid peer URL "${u}"`, { hint: 'peer URLs look like https://10.0.0.4:2380', exitCode: 2, cause: err });
    }
  });
}

const samePeers = (m: Member, urls: string[]): boolean => urls.some((u) => m.peerURLs.includes(u));

/**
 * Adds a member with `peerURLs` (a learner when `learner`). One change at a time: refused while another learner or
 * an unstarted member is pending; a voter is refused when the healthy voters do not make the grown cluster's
 * quorum (quorum.ts addCheck). Adding the same peer URLs again returns the existing member (`existed`).
 */
export async function addMember(
  client: EtcdClient,
  peerURLs: string[],
  opts: MemberOpsOptions & { learner: boolean; force?: boolean },
): Promise<AddResult> {
  const { log } = opts;
  const urls = normalizePeerURLs(peerURLs);
  const list = await listMembers(client);
  const existing = list.members.find((m) => samePeers(m, urls));
  if (existing) {
    if (existing.peerURLs.length !== urls.length || !urls.every((u) => existing.peerURLs.includes(u))) {
      throw new EtcdadmError(`member ${memberTitle(existing)} already has peer URLs ${existing.peerURLs.join(',')}`, {
        hint: 'remove it first, or add it with exactly its peer URLs',
        exitCode: 2,
      });
    }
    log.info(`${memberTitle(existing)} with peer URLs ${urls.join(',')} is already a member`);
    return { member: existing, members: list.members, clusterIdHex: list.clusterIdHex, existed: true };
  }
  const pending = list.members.find((m) => m.isLearner || m.name === '');
  let forced: string | undefined;
  if (pending) {
    const why = pending.isLearner
      ? `${memberTitle(pending)} is still a learner`
      : `member ${pending.idHex} (${pending.peerURLs.join(',')}) was added but has not started`;
    if (!opts.force) {
      throw new EtcdadmError(`refusing to add a member: one membership change at a time, and ${why}`, {
        hint: pending.isLearner
          ? `promote it (etcdadm member promote ${pending.idHex}) or remove it first`
          : `start it (etcdadm join on that host) or remove it (etcdadm member remove ${pending.idHex}) first`,
      });
    }
    log.warn(`--force: adding a member although ${why}`);
    forced = why;
  }
  const st = await clusterStatus(client, list, opts);
  const what = `add ${opts.learner ? 'a learner' : 'a voting member'} at ${urls.join(',')}`;
  forced = enforce(addCheck(list.members, healthOf(st), { learner: opts.learner }), opts.force === true, log, what) ?? forced;
  log.info(`Adding ${opts.learner ? 'learner' : 'voting member'} ${urls.join(',')} to cluster ${list.clusterIdHex}`);
  try {
    const r = await retry(() => client.memberAdd(urls, opts.learner), {
      deadlineMs: opts.retryDeadlineMs ?? 60_000,
      ...retryTiming,
      retryIf: isUnhealthyCluster,
      onRetry: unhealthyNote(log),
    });
    log.info(`Added ${opts.learner ? 'learner' : 'voting member'} ${r.member.idHex}`);
    return { member: r.member, members: r.members, clusterIdHex: r.clusterIdHex, existed: false, ...(forced ? { forced } : {}) };
  } catch (err) {
    // lost answer: the member may be there already (a retry then fails with "member ID already exist" / "Peer URLs
    // already exists")
    const after = await listMembers(client).catch(() => undefined);
    const added = after?.members.find((m) => samePeers(m, urls));
    if (after && added) {
      log.info(`The member ${added.idHex} was added (the answer was lost${isMemberExists(err) || isPeerURLExists(err) ? ' and a retry found it' : ''})`);
      return { member: added, members: after.members, clusterIdHex: after.clusterIdHex, existed: false, ...(forced ? { forced } : {}) };
    }
    throw err;
  }
}

/**
 * Promotes the learner `target` names (name, hex ID or peer URL) to a voting member, retrying while it is not in
 * sync with the leader and while etcd says "unhealthy cluster". A member that already votes is a no-op.
 */
export async function promoteMember(client: EtcdClient, target: string, opts: MemberOpsOptions): Promise<Member> {
  const { log } = opts;
  const list = await listMembers(client);
  const m = resolveMember(list.members, target);
  const label = memberLabel(m);
  if (!m.isLearner) {
    log.info(`${memberTitle(m)} is already a voting member`);
    return m;
  }
  if (m.name === '') {
    throw new EtcdadmError(`learner ${m.idHex} (${m.peerURLs.join(',')}) has not started, so it cannot catch up with the leader`, {
      hint: 'start it first (etcdadm join on that host), then promote it',
    });
  }
  log.info(`Promoting learner ${memberTitle(m)} once it has caught up with the leader`);
  let notReadyLogged = false;
  try {
    const r = await retry(() => client.memberPromote(m.id), {
      deadlineMs: opts.retryDeadlineMs ?? 60_000,
      initialDelayMs: 200,
      maxDelayMs: 1000,
      factor: 1.5,
      retryIf: (e) => isLearnerNotReady(e) || isUnhealthyCluster(e),
      onRetry: (e, n) => {
        if (isLearnerNotReady(e)) {
          if (!notReadyLogged) log.info(`${label} is still catching up with the leader; retrying`);
          notReadyLogged = true;
        } else unhealthyNote(log)(e, n);
      },
    });
    const promoted = r.members.find((x) => x.id === m.id) ?? { ...m, isLearner: false };
    log.info(`Promoted ${memberTitle(m)} to a voting member`);
    return promoted;
  } catch (err) {
    const after = await listMembers(client).catch(() => undefined);
    const now = after?.members.find((x) => x.id === m.id);
    if (now && !now.isLearner) {
      log.info(`${memberTitle(m)} is a voting member now${isMemberNotLearner(err) ? '' : ' (the answer was lost)'}`);
      return now;
    }
    if (isLearnerNotReady(err)) {
      throw new EtcdadmError(`learner ${memberTitle(m)} did not catch up with the leader within ${Math.round((opts.retryDeadlineMs ?? 60_000) / 1000)}s`, {
        hint: 'check its log and disk; etcdadm status shows its raft index against the leader\'s',
        cause: err,
      });
    }
    throw err;
  }
}

// ------------------------------------------------------------------ output

export interface MemberListView {
  clusterId: string;
  members: { id: string; name: string; status: 'started' | 'unstarted'; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }[];
}

export function memberListView(list: Pick<MemberListResult, 'clusterIdHex' | 'members'>): MemberListView {
  return {
    clusterId: list.clusterIdHex,
    members: list.members.map((m) => ({
      id: m.idHex,
      name: m.name,
      status: m.name === '' ? 'unstarted' : 'started',
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      isLearner: m.isLearner,
    })),
  };
}

/** The member list as etcdctl's table (ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER), JSON or YAML. */
export function formatMemberList(view: MemberListView, format: 'table' | 'json' | 'yaml'): string {
  if (format === 'json') return JSON.stringify(view, null, 2);
  if (format === 'yaml') return stringify(view).trimEnd();
  return renderTable(
    ['ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'IS LEARNER'],
    view.members.map((m) => [m.id, m.status, m.name, m.peerURLs.join(','), m.clientURLs.join(','), String(m.isLearner)]),
  );
}
