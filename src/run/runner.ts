/**
 * The one runner of phases: for each phase of a command, in order — honour --skip-phases, ask `runIf` (a skipped
 * phase logs why), then observe → decide → act, with the logger scoped to the phase (`[name] message`) and the phase
 * timed. An act may end the command early (`done`). When a phase fails and the run keeps a rollback journal, what
 * the run changed is undone before the error goes up. Logging, timing and skipping live here and nowhere else.
 */
import { EtcdadmError } from '../errors.js';
import { testHold } from '../testhooks.js';
import type { RunContext } from './context.js';
import type { Phase } from './phase.js';

export interface RunnerOptions {
  /** Phase names to leave out (kubeadm's --skip-phases). */
  skip?: readonly string[];
  /** Undo the run's changes when a phase fails (whole init/join runs). */
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

export async function runPhases(ctx: RunContext, phases: readonly Phase[], opts: RunnerOptions = {}): Promise<void> {
  const skip = new Set(opts.skip ?? []);
  try {
    for (const phase of phases) {
      const log = ctx.log.withPhase(phase.name);
      const pctx: RunContext = { ...ctx, log };
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
      const result = await phase.act(pctx, decision);
      const ms = performance.now() - t0;
      ctx.timings.recordPhase(phase.name, ms);
      log.debug('phase completed', { durationMs: Math.round(ms) });
      await testHold(`after:${phase.name}`);
      if (result?.done) {
        log.info(result.done);
        break;
      }
    }
  } catch (err) {
    if (opts.rollbackOnFailure) await ctx.changes.rollback(ctx.log.withPhase('rollback'));
    throw err;
  } finally {
    const t = ctx.timings;
    ctx.log.debug('timings', {
      totalMs: Math.round(t.totalMs()),
      phases: t.phases.map((p) => `${p.name}=${Math.round(p.ms)}`).join(','),
      waitSystemctlMs: Math.round(t.waits.systemctl),
      waitEtcdMs: Math.round(t.waits.etcd),
      waitDownloadMs: Math.round(t.waits.download),
    });
  }
}
