/**
 * `etcdadm apply`: what it takes to make the hosts match the Cluster document, decided from what apply read on the
 * hosts (their host records) and in the cluster (its member list) — the operator's machine keeps no state. Pure;
 * the steps run one at a time through the same cluster/ rules as the host commands.
 *
 * The rules:
 * - Refused before anything changes: a host of the document that cannot be read; a host whose record names another
 *   cluster (it would mix two clusters); a host set up by another tool without a record (`etcdadm adopt` there first);
 *   removing a majority of the voting members in one apply (quorum would not survive it: remove fewer per apply);
 *   a version etcd cannot move to in one step (one minor at a time); records of one cluster but no member answering.
 * - No cluster yet (no host has a record): one `bootstrap` step — every host prepared at once and every member
 *   started together with the full initial cluster (no join by join).
 * - Later: membership one change at a time — the members whose hosts left the document and that do not answer are
 *   removed first (with a dead voting member etcd refuses any add), then the new hosts join (learner first,
 *   promoted), then the members that still answer are removed (and their hosts reset), each after the one before
 *   has finished. A host replaced (same name, another address) is the removal of the old member then the join of the
 *   new host, in that order. Then the version (the rolling upgrade or one-minor downgrade, snapshot first, leader
 *   last), then changed settings (the new etcd.env member by member, leader last), then certificates due for renewal,
 *   then the timers (backups, defrag) where they differ from the document.
 * - Nothing to change: no step, and apply says so.
 */
import { moveKind } from './upgrade.js';
import { quorumSize } from './quorum.js';

/** What apply read on one host of the document. */
export interface HostView {
  /** hosts[i] of the document. */
  index: number;
  address: string;
  /** The member name: the document's, else the host's hostname. */
  name: string;
  /** Why the host could not be read; undefined when it was. */
  unreachable?: string;
  /** Its host record, when it has one. */
  record?: {
    clusterId?: string;
    memberName: string;
    complete: boolean;
    etcdVersion: string;
  };
  /** A member set up by another tool (etcdadm v0.1.x) without a record. */
  foreign?: string;
  /** What of its etcd.env differs from what the document makes of it (the settings changed): the keys, or `KEY: a → b`. */
  settingsDiffer?: string[];
  /** Why the document's settings cannot reach it by a restart (etcdadm reconfigure's refusal). */
  settingsRefusal?: { message: string; hint: string };
  /** Its certificates within the document's pki.renewBeforeDays (or expired): their names. */
  certsDue?: string[];
  /** Its timers (backups, defrag, renewal) that differ from the document. */
  timersDiffer?: TimerChange[];
}

export interface MemberView {
  id: string;
  name: string;
  /** The hosts of its peer URLs (IP addresses or names). */
  peerHosts: string[];
  isLearner: boolean;
  /** Answers (started and serving). */
  healthy: boolean;
}

export interface ClusterView {
  clusterId: string;
  members: MemberView[];
  /** The version the members run (the lowest; null when none answered). */
  version: string | null;
}

export interface ConvergeInput {
  hosts: HostView[];
  /** The cluster the records name, read through their members; undefined when no member answered or none exists. */
  cluster?: ClusterView;
  /** etcd.version of the document. */
  version: string;
}

export type Step =
  | { kind: 'bootstrap'; hosts: string[]; version: string; why: string }
  | { kind: 'remove'; member: string; id: string; host?: string; reset: boolean; why: string }
  | { kind: 'join'; host: string; why: string }
  | { kind: 'upgrade'; from: string; to: string; why: string }
  | { kind: 'reconfigure'; hosts: string[]; why: string }
  | { kind: 'renew-certs'; host: string; why: string }
  | { kind: 'timers'; host: string; why: string };

export type ConvergePlan = { kind: 'steps'; steps: Step[] } | { kind: 'nothing'; why: string } | { kind: 'refuse'; message: string; hint: string };

const refuse = (message: string, hint: string): ConvergePlan => ({ kind: 'refuse', message, hint });

/** The document's hosts against the cluster: who joins, who leaves, who is replaced. Pure. */
export function decideConverge(input: ConvergeInput): ConvergePlan {
  const { hosts, cluster } = input;
  const unreachable = hosts.find((h) => h.unreachable);
  if (unreachable)
    return refuse(`cannot read host ${unreachable.name} (${unreachable.address}): ${unreachable.unreachable}`, 'apply reads every host of the file before it changes anything: bring the host back, or remove it from the file');
  const foreign = hosts.find((h) => h.foreign);
  if (foreign)
    return refuse(`host ${foreign.name} (${foreign.address}) runs etcd set up by ${foreign.foreign} and has no host record`, `take it over first: etcdadm adopt on that host`);
  const fixed = hosts.find((h) => h.settingsRefusal);
  if (fixed) return refuse(`host ${fixed.name} (${fixed.address}): ${fixed.settingsRefusal!.message}`, fixed.settingsRefusal!.hint);
  const ids = [...new Set(hosts.map((h) => h.record?.clusterId).filter((x): x is string => !!x))];
  if (ids.length > 1) {
    const byId = ids.map((id) => `${id}: ${hosts.filter((h) => h.record?.clusterId === id).map((h) => h.name).join(', ')}`).join('; ');
    return refuse(`the hosts of the file belong to different clusters (${byId})`, 'one file is one cluster: remove the hosts of the other cluster from it (or reset them)');
  }
  const withRecord = hosts.filter((h) => h.record);
  if (!cluster) {
    if (withRecord.length > 0)
      return refuse(
        `${withRecord.map((h) => h.name).join(', ')} ${withRecord.length === 1 ? 'has a record' : 'have records'} of cluster ${ids[0] ?? '(unknown)'}, but no member of it answers`,
        'start etcd on those hosts (etcdadm status there says why it is down), or recover the cluster (etcdadm recover), then apply again',
      );
    return { kind: 'steps', steps: [{ kind: 'bootstrap', hosts: hosts.map((h) => h.name), version: input.version, why: `no host has a cluster yet: all ${hosts.length} members set up and started together` }] };
  }
  const other = hosts.find((h) => h.record?.clusterId && h.record.clusterId !== cluster.clusterId);
  if (other)
    return refuse(`host ${other.name} (${other.address}) belongs to cluster ${other.record!.clusterId}, not to cluster ${cluster.clusterId} of the other hosts`, 'remove it from the file, or reset it first (etcdadm reset on that host)');

  // membership: by name; a member of the document's name on another address is a replacement
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const steps: Step[] = [];
  const leaving = cluster.members.filter((m) => {
    const h = byName.get(m.name);
    return !h || !m.peerHosts.includes(h.address.replace(/^\[(.*)\]$/, '$1'));
  });
  const voters = cluster.members.filter((m) => !m.isLearner).length;
  const leavingVoters = leaving.filter((m) => !m.isLearner && !byName.has(m.name)).length;
  if (leavingVoters > 0 && leavingVoters >= quorumSize(voters))
    return refuse(
      `the file leaves out ${leavingVoters} of the ${voters} voting members (${leaving.filter((m) => !byName.has(m.name)).map((m) => m.name).sort().join(', ')}): removing a majority at once costs quorum`,
      `remove at most ${quorumSize(voters) - 1} per apply, or add their replacements first`,
    );
  const joining = hosts.filter((h) => !cluster.members.some((m) => m.name === h.name && m.peerHosts.includes(h.address.replace(/^\[(.*)\]$/, '$1'))));
  const removal = (m: MemberView): Step => {
    const replaced = byName.get(m.name);
    return {
      kind: 'remove',
      member: m.name,
      id: m.id,
      ...(replaced ? {} : m.peerHosts[0] ? { host: m.peerHosts[0] } : {}),
      reset: !replaced && m.healthy,
      why: replaced ? `${m.name} moves to ${replaced.address}: the member at ${m.peerHosts.join(',')} goes first` : `${m.name} is not in the file${m.healthy ? '' : ' (and does not answer)'}`,
    };
  };
  // the dead first (etcd refuses any add while a voting member is down), then the joins, then the live removals
  for (const m of leaving.filter((x) => !x.healthy || byName.has(x.name))) steps.push(removal(m));
  for (const h of joining) steps.push({ kind: 'join', host: h.name, why: cluster.members.some((m) => m.name === h.name) ? `${h.name} takes its place at ${h.address}` : `${h.name} (${h.address}) is new in the file` });
  for (const m of leaving.filter((x) => x.healthy && !byName.has(x.name))) steps.push(removal(m));

  // the version
  if (cluster.version && cluster.version !== input.version) {
    const move = moveKind(cluster.version, input.version);
    if ('blocker' in move) return refuse(move.blocker.problem, move.blocker.fix);
    if (move.kind !== 'none') steps.push({ kind: 'upgrade', from: cluster.version, to: input.version, why: `the file says etcd ${input.version}, the cluster runs ${cluster.version} (${move.kind})` });
  }
  const staying = hosts.filter((h) => h.record && !joining.includes(h));
  const changed = staying.filter((h) => h.settingsDiffer?.length);
  if (changed.length) steps.push({ kind: 'reconfigure', hosts: changed.map((h) => h.name), why: changed.map((h) => `${h.name}: ${h.settingsDiffer!.join(', ')}`).join('; ') });
  for (const h of staying.filter((x) => x.certsDue?.length)) steps.push({ kind: 'renew-certs', host: h.name, why: `${h.certsDue!.join(', ')} of ${h.name} within pki.renewBeforeDays of the file, or expired` });
  for (const h of staying.filter((x) => x.timersDiffer?.length)) steps.push({ kind: 'timers', host: h.name, why: `${h.name}: ${h.timersDiffer!.map((t) => t.line).join(', ')}` });
  if (steps.length === 0) return { kind: 'nothing', why: `cluster ${cluster.clusterId} matches the file: ${hosts.length} members on etcd ${cluster.version ?? input.version}, nothing to do` };
  return { kind: 'steps', steps };
}

/**
 * The next member of a rolling change (an upgrade, new settings): one that does not lead, by name, and the leader
 * only when it is the last one left — it restarts once, after every other member runs the change. Pure.
 */
export function nextInRoll(remaining: readonly string[], leader: string | undefined): string | undefined {
  const followers = remaining.filter((n) => n !== leader).sort();
  return followers[0] ?? remaining[0];
}

/** A timer of a member host to arm, re-arm or remove, so that its recorded settings match the document's. */
export interface TimerChange {
  timer: 'backup' | 'defrag' | 'cert-renewal';
  /** Armed (with the document's settings) or removed. */
  on: boolean;
  /** What changes, for the plan: `backups every 1h, keep 24 (now: none)`. */
  line: string;
}

/** The settings a host's timers run with (a slice of Settings). */
export interface TimerSettings {
  backup: { every: string; keep: number; dir: string; s3Bucket: string; s3Endpoint: string; s3Prefix: string };
  defrag: { every: string; threshold: string };
  pki: { autoRenew: boolean };
}

/**
 * Pure: the timers to change on a member host — each whose settings differ between what its record says it runs
 * (`recorded`: backup schedule, defrag --schedule, certs renew --schedule record theirs) and the document.
 */
export function timerChanges(recorded: TimerSettings, desired: TimerSettings): TimerChange[] {
  const out: TimerChange[] = [];
  const backup = (b: TimerSettings['backup']) => (b.every ? `every ${b.every}, keep ${b.keep} in ${b.dir}${b.s3Bucket ? `, to s3://${b.s3Bucket}/${b.s3Prefix}` : ''}` : 'none');
  if (backup(recorded.backup) !== backup(desired.backup) || (desired.backup.every && recorded.backup.s3Endpoint !== desired.backup.s3Endpoint))
    out.push({ timer: 'backup', on: !!desired.backup.every, line: `backups ${backup(desired.backup)} (now: ${backup(recorded.backup)})` });
  const defrag = (d: TimerSettings['defrag']) => (d.every ? `every ${d.every} above ${d.threshold} free` : 'none');
  if (defrag(recorded.defrag) !== defrag(desired.defrag)) out.push({ timer: 'defrag', on: !!desired.defrag.every, line: `rolling defrag ${defrag(desired.defrag)} (now: ${defrag(recorded.defrag)})` });
  if (recorded.pki.autoRenew !== desired.pki.autoRenew)
    out.push({ timer: 'cert-renewal', on: desired.pki.autoRenew, line: `daily certificate renewal ${desired.pki.autoRenew ? 'on' : 'off'} (now: ${recorded.pki.autoRenew ? 'on' : 'off'})` });
  return out;
}
