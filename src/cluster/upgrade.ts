/**
 * Rolling upgrades, decided purely: from what the cluster reports (every member's version, role, health, alarms, the
 * cluster version) and what this host knows (its config's extra flags, what the release URL offers), the kind of
 * move, the ordered steps and every blocker with its fix. `etcdadm upgrade plan` prints this; `upgrade apply`
 * refuses with the same words. The rules are etcd's upgrade guides': one minor at a time; 3.5 → 3.6 only from
 * 3.5.26 or later, 3.6 → 3.7 from 3.6.11; every member up and voting; no active alarm; no flag the target removed (--enable-v2 in
 * particular, whose v2 store must hold no custom data: `etcdutl check v2store`). A one-minor downgrade (3.6 → 3.5,
 * 3.7 → 3.6) goes through etcd's downgrade API, as its downgrade guides describe.
 */
import { describeRename, isKnownEtcdFlag, renamedFlag } from '../config/etcd-flags.js';
import { atLeastMinor, compareVersions, minorOf, parseVersion } from '../config/version.js';
import type { MemberStatus } from './status.js';

/**
 * The patch every member of the older minor must run before moving to a minor (key). etcd's "Upgrade etcd from v3.5
 * to v3.6" guide: "make sure that all of your 3.5 members are updated to 3.5.26 or later. Patch releases 3.5.24
 * through 3.5.26 fix several potential upgrade blockers." (earlier editions said 3.5.20; the newer bound is kept).
 */
export const MINIMUM_PATCH_BEFORE: Readonly<Record<string, string>> = {
  '3.6': '3.5.26',
  // "Upgrade etcd from v3.6 to v3.7": "make sure that all of your 3.6 members are updated to 3.6.11 or later"
  '3.7': '3.6.11',
};

export interface Blocker {
  problem: string;
  fix: string;
}

export interface UpgradeWorld {
  members: readonly Pick<MemberStatus, 'name' | 'id' | 'role' | 'health' | 'version' | 'isLearner' | 'alarms' | 'error'>[];
  /** What GET /version calls etcdcluster ("3.5.0"), when a member answered. */
  clusterVersion: string | null;
  target: string;
  /** Whether the release URL has the target; undefined when that could not be checked. */
  targetOffered: boolean | undefined;
  releaseUrl: string;
  /** The versions the release URL offers, when listed (for the newest-patch advice and the fixes). */
  offered: readonly string[] | undefined;
  /** etcd.extraArgs of this host's configuration. */
  extraArgs: Readonly<Record<string, string>>;
  /** This host's member, whose interrupted `upgrade apply` to the target is being resumed: it may be down. */
  resuming?: string;
  /** A downgrade enabled through etcd's downgrade API, to this cluster version ("3.5.0"). */
  downgrade?: { targetVersion: string };
}

export type MoveKind = 'none' | 'patch' | 'minor-upgrade' | 'minor-downgrade';

export interface UpgradeStep {
  member: string;
  from: string | null;
  to: string;
  role: MemberStatus['role'];
  done: boolean;
}

export interface UpgradePlan {
  kind: MoveKind;
  /** The version the members not yet on the target run (the lowest of them); null when none answered. */
  from: string | null;
  to: string;
  /** Followers first, the leader last; members already on the target are marked done. */
  steps: UpgradeStep[];
  blockers: Blocker[];
  warnings: string[];
}

const newestOf = (versions: readonly string[], minor: string): string | undefined =>
  versions.filter((v) => minorOf(v) === minor).sort(compareVersions).at(-1);

/** The kind of move from `from` to `to`, or a blocker when etcd does not allow it in one step. */
export function moveKind(from: string, to: string): { kind: MoveKind } | { blocker: Blocker } {
  const a = parseVersion(from)!;
  const b = parseVersion(to)!;
  if (compareVersions(from, to) === 0) return { kind: 'none' };
  if (a.major !== b.major)
    return { blocker: { problem: `etcd ${from} cannot move to ${to}: a different major version`, fix: `stay on etcd ${a.major}.x` } };
  const minors = b.minor - a.minor;
  if (minors === 0) return { kind: 'patch' };
  if (minors === 1) return { kind: 'minor-upgrade' };
  if (minors === -1) return { kind: 'minor-downgrade' };
  const next = `${a.major}.${a.minor + Math.sign(minors)}`;
  return {
    blocker: {
      problem: `etcd ${from} cannot ${minors > 0 ? 'upgrade' : 'downgrade'} to ${to} in one step: etcd moves one minor version at a time`,
      fix: `${minors > 0 ? 'upgrade' : 'downgrade'} every member to the newest ${next} patch first, then to ${to}`,
    },
  };
}

/** Followers (and anything not leading) first, by name; the leader last. */
function orderSteps(members: UpgradeWorld['members'], to: string): UpgradeStep[] {
  const rank = (m: UpgradeWorld['members'][number]) => (m.role === 'leader' ? 1 : 0);
  return [...members]
    .sort((x, y) => rank(x) - rank(y) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    .map((m) => ({ member: m.name || m.id, from: m.version, to, role: m.role, done: m.version === to }));
}

export function planUpgrade(w: UpgradeWorld): UpgradePlan {
  const blockers: Blocker[] = [];
  const warnings: string[] = [];
  const to = w.target;
  const answering = w.members.filter((m) => m.version !== null);
  const present = [...new Set(answering.map((m) => m.version!))].sort(compareVersions);
  const notThere = present.filter((v) => v !== to);
  const from = notThere[0] ?? (present.length ? to : null);
  const steps = orderSteps(w.members, to);
  let kind: MoveKind = 'none';

  if (from) {
    const k = moveKind(from, to);
    if ('blocker' in k) blockers.push(k.blocker);
    else kind = k.kind;
  }
  // downgrades: through etcd's downgrade API, which etcd 3.6 introduced for 3.6 → 3.5 (and 3.7 → 3.6)
  if (kind === 'minor-downgrade' && from && !atLeastMinor(from, 3, 6))
    blockers.push({ problem: `etcd ${from} cannot be downgraded to ${to}: etcd supports downgrades from 3.6 on (its downgrade guides cover 3.6 → 3.5 and 3.7 → 3.6)`, fix: `restore a snapshot taken on ${minorOf(to)} instead` });
  if (w.downgrade && (kind !== 'minor-downgrade' || minorOf(w.downgrade.targetVersion) !== minorOf(to)))
    blockers.push({
      problem: `a downgrade to ${minorOf(w.downgrade.targetVersion)} is in progress`,
      fix: `continue it (etcdadm upgrade apply --version <a ${minorOf(w.downgrade.targetVersion)} patch> on each member) or cancel it: etcdadm upgrade cancel`,
    });

  // members on different versions: only a move already under way towards the target may continue
  if (notThere.length > 1)
    blockers.push({
      problem: `the members run different versions (${present.join(', ')}) outside an upgrade to ${to}`,
      fix: `bring every member to one version first (${present.at(-1)} is the newest running)`,
    });

  // the minimum patch the guide requires before the next minor
  const minimum = kind === 'minor-upgrade' ? MINIMUM_PATCH_BEFORE[minorOf(to)] : undefined;
  if (minimum) {
    const below = answering.filter((m) => m.version !== to && compareVersions(m.version!, minimum) < 0);
    if (below.length)
      blockers.push({
        problem: `etcd's ${minorOf(from!)} → ${minorOf(to)} upgrade guide requires ${minimum} or later on every member; ${below.map((m) => `${m.name} runs ${m.version}`).join(', ')}`,
        fix: `upgrade every member to ${w.offered ? (newestOf(w.offered, minorOf(minimum)) ?? minimum) : `${minimum} or later`} first (etcdadm upgrade apply --version <that patch>, member by member)`,
      });
  }
  if (kind === 'minor-upgrade' && w.offered && from) {
    const newest = newestOf(w.offered, minorOf(from));
    if (newest && compareVersions(newest, from) > 0)
      warnings.push(`etcd recommends the newest ${minorOf(from)} patch (${newest}) on every member before a minor upgrade; the members run ${notThere.join(', ')}`);
  }

  const voters = w.members.filter((m) => !m.isLearner).length;
  if (kind !== 'none' && voters <= 2)
    warnings.push(`a cluster of ${voters} voting member${voters === 1 ? '' : 's'} has no fault tolerance: it does not serve while each member restarts`);
  for (const m of w.members) {
    const name = m.name || m.id;
    if (m.health !== 'healthy' && name !== w.resuming)
      blockers.push({ problem: `member ${name} is ${m.health}${m.error ? ` (${m.error})` : ''}`, fix: `bring ${name} back (or remove it: etcdadm member remove ${m.id}) before upgrading` });
    if (m.isLearner)
      blockers.push({ problem: `member ${name} is a learner, not yet promoted`, fix: `let its join finish (etcdadm join promotes it) or remove it: etcdadm member remove ${m.id}` });
  }
  const alarms = [...new Set(w.members.flatMap((m) => m.alarms))];
  for (const a of alarms)
    blockers.push({
      problem: `the cluster has an active ${a} alarm`,
      fix: a === 'NOSPACE' ? 'free space (compact, defragment, raise etcd.quotaBackendBytes), then disarm the alarm: etcdctl.sh alarm disarm' : 'find the corrupt member (etcdctl.sh endpoint hashkv --cluster), replace it, then disarm the alarm',
    });

  // flags of this host's configuration that the target removed
  for (const flag of Object.keys(w.extraArgs).sort()) {
    if (isKnownEtcdFlag(to, flag)) continue;
    if (flag === 'enable-v2')
      blockers.push({
        problem: `etcd.extraArgs sets enable-v2, which etcd ${minorOf(to)} removed`,
        fix: "run 'etcdutl check v2store' on each member's data dir; when it finds no custom data, remove enable-v2 from the configuration (etcd's 3.6 upgrade guide: v2 store)",
      });
    else {
      const r = renamedFlag(to, flag);
      blockers.push({
        problem: `etcd.extraArgs sets --${flag}, which etcd ${to} does not have`,
        fix: r ? `use ${describeRename(r)} instead (etcd ${r.since} renamed it)` : `remove ${flag} from etcd.extraArgs`,
      });
    }
  }

  if (w.targetOffered === false)
    blockers.push({
      problem: `${w.releaseUrl} has no etcd ${to}`,
      fix: w.offered?.length ? `choose a version it offers (newest: ${w.offered.at(-1)}) or pass --release-url` : 'choose a version the release URL has, or pass --release-url',
    });
  if (!answering.length) blockers.push({ problem: 'no member reported its version', fix: 'bring the members up first' });
  return { kind, from, to, steps, blockers, warnings };
}

/** The targets `upgrade plan` proposes without --version: the newest patch of the current minor and of the next. */
export function proposedTargets(current: string, offered: readonly string[]): { patch?: string; minor?: string } {
  const v = parseVersion(current)!;
  const patch = newestOf(offered, minorOf(current));
  const minor = newestOf(offered, `${v.major}.${v.minor + 1}`);
  return {
    ...(patch && compareVersions(patch, current) > 0 ? { patch } : {}),
    ...(minor ? { minor } : {}),
  };
}

/** One line for a refusal: every blocker, with its fix. */
export function blockedMessage(p: Pick<UpgradePlan, 'to' | 'blockers'>): { message: string; hint: string } {
  return {
    message: `the upgrade to etcd ${p.to} is blocked: ${p.blockers.map((b) => b.problem).join('; ')}`,
    hint: p.blockers.map((b) => b.fix).join('; '),
  };
}
