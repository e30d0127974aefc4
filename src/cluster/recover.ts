/**
 * Recovery from a permanent loss of quorum, as etcd's disaster-recovery and runtime-reconfiguration guides describe
 * it ("restart cluster from majority failure"): the one surviving member is started once with --force-new-cluster
 * on its own data, which rewrites the membership to this member alone (it commits the removal of every other member
 * itself, keeping the cluster ID and every key it had applied), and new members are then added one at a time. The
 * flag must be gone from the next start: every start with it would drop the members added since.
 *
 * This module holds what that needs of a cluster, and nothing else does:
 *
 * - `observeRecovery`: what this member knows (its own member list, a serializable read of its own data; whether it
 *   can read linearizably, i.e. has a leader that a quorum follows) and a probe of every other member's client URLs,
 *   each bounded by a short timeout (a dead host drops packets, so a connection never fails by itself);
 * - `decideRecover` (pure): refuse or proceed. Refused, with the numbers, while this member has quorum or while any
 *   other voting member answers (recovering then would split the cluster in two); refused on a learner, on a host
 *   without a completed etcdadm member, and when etcd here is not the member the host record names;
 * - `waitForcedAlone` and `dropLeftovers`: after the forced start, until this member leads a one-member cluster, and
 *   the removal of any other member still listed (there should be none), verified through the API.
 */
import { EtcdadmError } from '../errors.js';
import { type EtcdClient, type Member } from '../etcd/client.js';
import type { RecoveryInProgress } from '../host/record.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/retry.js';
import type { ClusterHandle } from './handle.js';
import { memberTitle, plural, quorumSize } from './quorum.js';
import { UNHEALTHY_CLUSTER, retryOn } from './retry-policy.js';

/** A member as recover sees it: hex ID, name, URLs. */
export interface RecoverMember {
  id: string;
  name: string;
  isLearner: boolean;
  clientURLs: string[];
  peerURLs: string[];
}

/** Another member's probe: whether any of its client URLs answered (Status) within the timeout. */
export interface PeerProbe {
  id: string;
  answered: boolean;
  /** The URL that answered. */
  endpoint?: string;
  /** Why it did not, for the log. */
  error?: string;
}

/** What etcd on this host says about itself, or why it does not answer. */
export type LocalMember =
  | {
      answers: true;
      id: string;
      clusterId: string;
      /** The leader it follows (hex), or null when it knows none. */
      leader: string | null;
      /** A linearizable read went through it: it belongs to a quorum. */
      quorumRead: boolean;
      isLearner: boolean;
    }
  | { answers: false; why: string };

export interface RecoverWorld {
  /** The host record's member: absent when no etcdadm member is set up here. */
  recorded: { memberName: string; memberId?: string; complete: boolean } | undefined;
  local: LocalMember;
  /** This member's own member list (its own data); empty when etcd does not answer. */
  members: RecoverMember[];
  peers: PeerProbe[];
  /** A recovery the host record says is under way. */
  resume?: RecoveryInProgress;
  /** The local client URL, for messages. */
  localURL: string;
  unitName: string;
}

export interface Refusal {
  kind: 'refuse';
  message: string;
  hint: string;
  exitCode?: number;
}

export interface Proceed {
  kind: 'proceed';
  self: { name: string; id: string };
  /** The members the forced start drops. */
  dead: RecoverMember[];
  /** Learners among them that still answer (they lose their cluster and must join again). */
  answeringLearners: string[];
  /** A recovery under way is finished (the record had one). */
  resuming: boolean;
  /** Warnings to log. */
  warnings: string[];
}

export type RecoverDecision = Refusal | Proceed;

const label = (m: Pick<RecoverMember, 'name' | 'id'>) => memberTitle({ name: m.name, idHex: m.id });

function refuse(message: string, hint: string): Refusal {
  return { kind: 'refuse', message: `refusing to recover: ${message}`, hint };
}

/**
 * Pure: refuse or proceed (see the module comment). Voting members are counted from this member's own member list;
 * this member counts as answering. A resumed recovery (the record has one) goes on from what the record noted: once
 * the forced start happened there is no way back, and a member that answers again was removed from this cluster.
 */
export function decideRecover(w: RecoverWorld): RecoverDecision {
  if (!w.recorded)
    return refuse('no etcdadm member is set up on this host (no host record)', 'run recover on the surviving member host, which etcdadm init or join set up');
  if (!w.recorded.complete && !w.resume)
    return refuse(`the setup of member ${w.recorded.memberName} on this host never completed`, 'finish it first (run the same etcdadm init or join again)');
  const local = w.local;
  if (w.resume) return decideResume(w, w.resume);
  if (!local.answers)
    return refuse(
      `etcd on this host does not answer at ${w.localURL} (${local.why}); recover reads the member list from this member's own data through it`,
      `start it ('systemctl start ${w.unitName}') and run recover again`,
    );
  const selfByRecord = w.recorded.memberId ?? w.members.find((m) => m.name === w.recorded!.memberName)?.id;
  if (selfByRecord !== local.id)
    return refuse(
      `etcd on this host is member ${local.id} of cluster ${local.clusterId}, not the member ${w.recorded.memberName}${w.recorded.memberId ? ` (${w.recorded.memberId})` : ''} the host record names`,
      'run recover only where etcd runs the member etcdadm set up; check which etcd runs here',
    );
  const self = w.members.find((m) => m.id === local.id);
  if (!self) return refuse(`member ${local.id} is not in its own member list`, "check the member with 'etcdadm info' and 'etcdadm member list'");
  if (self.isLearner || local.isLearner)
    return refuse(`${label(self)} is a learner: it has no vote and may lack committed data`, 'recover on a voting member (etcdadm member list shows them)');

  const byName = (a: RecoverMember, b: RecoverMember) => (a.name || a.id).localeCompare(b.name || b.id);
  const voters = w.members.filter((m) => !m.isLearner).sort(byName);
  const probe = new Map(w.peers.map((p) => [p.id, p]));
  const answeringOthers = voters.filter((m) => m.id !== self.id && probe.get(m.id)?.answered);
  const answering = 1 + answeringOthers.length;
  const q = quorumSize(voters.length);
  const numbers = `${answering} of ${plural(voters.length, 'voting member')} answer${answering === 1 ? 's' : ''}`;
  const names = (ms: RecoverMember[]) => ms.map((m) => `${label(m)}${probe.get(m.id)?.endpoint ? ` at ${probe.get(m.id)!.endpoint}` : ''}`).join(', ');
  if (answering >= q || local.quorumRead) {
    const why = answering >= q ? `${numbers}; quorum is ${q}` : `${numbers}, but ${label(self)} reads linearizably through a leader (${local.leader ?? 'unknown'}) that a quorum follows; quorum is ${q}`;
    return refuse(
      `${why}: the cluster is not lost${answeringOthers.length ? ` (answering: ${names(answeringOthers)})` : ''}`,
      "replace lost members with 'etcdadm member remove' and 'etcdadm join' instead",
    );
  }
  if (answeringOthers.length)
    return refuse(
      `${numbers}; quorum is ${q}: quorum is lost, but ${names(answeringOthers)} still ${answeringOthers.length === 1 ? 'runs' : 'run'}, and a recovery here would leave ${answeringOthers.length === 1 ? 'it' : 'them'} a cluster of ${answeringOthers.length === 1 ? 'its' : 'their'} own`,
      `recover runs only on the one member left: stop etcd for good on ${answeringOthers.map((m) => m.name || m.id).join(', ')} ('etcdadm reset --skip-remove-member' there moves its data aside), or bring back members until quorum holds`,
    );
  const dead = w.members.filter((m) => m.id !== self.id).sort(byName);
  const answeringLearners = dead.filter((m) => m.isLearner && probe.get(m.id)?.answered).map(label);
  return {
    kind: 'proceed',
    self: { name: self.name, id: self.id },
    dead,
    answeringLearners,
    resuming: false,
    warnings: answeringLearners.map((l) => `learner ${l} still answers; it is dropped with the others and must join again (etcdadm reset, then etcdadm join)`),
  };
}

function decideResume(w: RecoverWorld, r: RecoveryInProgress): RecoverDecision {
  const local = w.local;
  const id = w.recorded!.memberId;
  if (local.answers && id && local.id !== id)
    return refuse(
      `etcd on this host is member ${local.id}, not the member ${w.recorded!.memberName} (${id}) whose recovery the host record notes`,
      'run recover only where etcd runs the member etcdadm set up; check which etcd runs here',
    );
  const probe = new Map(w.peers.map((p) => [p.id, p]));
  const back = r.dead.filter((m) => probe.get(m.id)?.answered);
  const warnings: string[] = [];
  if (back.length && !r.forced) {
    const names = back.map((m) => `${label(m)} at ${probe.get(m.id)!.endpoint}`).join(', ');
    return refuse(
      `${names} answer${back.length === 1 ? 's' : ''} again, and this recovery has not forced a new cluster yet (this member is stopped, its data untouched${r.copies?.length ? `, a copy in ${r.copies.map((c) => c.to).join(', ')}` : ''})`,
      `if the cluster is back, start this member again ('systemctl enable --now ${w.unitName}'); if not, stop etcd for good on those hosts and run recover again`,
    );
  }
  if (back.length) warnings.push(`${back.map(label).join(', ')} answer${back.length === 1 ? 's' : ''} again; ${back.length === 1 ? 'it was' : 'they were'} removed by this recovery and must join again (etcdadm reset, then etcdadm join)`);
  return {
    kind: 'proceed',
    self: { name: w.recorded!.memberName, id: id ?? (local.answers ? local.id : '') },
    dead: r.dead.map((m) => ({ ...m, isLearner: false })),
    answeringLearners: [],
    resuming: true,
    warnings,
  };
}

/** `p`, or a rejection after `ms` (the request itself keeps the client's own deadline). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const errText = (e: unknown) => (e instanceof EtcdadmError ? e.oneLine() : e instanceof Error ? e.message : String(e));

export const toRecoverMember = (m: Member): RecoverMember => ({ id: m.idHex, name: m.name, isLearner: m.isLearner, clientURLs: m.clientURLs, peerURLs: m.peerURLs });

/** Status of `m` on its client URLs in order, each bounded by `ms`. */
export async function probePeer(client: EtcdClient, m: Pick<RecoverMember, 'id' | 'clientURLs'>, ms: number): Promise<PeerProbe> {
  let error = m.clientURLs.length ? undefined : 'no client URL (never started)';
  for (const url of m.clientURLs) {
    try {
      const s = await within(ms, `Status at ${url}`, client.status(url));
      return { id: m.id, answered: true, endpoint: s.endpoint };
    } catch (err) {
      error ??= errText(err);
    }
  }
  return { id: m.id, answered: false, ...(error ? { error } : {}) };
}

/**
 * What recover decides from: this member's status, its own member list (serializable: its own data), a linearizable
 * read through it, and a probe of every other member (or, resuming, of the members the record lists as dead), all
 * in parallel and each bounded by `timeoutMs`.
 */
export async function observeRecovery(
  client: EtcdClient,
  localURL: string,
  opts: { timeoutMs: number; resume?: RecoveryInProgress },
): Promise<{ local: LocalMember; members: RecoverMember[]; peers: PeerProbe[] }> {
  const ms = opts.timeoutMs;
  const status = await within(ms, `Status at ${localURL}`, client.status(localURL)).catch((e: unknown) => e as Error);
  let members: RecoverMember[] = [];
  let local: LocalMember;
  if (status instanceof Error) local = { answers: false, why: errText(status) };
  else {
    const [list, read] = await Promise.all([
      within(ms, 'MemberList', client.memberList(false)).catch((e: unknown) => e as Error),
      within(ms, `linearizable read at ${localURL}`, client.healthCheck(localURL)).catch((e: unknown) => ({ healthy: false, error: errText(e) })),
    ]);
    if (list instanceof Error) local = { answers: false, why: `its member list: ${errText(list)}` };
    else {
      members = list.members.map(toRecoverMember);
      local = {
        answers: true,
        id: status.memberIdHex,
        clusterId: status.clusterId.toString(16),
        leader: status.leader === 0n ? null : status.leaderHex,
        quorumRead: read.healthy,
        isLearner: status.isLearner,
      };
    }
  }
  const selfId = local.answers ? local.id : undefined;
  const others = opts.resume ? opts.resume.dead : members.filter((m) => m.id !== selfId);
  const peers = await Promise.all(others.map((m) => probePeer(client, m, ms)));
  return { local, members, peers };
}

/**
 * After the --force-new-cluster start: until this member (`selfId`, hex) serves, leads (with the others dropped from
 * raft it is a quorum alone) and lists itself as a voting member; returns its member list. Fails after `timeoutMs`, or at once when `down()` says etcd
 * exited.
 */
export async function waitForcedAlone(
  h: ClusterHandle,
  url: string,
  selfId: string,
  opts: { timeoutMs: number; down?: () => Promise<string | undefined>; logHint: string },
): Promise<RecoverMember[]> {
  const deadline = Date.now() + opts.timeoutMs;
  let why = 'no answer yet';
  for (let i = 0; ; i++) {
    const s = await within(2000, `Status at ${url}`, h.client.status(url)).catch((e: unknown) => e as Error);
    if (s instanceof Error) why = errText(s);
    else if (s.memberIdHex !== selfId) throw new EtcdadmError(`etcd at ${url} is member ${s.memberIdHex}, not ${selfId}`, { hint: opts.logHint });
    else if (s.leader !== s.memberId) why = s.leader === 0n ? 'it has no leader yet' : `it follows ${s.leaderHex}`;
    else {
      const list = await within(2000, 'MemberList', h.client.memberList(false)).catch((e: unknown) => e as Error);
      if (list instanceof Error) why = errText(list);
      // leading means the forced raft group of this member alone has formed; what else is listed dropLeftovers removes
      else if (list.members.some((m) => m.idHex === selfId && !m.isLearner)) return list.members.map(toRecoverMember);
      else why = `its member list does not name it as a voting member`;
    }
    if (opts.down && i % 10 === 9) {
      const down = await opts.down();
      if (down) throw new EtcdadmError(`etcd at ${url} is not running after its --force-new-cluster start: ${down}`, { hint: opts.logHint });
    }
    if (Date.now() > deadline)
      throw new EtcdadmError(`etcd at ${url} did not become the leader of a one-member cluster within ${Math.round(opts.timeoutMs / 1000)} s: ${why}`, { hint: opts.logHint });
    await sleep(100);
  }
}

/**
 * Remove every member but `selfId` still listed after the forced start (etcd's force-new-cluster removes them
 * itself, so normally there is none), then verify through the API that this member is the only one, a voter.
 * Returns the removed members. Quorum is this member alone now, so no quorum guard applies.
 */
export async function dropLeftovers(h: ClusterHandle, selfId: string, log: Logger, deadlineMs = 30_000): Promise<RecoverMember[]> {
  const removed: RecoverMember[] = [];
  const list = await h.client.memberList(true);
  for (const m of list.members.filter((x) => x.idHex !== selfId)) {
    log.info(`${memberTitle(m)} is still listed; removing it`);
    await retryOn([UNHEALTHY_CLUSTER], () => h.client.memberRemove(m.id), { deadlineMs, log }).catch(async (err: unknown) => {
      const after = await h.client.memberList(true).catch(() => undefined);
      if (!after || after.members.some((x) => x.id === m.id)) throw err;
    });
    removed.push(toRecoverMember(m));
  }
  h.remember(undefined);
  const final = await h.client.memberList(true);
  const only = final.members.length === 1 ? final.members[0] : undefined;
  if (!only || only.idHex !== selfId || only.isLearner)
    throw new EtcdadmError(`after the recovery the cluster lists ${final.members.map(memberTitle).join(', ') || 'no member'}, not this member alone`, {
      hint: "check 'etcdadm member list'; remove the others with 'etcdadm member remove --force'",
    });
  return removed;
}
