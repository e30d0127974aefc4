/**
 * Phases as data, in kubeadm's shape: a name, help text, a condition, and — so that what a phase decides can be
 * tested without root or hosts — three steps: `observe` reads the world, `decide` (pure) says what to do from the
 * plan, the options and what was read, `act` does it. init, join and reset are ordered lists of phases on one runner
 * (runner.ts); the same lists back `<command> phase <name>` and `--skip-phases`.
 */
import type { Plan } from '../config/types.js';
import type { PhaseContext, RunOptions } from './context.js';

type MaybePromise<T> = T | Promise<T>;

/** What an act may return: `done` ends the command here, successfully (e.g. "already a member"), saying why. */
export interface PhaseResult {
  done?: string;
}

export interface Phase<World = unknown, Decision = unknown> {
  readonly name: string;
  readonly short: string;
  /** Extra text for `phase <name> --help`. */
  readonly long?: string;
  /** `true` to run; otherwise why the phase does not apply to this run (logged, the phase is skipped). */
  runIf?(ctx: PhaseContext): MaybePromise<true | string>;
  /** Read what the decision needs: files, the init system, the cluster. */
  observe?(ctx: PhaseContext): Promise<World>;
  /** Pure: what to do. */
  decide?(plan: Plan, world: World, options: RunOptions): Decision;
  act(ctx: PhaseContext, decision: Decision): Promise<PhaseResult | void>;
}

/** A phase with its types checked, stored in a list of phases of any types. */
export function phase<World, Decision>(p: Phase<World, Decision>): Phase {
  return p as unknown as Phase;
}
