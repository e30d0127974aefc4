/**
 * `etcdadm reconfigure`: roll this host's member onto changed settings — the etcd.env (and etcdctl.env) it runs with
 * — one member of a rolling change, followers first and the leader last (what `etcdadm apply` runs on each member
 * host in turn). Phases: preflight, leadership, configure, restart, health, record. The rules of what changes and
 * what is refused are src/cluster/reconfigure.ts's.
 *
 * Nothing changes unless a variable of etcd.env or etcdctl.env does: then "nothing to change", not even the record.
 * Otherwise the member must be healthy and so must every other voting member (the cluster can afford this one
 * restarting); the record notes the reconfiguration under way, so that the same command after a crash finishes it
 * (its member may be down then). A failure up to the health check is rolled back through the run's journal: the
 * previous env files put back and etcd restarted on them.
 */
import { allChanges, changeLine, newFiles, restartRefusal, type NewFiles, type RunningFiles } from '../cluster/reconfigure.js';
import type { ClusterStatus, MemberStatus } from '../cluster/status.js';
import { EtcdadmError, describe } from '../errors.js';
import { runningEnv } from '../initsystem/index.js';
import { PATHS } from '../config/defaults.js';
import type { Plan, Settings } from '../config/types.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { renderEtcdctlWrapper } from '../service/render.js';
import { refuse } from './preflight.js';
import { leadershipPhase, recordFacts, selfIn } from './shared.js';
import { waitRejoined } from './upgrade.js';

/** The command's options: the settings this member was set up with (the host record's), to refuse what a restart cannot change. */
export interface ReconfigureOptions {
  recorded: Settings;
}

async function runningFiles(ctx: PhaseContext): Promise<RunningFiles> {
  const { host, plan } = ctx;
  return { env: await runningEnv(host, plan), etcdctlEnv: (await host.read(plan.files.etcdctlEnvFile)) ?? '', token: ctx.record.facts?.clusterToken };
}

export interface ReconfigureObservation extends RunningFiles {
  status: ClusterStatus;
  /** This host's member: its recorded ID and name. */
  selfId: string | undefined;
  selfName: string;
  /** An upgrade the host record says is under way here. */
  upgrade: { from: string; to: string } | undefined;
  /** The host record says a reconfiguration is under way here (a run that did not finish). */
  resuming: boolean;
}

export type ReconfigureDecision =
  | { kind: 'refuse'; message: string; hint: string; exitCode?: number }
  | { kind: 'nothing'; why: string }
  | { kind: 'go'; files: NewFiles; self: MemberStatus; resuming: boolean; warnings: string[]; clusterEndpoints: string[] };

const names = (ms: readonly MemberStatus[]) => ms.map((m) => `${m.name || m.id} (${m.health}${m.error ? `: ${m.error}` : ''})`).join(', ');

/** Pure: what `reconfigure` does on this host. */
export function decideReconfigure(plan: Plan, w: ReconfigureObservation, o: ReconfigureOptions): ReconfigureDecision {
  const files = newFiles(plan, w);
  const refusal = restartRefusal(o.recorded, plan.settings, allChanges(files));
  if (refusal) return { kind: 'refuse', ...refusal };
  const self = selfIn(w.status.members, w.selfId, w.selfName);
  if (!self)
    return { kind: 'refuse', message: `this host's member ${w.selfName} is not a member of the cluster`, hint: "run 'etcdadm status' to see the members; reconfigure runs on a member host" };
  if (w.upgrade)
    return {
      kind: 'refuse',
      message: `an upgrade of member ${self.name} from etcd ${w.upgrade.from} to ${w.upgrade.to} is under way (${PATHS.recordFile})`,
      hint: `finish it first: etcdadm upgrade apply --version ${w.upgrade.to}`,
    };
  if (allChanges(files).length === 0 && !w.resuming) return { kind: 'nothing', why: `Nothing to change: ${plan.files.envFile} and ${plan.files.etcdctlEnvFile} already hold these settings` };
  // a resumed run may find its own member down: the restart brings it back
  if (self.health !== 'healthy' && !w.resuming)
    return { kind: 'refuse', message: `member ${self.name} is ${self.health}${self.error ? ` (${self.error})` : ''}: reconfigure restarts a healthy member only`, hint: "see 'etcdadm status'; bring the member back first" };
  const down = w.status.members.filter((m) => m !== self && !m.isLearner && m.health !== 'healthy');
  if (down.length)
    return {
      kind: 'refuse',
      message: `the cluster cannot afford ${self.name} restarting: ${down.length === 1 ? 'voting member' : 'voting members'} ${names(down)} ${down.length === 1 ? 'is' : 'are'} not healthy`,
      hint: "bring them back first ('etcdadm status' says why they are down), then run reconfigure again",
    };
  const voters = w.status.members.filter((m) => !m.isLearner).length;
  const warnings =
    self.isLearner || voters > 2
      ? []
      : [voters === 1 ? `${self.name} is the only voting member: the cluster does not serve while it restarts` : `with 2 voting members the cluster has no quorum while ${self.name} restarts`];
  return { kind: 'go', files, self, resuming: w.resuming, warnings, clusterEndpoints: w.status.members.flatMap((m) => m.clientURLs) };
}

const preflight: Phase<ReconfigureOptions> = phase<ReconfigureObservation, ReconfigureDecision, ReconfigureOptions>({
  name: 'preflight',
  short: 'Decide what changes in etcd.env and etcdctl.env; refuse what a restart cannot change, or a member or cluster that cannot afford it',
  long: 'Nothing to change (no variable differs): the command ends here, changing nothing. Refused: another etcd version (upgrade apply), the member name, data and WAL dirs, peer URLs, certificate paths, the service and the install dir; this member not healthy, another voting member not healthy, an upgrade under way.',
  async observe(ctx) {
    const h = await ctx.cluster();
    const up = ctx.record.facts?.upgrade;
    return {
      ...(await runningFiles(ctx)),
      status: await h.status({ refresh: true }),
      selfId: ctx.record.facts?.memberId,
      selfName: ctx.plan.member.name,
      upgrade: up ? { from: up.from, to: up.to } : undefined,
      resuming: ctx.record.facts?.reconfigure !== undefined,
    };
  },
  decide: decideReconfigure,
  async act(ctx, d) {
    const { log, plan } = ctx;
    if (d.kind === 'refuse') refuse(d);
    if (d.kind === 'nothing') return { done: d.why };
    for (const w of d.warnings) log.warn(w);
    // the members' client URLs are noted so that a re-run reaches the cluster while this member is down
    await ctx.record.update({ reconfigure: ctx.record.facts?.reconfigure ?? { startedAt: new Date().toISOString() }, clusterEndpoints: d.clusterEndpoints });
    const keys = allChanges(d.files).map((c) => c.key);
    log.info(
      keys.length
        ? `Reconfiguring member ${d.self.name}: ${keys.length} variable${keys.length === 1 ? '' : 's'} change${keys.length === 1 ? 's' : ''} (${keys.join(', ')})`
        : `Finishing the reconfiguration of member ${d.self.name} that ${PATHS.recordFile} notes: ${plan.files.envFile} holds the new settings; restarting on them`,
    );
  },
});

type ConfigureDecision = { kind: 'refuse'; message: string; hint: string; exitCode?: number } | { kind: 'write'; files: NewFiles; wrapper: string | undefined };

const configure: Phase<ReconfigureOptions> = phase<RunningFiles & { wrapper: string | undefined }, ConfigureDecision, ReconfigureOptions>({
  name: 'configure',
  short: 'Write etcd.env and etcdctl.env for the new settings (atomically), each changed variable logged',
  async observe(ctx) {
    return { ...(await runningFiles(ctx)), wrapper: await ctx.host.read(ctx.plan.install.etcdctlWrapper) };
  },
  decide(plan, w, o) {
    const files = newFiles(plan, w);
    const refusal = restartRefusal(o.recorded, plan.settings, allChanges(files));
    if (refusal) return { kind: 'refuse', ...refusal };
    // etcdctl.sh names the local client URL: rewritten when that moved (a new client port)
    const wrapper = renderEtcdctlWrapper(plan);
    return { kind: 'write', files, wrapper: w.wrapper === undefined || w.wrapper === wrapper ? undefined : wrapper };
  },
  async act(ctx, d) {
    const { plan, host, log } = ctx;
    if (d.kind === 'refuse') refuse(d);
    const { env, etcdctlEnv } = d.files.changes;
    if (!env.length && !etcdctlEnv.length && !d.wrapper) {
      log.info(`${plan.files.envFile} and ${plan.files.etcdctlEnvFile} hold the new settings already`);
      return;
    }
    for (const c of [...env, ...etcdctlEnv]) log.info(changeLine(c));
    if (env.length) await host.write(plan.files.envFile, d.files.env, { mode: 0o644 });
    if (etcdctlEnv.length) await host.write(plan.files.etcdctlEnvFile, d.files.etcdctlEnv, { mode: (await host.stat(plan.files.etcdctlEnvFile))?.mode ?? 0o644 });
    if (d.wrapper) await host.write(plan.install.etcdctlWrapper, d.wrapper, { mode: 0o755 });
    log.info(`Wrote ${[env.length && plan.files.envFile, etcdctlEnv.length && plan.files.etcdctlEnvFile, d.wrapper && plan.install.etcdctlWrapper].filter(Boolean).join(', ')}`);
  },
});

/**
 * A failure once the new files are written, in a run that is rolled back: the error says what the rollback (the
 * run's journal) does — the previous files put back and etcd restarted on them.
 */
function undone(ctx: PhaseContext, err: unknown): unknown {
  if (ctx.journal.count === 0) return err;
  const hint = err instanceof EtcdadmError ? err.hint : undefined;
  return new EtcdadmError(`${describe(err).replace(/\.$/, '')}; the previous ${ctx.plan.files.envFile} and ${ctx.plan.files.etcdctlEnvFile} are put back and ${ctx.plan.service.unitName} restarted on them`, {
    ...(hint ? { hint } : {}),
    cause: err,
  });
}

const restart: Phase<ReconfigureOptions> = phase<undefined, undefined, ReconfigureOptions>({
  name: 'restart',
  short: 'Restart etcd on the new settings (the member does not serve from the stop until it is healthy again)',
  async act(ctx) {
    const { plan, log } = ctx;
    log.info(plan.service.initSystem === 'systemd' ? `Restarting ${plan.service.unitName}` : `Rewriting the static Pod ${plan.service.podManifestFile}; the kubelet restarts the member`);
    await ctx.init.restart(plan).catch((err: unknown) => {
      throw undone(ctx, err);
    });
  },
});

const health: Phase<ReconfigureOptions> = phase<undefined, undefined, ReconfigureOptions>({
  name: 'health',
  short: 'Wait until the member serves, has caught up with the leader and answers a quorum read',
  dryRun: (ctx) => [`wait until ${ctx.plan.member.name} serves, has caught up with the leader and answers a quorum read`],
  async act(ctx) {
    await waitRejoined(ctx).catch((err: unknown) => {
      throw undone(ctx, err);
    });
    ctx.log.info(`Member ${ctx.plan.member.name} serves on the new settings and has caught up with the leader`);
  },
});

const recordPhase: Phase<ReconfigureOptions> = phase<undefined, undefined, ReconfigureOptions>({
  name: 'record',
  short: 'Record the new settings in the host record',
  dryRun: () => [`record the new settings in ${PATHS.recordFile}`],
  async act(ctx) {
    await recordFacts(ctx, { endReconfigure: true });
    ctx.log.info(`Recorded the new settings in ${PATHS.recordFile}`);
  },
});

export const RECONFIGURE_PHASES: readonly Phase<ReconfigureOptions>[] = [preflight, leadershipPhase, configure, restart, health, recordPhase];
