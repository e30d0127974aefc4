/**
 * `etcdadm upgrade apply --version X`: move this host's member to etcd X, one member of a rolling upgrade. Phases:
 * preflight, download, snapshot, leadership, configure, install, restart, health, record.
 * Nothing stops before X is downloaded and verified and a snapshot is on disk; the member hands leadership away
 * before it restarts; etcd.env and etcdctl.env are rendered for X (each version's flag spelling) before the binaries
 * switch; the restart is the only time the member does not serve. The host record notes the upgrade under way before
 * anything changes, so the same command after a crash resumes it (its own member may be down then) and ends with the
 * member on X — the data dir is never touched.
 */
import { join } from 'node:path';
import { PATHS } from '../config/defaults.js';
import type { Plan } from '../config/types.js';
import { compareVersions, minorOf } from '../config/version.js';
import { waitQuorumRead, waitServing } from '../cluster/health.js';
import type { ClusterStatus, MemberStatus } from '../cluster/status.js';
import { cancelDowngrade, enableDowngrade } from '../cluster/downgrade.js';
import { blockedMessage, planUpgrade, type UpgradePlan } from '../cluster/upgrade.js';
import { httpVersion } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import { offeredVersions, offersVersion, type Offered } from '../release/available.js';
import type { PhaseContext, RunContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { runningEnv } from '../initsystem/index.js';
import { clusterFactsOf, renderEnvFile, renderEtcdctlEnv } from '../service/render.js';
import { testHold } from '../host/testhooks.js';
import { sleep } from '../util/retry.js';
import { refuse } from './preflight.js';
import { takeSnapshot } from './snapshot.js';
import { installPhase, leadershipPhase, recordFacts, selfIn, waitOptions } from './shared.js';
import { installedVersion } from '../release/index.js';

export interface UpgradeObservation {
  status: ClusterStatus;
  clusterVersion: string | null;
  offered: Offered;
  targetOffered: boolean | undefined;
  /** This host's member: its recorded ID and name. */
  selfId: string | undefined;
  selfName: string;
  /** The upgrade the host record says is under way here. */
  inProgress: { from: string; to: string } | undefined;
}

export type UpgradeDecision =
  | { kind: 'refuse'; message: string; hint: string; exitCode?: number }
  | { kind: 'done'; why: string; upgrade: UpgradePlan }
  | { kind: 'go'; upgrade: UpgradePlan; self: MemberStatus; from: string };

export { selfIn };

/** Pure: what `upgrade apply` does on this host. */
export function decideUpgradeApply(plan: Plan, w: UpgradeObservation): UpgradeDecision {
  const to = plan.release.version;
  const self = selfIn(w.status.members, w.selfId, w.selfName);
  if (!self)
    return { kind: 'refuse', message: `this host's member ${w.selfName} is not a member of the cluster`, hint: "run 'etcdadm status' to see the members; upgrade runs on a member host" };
  const resuming = w.inProgress?.to === to ? self.name || self.id : undefined;
  const upgrade = planUpgrade({
    members: w.status.members,
    clusterVersion: w.clusterVersion,
    target: to,
    targetOffered: w.targetOffered,
    releaseUrl: plan.release.releaseUrl,
    offered: 'versions' in w.offered ? w.offered.versions : undefined,
    extraArgs: plan.etcd.extraArgs,
    ...(resuming ? { resuming } : {}),
    ...(w.status.downgrade ? { downgrade: w.status.downgrade } : {}),
  });
  if (upgrade.blockers.length) return { kind: 'refuse', ...blockedMessage(upgrade) };
  if (self.version === to && self.health === 'healthy' && !w.inProgress)
    return { kind: 'done', why: `member ${self.name} already runs etcd ${to}`, upgrade };
  const from = w.inProgress?.to === to ? w.inProgress.from : (self.version ?? upgrade.from ?? to);
  return { kind: 'go', upgrade, self, from };
}

/**
 * What `upgrade plan` and `upgrade apply` observe, once, the same way: every member's status, the cluster version,
 * the versions the release URL offers and whether the target is offered. The target is the plan's version (apply,
 * plan --version) or, for `upgrade plan` without one, what `choose` proposes from what it saw.
 */
export async function observeUpgrade(
  ctx: PhaseContext,
  opts: { serializable?: boolean; choose?: (status: ClusterStatus, offered: Offered) => string | undefined } = {},
): Promise<UpgradeObservation & { target: string | undefined }> {
  const { plan, record } = ctx;
  const h = await ctx.cluster();
  const timeout = plan.release.connectTimeoutMs;
  const [status, offered] = await Promise.all([
    opts.serializable ? h.status({ serializable: true }) : h.status({ refresh: true }),
    offeredVersions(ctx.host, plan.release.releaseUrl, timeout),
  ]);
  const target = opts.choose ? opts.choose(status, offered) : plan.release.version;
  const answering = status.members.find((m) => m.health === 'healthy' && m.endpoint)?.endpoint;
  const [clusterVersion, targetOffered] = await Promise.all([
    answering ? httpVersion(answering, h.tls).then((v) => v.cluster, () => null) : Promise.resolve(null),
    target ? offersVersion(ctx.host, plan.release.releaseUrl, target, timeout).catch(() => undefined) : Promise.resolve(undefined),
  ]);
  const up = record.facts?.upgrade;
  return { status, clusterVersion, offered, targetOffered, target, selfId: record.facts?.memberId, selfName: plan.member.name, inProgress: up ? { from: up.from, to: up.to } : undefined };
}

const preflight: Phase = phase<UpgradeObservation, UpgradeDecision>({
  name: 'preflight',
  short: "Check the whole cluster against etcd's upgrade rules; refuse with every blocker before anything changes",
  long: 'The same checks as `etcdadm upgrade plan`: one minor at a time, the minimum patch a guide requires, every member up and voting, no alarm, no flag the target removed, the target offered by the release URL.',
  observe: (ctx) => observeUpgrade(ctx),
  decide: decideUpgradeApply,
  async act(ctx, d) {
    const { log, plan } = ctx;
    if (d.kind === 'refuse') refuse(d);
    for (const w of d.upgrade.warnings) log.warn(w);
    if (d.kind === 'done') {
      await recordFacts(ctx, {});
      return { done: d.why };
    }
    // a resumed run keeps what the interrupted one did (its snapshot, its raft snapshot); the members' client URLs
    // are noted so that a re-run reaches the cluster while this member is down
    const same = ctx.record.facts?.upgrade?.to === plan.release.version ? ctx.record.facts.upgrade : undefined;
    const clusterEndpoints = d.upgrade.steps.length ? (await (await ctx.cluster()).members()).members.flatMap((m) => m.clientURLs) : [];
    await ctx.record.update({ upgrade: { ...same, from: d.from, to: plan.release.version }, ...(clusterEndpoints.length ? { clusterEndpoints } : {}) });
    log.info(`Upgrading member ${d.self.name} from etcd ${d.from} to ${plan.release.version}`);
  },
});

const download: Phase = phase<undefined, undefined>({
  name: 'download',
  short: 'Download the target release and verify its SHA-256 (nothing stops when this fails)',
  async act(ctx) {
    await ctx.download(ctx.plan.release, ctx.log);
  },
});

const snapshot: Phase = phase<string | undefined, undefined>({
  name: 'snapshot',
  short: `Save a snapshot into ${PATHS.backupDir} before the member is touched`,
  async runIf(ctx) {
    const taken = ctx.record.facts?.upgrade?.snapshot;
    return taken && (await ctx.host.exists(taken)) ? `this upgrade's snapshot is on disk already: ${taken}` : true;
  },
  dryRun: (ctx) => [`save a snapshot of ${ctx.plan.member.name} (or, while it is down, of a healthy member) into ${PATHS.backupDir} (0600, with its sidecar)`],
  async act(ctx) {
    const { plan } = ctx;
    const up = ctx.record.facts?.upgrade;
    const h = await ctx.cluster();
    const st = await h.status({ refresh: true });
    // this member's own data, or (its etcd down while an interrupted run resumes) any healthy member's: one cluster
    const self = selfIn(st.members, ctx.record.facts?.memberId, plan.member.name);
    const source = self?.health === 'healthy' && self.endpoint ? self : st.members.find((m) => m.health === 'healthy' && m.endpoint);
    if (!source?.endpoint) throw new EtcdadmError('no member answers for a snapshot', { hint: 'bring the cluster back, then run the command again' });
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
    const path = join(PATHS.backupDir, `${plan.member.name}-v${up?.from ?? 'unknown'}-to-v${plan.release.version}-${stamp}.db`);
    await takeSnapshot(ctx, source.endpoint, path);
    await ctx.record.update({ upgrade: { ...up, from: up?.from ?? 'unknown', to: plan.release.version, snapshot: path } });
  },
});

/**
 * A one-minor downgrade, as etcd's downgrade guides describe it: the first member's run validates and enables the
 * downgrade through etcd's API (the cluster version drops to the target minor at once), and every member waits until
 * its db file's storage version has followed before it moves to the older binary (an older etcd cannot open a newer
 * db). The downgrade completes by itself once every member runs the older version.
 */
const downgrade: Phase = phase<{ running: string | null; storage: string | null; enabled: string | null }, 'enable' | 'wait' | string>({
  name: 'downgrade',
  short: "Downgrades only: enable the downgrade through etcd's API (once), wait until this member's storage version follows",
  async observe(ctx) {
    const h = await ctx.cluster();
    const st = await h.status({ refresh: true });
    const self = selfIn(st.members, ctx.record.facts?.memberId, ctx.plan.member.name);
    return { running: self?.version ?? null, storage: self?.storageVersion ?? null, enabled: st.downgrade?.targetVersion ?? null };
  },
  decide(plan, w) {
    if (!w.running) return 'this member is not running (an interrupted run goes on)';
    if (compareVersions(minorOf(plan.release.version) + '.0', minorOf(w.running) + '.0') >= 0) return 'not a downgrade';
    return w.enabled ? 'wait' : 'enable';
  },
  dryRun: (ctx, d) =>
    d !== 'enable' && d !== 'wait' ? [`nothing: ${d}`] : [`${d === 'enable' ? `enable the downgrade of the cluster to ${minorOf(ctx.plan.release.version)} through etcd's API, then ` : ''}wait until the storage version of ${ctx.plan.member.name} is ${minorOf(ctx.plan.release.version)}.0`],
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d !== 'enable' && d !== 'wait') {
      log.info(`Skipped: ${d}`);
      return;
    }
    const h = await ctx.cluster();
    const target = minorOf(plan.release.version);
    if (d === 'enable') await enableDowngrade(h, target, log);
    else log.info(`The downgrade to ${target} is enabled already`);
    const want = `${target}.0`;
    const url = plan.member.urls.localClient;
    const deadline = Date.now() + plan.healthTimeoutMs;
    for (;;) {
      const own = await h.client.status(url).catch(() => undefined);
      if (own && (own.storageVersion === want || own.storageVersion === '')) break;
      if (Date.now() > deadline) throw new EtcdadmError(`the storage version of ${plan.member.name} did not follow the downgrade to ${want} within ${plan.healthTimeoutMs / 1000} s (it is ${own?.storageVersion ?? 'unknown'})`, { hint: 'run the command again; etcdadm upgrade cancel ends the downgrade' });
      await sleep(200);
    }
    log.info(`The storage version of ${plan.member.name} is ${want}`);
  },
});

/** The cluster facts of the env file etcd runs with now (ignored by etcd after its first start, kept as written). */
async function currentClusterFacts(ctx: RunContext) {
  return clusterFactsOf(await runningEnv(ctx.host, ctx.plan), ctx.plan.files.envFile, ctx.record.facts?.clusterToken);
}

/** Index of the newest raft snapshot file (<term>-<index>.snap, hex) in the member's snap dir; -1 when none. */
async function newestSnapIndex(ctx: RunContext): Promise<bigint> {
  const names = (await ctx.host.list(join(ctx.plan.member.dataDir, 'member', 'snap'))) ?? [];
  let best = -1n;
  for (const n of names) {
    const m = /^[0-9a-f]{16}-([0-9a-f]{16})\.snap$/.exec(n);
    if (m && BigInt(`0x${m[1]}`) > best) best = BigInt(`0x${m[1]}`);
  }
  return best;
}

/**
 * 3.6 → 3.7 only. etcd 3.7 cannot apply raft log entries that etcd 3.5 wrote (it panics: "unmarshal should never
 * fail"), and a member replays its log from its last raft snapshot, which etcd 3.6 takes only every 10000 entries
 * (--snapshot-count). So a member whose data once ran 3.5 is restarted on 3.6 once with --snapshot-count=1: it takes
 * a raft snapshot right away, and then its log holds only entries written since. (Measured on the lab's etcd 3.6.16
 * and 3.7.3; etcd's upgrade guide does not mention it.)
 */
const walSnapshot: Phase = phase<{ running: string | null; installed: string | undefined; done: boolean }, 'run' | string>({
  name: 'raft-snapshot',
  short: '3.6 to 3.7 only: restart once on 3.6 with --snapshot-count=1, so that etcd 3.7 replays no entry etcd 3.5 wrote',
  async observe(ctx) {
    const h = await ctx.cluster();
    const running = await httpVersion(ctx.plan.member.urls.localClient, h.tls, { timeoutMs: 2000 }).then((v) => v.server, () => null);
    return { running, installed: await installedVersion(ctx.host, ctx.plan.install.binaries.etcd), done: ctx.record.facts?.upgrade?.raftSnapshot === true };
  },
  decide(plan, w) {
    if (minorOf(plan.release.version) !== '3.7') return 'not an upgrade to 3.7';
    if (w.done) return 'this upgrade took it already';
    // a run killed during this restart resumes it: etcd 3.6 is still the installed binary then
    const on36 = (v: string | null | undefined) => !!v && minorOf(v) === '3.6';
    if (on36(w.running) || (!w.running && on36(w.installed))) return 'run';
    return `the member runs etcd ${w.running ?? w.installed ?? 'unknown'}`;
  },
  dryRun: (ctx, d) => (d === 'run' ? [`restart ${ctx.plan.service.unitName} once on etcd 3.6 with ETCD_SNAPSHOT_COUNT=1 and wait for a new raft snapshot`] : [`nothing: ${d}`]),
  async act(ctx, d) {
    const { plan, host, log } = ctx;
    if (d !== 'run') {
      log.info(`Skipped: ${d}`);
      return;
    }
    const before = await newestSnapIndex(ctx);
    const text = (await host.read(plan.files.envFile)) ?? '';
    const once = text.replace(/^ETCD_SNAPSHOT_COUNT=.*\n?/m, '') + 'ETCD_SNAPSHOT_COUNT=1\n';
    await host.write(plan.files.envFile, once, { mode: 0o644 });
    log.info(`Restarting ${plan.service.unitName} on etcd 3.6 with ETCD_SNAPSHOT_COUNT=1 for a raft snapshot`);
    await ctx.init.restart(plan);
    const deadline = Date.now() + plan.healthTimeoutMs;
    while ((await newestSnapIndex(ctx)) <= before) {
      if (Date.now() > deadline) throw new EtcdadmError(`etcd took no raft snapshot within ${plan.healthTimeoutMs / 1000} s`, { hint: `${ctx.init.logHint(plan)}; then run the command again` });
      await sleep(100);
    }
    const up = ctx.record.facts?.upgrade;
    if (up) await ctx.record.update({ upgrade: { ...up, raftSnapshot: true } });
    log.info(`etcd took a raft snapshot at index ${await newestSnapIndex(ctx)}`);
  },
});

const configure: Phase = phase<undefined, undefined>({
  name: 'configure',
  short: "Render etcd.env and etcdctl.env for the target version (that version's flag names)",
  async act(ctx) {
    const { plan, host, log } = ctx;
    await host.write(plan.files.envFile, renderEnvFile(plan, await currentClusterFacts(ctx)), { mode: 0o644 });
    await host.write(plan.files.etcdctlEnvFile, renderEtcdctlEnv(plan), { mode: 0o600 });
    log.info(`Wrote ${plan.files.envFile} and ${plan.files.etcdctlEnvFile} for etcd ${plan.release.version}`);
  },
});

const install: Phase = { ...installPhase, short: 'Switch the binaries in the install dir to the target version' };

const restart: Phase = phase<string | null, 'restart' | 'keep'>({
  name: 'restart',
  short: 'Restart etcd on the new binary (the member does not serve from the stop until it is healthy again)',
  commits: 'the member runs the target version: a failure after this is finished by running upgrade apply again',
  async observe(ctx) {
    const h = await ctx.cluster();
    return httpVersion(ctx.plan.member.urls.localClient, h.tls, { timeoutMs: 2000 }).then((v) => v.server, () => null);
  },
  decide: (plan, running) => (running === plan.release.version ? 'keep' : 'restart'),
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d === 'keep') {
      log.info(`etcd ${plan.release.version} runs already`);
      return;
    }
    // a static Pod: the manifest, rewritten for the target's image, is what makes the kubelet restart the member
    log.info(plan.service.initSystem === 'systemd' ? `Restarting ${plan.service.unitName}` : `Rewriting the static Pod ${plan.service.podManifestFile} for etcd ${plan.release.version}; the kubelet restarts the member`);
    await ctx.init.restart(plan, () => testHold('upgrade-stopped'));
  },
});

/** Wait until this member serves, runs the target version and has applied what the leader had committed. */
async function waitCaughtUp(ctx: RunContext): Promise<void> {
  const { plan } = ctx;
  const h = await ctx.cluster();
  const url = plan.member.urls.localClient;
  const deadline = Date.now() + plan.healthTimeoutMs;
  let leaderUrl: string | undefined;
  let target: bigint | undefined;
  let why = '';
  while (Date.now() < deadline) {
    const own = await h.client.status(url).catch((e: unknown) => e as Error);
    if (own instanceof Error) why = describe(own);
    else if (own.version !== plan.release.version) why = `it reports etcd ${own.version}`;
    else {
      // the leader's committed index once, then this member's applied index until it got there
      if (target === undefined) {
        leaderUrl ??= (await h.status({ refresh: true }).catch(() => undefined))?.members.find((m) => m.role === 'leader')?.endpoint ?? undefined;
        const leader = leaderUrl ? await h.client.status(leaderUrl).catch(() => undefined) : undefined;
        if (leader) target = leader.raftIndex;
        else leaderUrl = undefined;
      }
      if (target !== undefined && own.raftAppliedIndex >= target) return;
      why = `applied index ${own.raftAppliedIndex}, the leader's committed index ${target ?? 'unknown'}`;
    }
    if (own instanceof Error) {
      // not answering: has it died? (asked only then: the init system is slow to ask)
      const down = await ctx.init.down(plan);
      if (down) throw new EtcdadmError(`etcd at ${url} is not running: ${down}`, { hint: ctx.init.logHint(plan) });
    }
    await sleep(50);
  }
  throw new EtcdadmError(`member at ${url} did not catch up on etcd ${plan.release.version} within ${plan.healthTimeoutMs / 1000} s: ${why}`, { hint: ctx.init.logHint(plan) });
}

/** After a restart: until this member serves, has caught up with the leader on the plan's version and answers a quorum read. */
export async function waitRejoined(ctx: RunContext): Promise<void> {
  const h = await ctx.cluster();
  await waitServing(h, ctx.plan.member.urls.localClient, waitOptions(ctx));
  await h.timed(() => waitCaughtUp(ctx));
  await waitQuorumRead(h, ctx.plan.member.urls.localClient, waitOptions(ctx));
}

const health: Phase = phase<undefined, undefined>({
  name: 'health',
  short: 'Wait until the member serves, has caught up with the leader and reports the target version',
  dryRun: (ctx) => [`wait until ${ctx.plan.member.name} serves, has caught up with the leader and reports etcd ${ctx.plan.release.version}`],
  async act(ctx) {
    await waitRejoined(ctx);
    ctx.log.info(`Member ${ctx.plan.member.name} serves on etcd ${ctx.plan.release.version} and has caught up with the leader`);
  },
});

/** The cluster version once every member runs the target minor (etcd moves it within seconds), else as it is. */
async function reportClusterVersion(ctx: RunContext): Promise<void> {
  const { plan, log } = ctx;
  const h = await ctx.cluster();
  const st = await h.status({ refresh: true });
  const behind = st.members.filter((m) => !m.version || minorOf(m.version) !== minorOf(plan.release.version) || compareVersions(m.version, plan.release.version) < 0);
  const url = plan.member.urls.localClient;
  const read = () => httpVersion(url, h.tls).then((v) => v.cluster, () => 'unknown');
  if (behind.length) {
    log.info(`The cluster version is ${await read()}; ${behind.length} member(s) still to move: ${behind.map((m) => `${m.name} (${m.version ?? 'down'})`).join(', ')}`);
    return;
  }
  const want = `${minorOf(plan.release.version)}.0`;
  let cv = await read();
  for (let i = 0; i < 75 && cv !== want; i++) {
    await sleep(200);
    cv = await read();
  }
  log.info(cv === want ? `Every member runs etcd ${plan.release.version}: the cluster version is now ${cv}` : `Every member runs etcd ${plan.release.version}; the cluster version is still ${cv} (etcd moves it shortly)`);
}

const recordPhase: Phase = phase<undefined, undefined>({
  name: 'record',
  short: 'Record the new version in the host record and report the cluster version',
  dryRun: (ctx) => [`record etcd ${ctx.plan.release.version} in ${PATHS.recordFile} and report the cluster version`],
  async act(ctx) {
    await recordFacts(ctx, { endUpgrade: true });
    await reportClusterVersion(ctx);
  },
});

export const UPGRADE_APPLY_PHASES: readonly Phase[] = [preflight, download, snapshot, downgrade, leadershipPhase, walSnapshot, configure, install, restart, health, recordPhase];

// ------------------------------------------------------------------ cancel

const cancel: Phase = phase<{ target: string } | undefined, 'cancel' | 'nothing'>({
  name: 'cancel',
  short: "Cancel the downgrade in progress through etcd's downgrade API (nothing when none is)",
  async observe(ctx) {
    const st = await (await ctx.cluster()).status({ refresh: true });
    return st.downgrade ? { target: st.downgrade.targetVersion } : undefined;
  },
  decide: (_plan, w) => (w ? 'cancel' : 'nothing'),
  async act(ctx, d) {
    if (d === 'nothing') {
      ctx.log.info('No downgrade is in progress: nothing to cancel');
      return;
    }
    const h = await ctx.cluster();
    const st = await h.status();
    await cancelDowngrade(h, st.downgrade?.targetVersion ?? 'its target', ctx.log);
  },
});

export const UPGRADE_CANCEL_PHASES: readonly Phase[] = [cancel];
