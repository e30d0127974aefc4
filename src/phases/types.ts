/**
 * Phases as data, in kubeadm's shape: a name, a one-line help, and a run function. init/join/reset are ordered lists
 * of phases; the same objects back `etcdadm init phase <name>`. Every phase checks the world before acting, so
 * running it twice, on its own, or after a crash is safe.
 */
import type { Plan } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Timings } from '../log/timings.js';

export interface PhaseContext {
  readonly plan: Plan;
  /** Logger already scoped to the phase (`[name] message`). */
  readonly log: Logger;
  readonly timings: Timings;
  /** Where command results (not logs) go, e.g. the join command. */
  readonly out: (line: string) => void;
}

export interface Phase {
  readonly name: string;
  readonly short: string;
  /** Extra text for `phase <name> --help`. */
  readonly long?: string;
  run(ctx: PhaseContext): Promise<void>;
}
