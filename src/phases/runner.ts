/** Runs an ordered list of phases: scoped logger per phase, timing, and nothing else. */
import type { Plan } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { Timings } from '../log/timings.js';
import type { Phase } from './types.js';

export interface RunOptions {
  plan: Plan;
  log: Logger;
  out: (line: string) => void;
  timings?: Timings;
}

export async function runPhases(phases: readonly Phase[], opts: RunOptions): Promise<Timings> {
  const timings = opts.timings ?? new Timings();
  for (const phase of phases) {
    const log = opts.log.withPhase(phase.name);
    const t0 = performance.now();
    await phase.run({ plan: opts.plan, log, timings, out: opts.out });
    const ms = performance.now() - t0;
    timings.recordPhase(phase.name, ms);
    log.debug('phase completed', { durationMs: Math.round(ms) });
  }
  const total = Math.round(timings.totalMs());
  opts.log.debug('timings', {
    totalMs: total,
    phases: timings.phases.map((p) => `${p.name}=${Math.round(p.ms)}`).join(','),
    waitSystemctlMs: Math.round(timings.waits.systemctl),
    waitEtcdMs: Math.round(timings.waits.etcd),
    waitDownloadMs: Math.round(timings.waits.download),
  });
  return timings;
}
