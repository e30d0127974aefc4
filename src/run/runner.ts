/**
 * The one runner of phases: for each phase of a command, in order — honour --skip-phases, ask `runIf` (a skipped
 * phase logs why), then observe → decide → act, with the logger scoped to the phase (`[name] message`) and the phase
 * timed. An act may end the command early (`done`). When a phase fails and the run is rolled back (declared by the
 * command), what the run changed is undone through the journal before the error goes up — unless the run passed a
 * point of no return (a phase that `commits`): from there on it is finished by running it again. A run that succeeds
 * commits its journal. In a dry run (--dry-run) the acts run on the dry-run context (or describe themselves) and the
 * runner prints, under each phase, what would have changed. Logging, timing, skipping and dry runs live here and nowhere else.
 */
import { EtcdadmError } from '../errors.js';
import { testFail, testHold } from '../host/testhooks.js';
import type { RunContext } from './context.js';
import type { Phase, PhaseResult } from './phase.js';

export interface RunnerOptions {
  /** Phase names to leave out (kubeadm's --skip-phases). */
  skip?: readonly string[];
  /** Undo the run's changes when a phase fails. */
  rollbackOnFailure?: boolean;
}

/** The names given to --skip-phases, checked against the command's phases (exit code 2 for an unknown one). */
export function checkSkipPhases(phases: readonly Phase[], skip: readonly string[], command: string): string[] {
  const names = phases.map((p) => p.name);
  for (const s of skip)
    if (!names.includes(s))
      throw new EtcdadmError(`--skip-phases: ${command} has no phase "${s}"`, { hint: `its phases are ${names.join(', ')}`, exitCode: 2 });
  return [...skip];
}

export async function runPhases<O>(ctx: RunContext<O>, phases: readonly Phase<O>[], opts: RunnerOptions = {}): Promise<void> {
  const skip = new Set(opts.skip ?? []);
  const dry = ctx.dryRun;
  // ms from the process's start (performance's time origin) to the first phase: what etcdadm costs before it works
  const startMs = performance.now();
  try {
    for (const phase of phases) {
      const log = ctx.log.withPhase(phase.name);
      const pctx: RunContext<O> = { ...ctx, log };
      if (skip.has(phase.name)) {
        log.info('Skipped (--skip-phases)');
        continue;
      }
      const t0 = performance.now();
      const cond = phase.runIf ? await phase.runIf(pctx) : true;
      if (cond !== true) {
        log.info(`Skipped: ${cond}`);
        ctx.timings.recordPhase(phase.name, performance.now() - t0);
        log.debug('phase completed', { durationMs: Math.round(performance.now() - t0), skipped: true });
        await testHold(`after:${phase.name}`);
        continue;
      }
      const world = phase.observe ? await phase.observe(pctx) : undefined;
      const decision = phase.decide ? phase.decide(ctx.plan, world, ctx.options) : world;
      if (phase.decide) log.debug('decision', { decision: JSON.stringify(decision, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) });
      let result: PhaseResult | void = undefined;
      if (dry && phase.dryRun) {
        const said = await phase.dryRun(pctx, decision);
        if (Array.isArray(said)) for (const line of said) dry.note(line);
        else result = said;
      } else result = await phase.act(pctx, decision);
      if (dry) {
        const would = dry.take();
        if (would.length === 0) log.info('would change nothing');
        for (const line of would) log.info(`would ${line}`);
      }
      const ms = performance.now() - t0;
      ctx.timings.recordPhase(phase.name, ms);
      log.debug('phase completed', { durationMs: Math.round(ms) });
      if (!dry && phase.commits && ctx.journal.active) {
        // a point of no return: what the run did so far stays, and what follows is finished by a re-run, not undone
        await ctx.journal.close(log);
        log.debug(`no rollback from here on: ${phase.commits}`);
      }
      if (!dry) {
        testFail(`after:${phase.name}`);
        await testHold(`after:${phase.name}`);
      }
      if (result?.done) {
        log.info(result.done);
        break;
      }
    }
    if (dry) ctx.log.info('Dry run: nothing was changed');
    else await ctx.journal.commit(ctx.log);
  } catch (err) {
    if (opts.rollbackOnFailure && !dry) await ctx.journal.rollback(ctx.log.withPhase('rollback'));
    throw err;
  } finally {
    const t = ctx.timings;
    ctx.log.debug('timings', {
      startMs: Math.round(startMs),
      totalMs: Math.round(t.totalMs()),
      phases: t.phases.map((p) => `${p.name}=${Math.round(p.ms)}`).join(','),
      waitSystemctlMs: Math.round(t.waits.systemctl),
      waitEtcdMs: Math.round(t.waits.etcd),
      waitDownloadMs: Math.round(t.waits.download),
    });
  }
}
