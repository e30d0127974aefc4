/**
 * Phases as data, in kubeadm's shape: a name, help text, a condition, and — so that what a phase decides can be
 * tested without root or hosts — three steps: `observe` reads the world, `decide` (pure) says what to do from the
 * plan, the command's options and what was read, `act` does it. Every command that changes a host is an ordered list
 * of phases on one runner (runner.ts); the same list backs `<command> phase <name>`, `--skip-phases` and `--dry-run`.
 * `O` is the command's own options type (each command declares its own: src/cli/workflow.ts).
 */
import type { Plan } from '../config/types.js';
import type { PhaseContext } from './context.js';

type MaybePromise<T> = T | Promise<T>;

/** What an act may return: `done` ends the command here, successfully (e.g. "already a member"), saying why. */
export interface PhaseResult {
  done?: string;
}

export interface PhaseDef<World, Decision, O> {
  readonly name: string;
  readonly short: string;
  /** Extra text for `phase <name> --help`. */
  readonly long?: string;
  /** `true` to run; otherwise why the phase does not apply to this run (logged, the phase is skipped). */
  runIf?(ctx: PhaseContext<O>): MaybePromise<true | string>;
  /** Read what the decision needs: files, the init system, the cluster. Reads only (it runs in a dry run too). */
  observe?(ctx: PhaseContext<O>): Promise<World>;
  /** Pure: what to do. */
  decide?(plan: Plan, world: World, options: O): Decision;
  act(ctx: PhaseContext<O>, decision: Decision): Promise<PhaseResult | void>;
  /**
   * --dry-run: what `act` would do, in words, where running it on the dry-run host could not show it (a download,
   * a stream of a snapshot, a wait on etcd). Without it, a dry run runs `act` on the dry-run host, where every change
   * is only recorded (and printed) and none is made.
   */
  dryRun?(ctx: PhaseContext<O>, decision: Decision): MaybePromise<string[] | PhaseResult>;
  /**
   * A point of no return: once this phase succeeded, what the run changed so far is kept (the journal commits) and
   * nothing after it is rolled back: a later failure is finished by running the command again — why, in words. (reset's remove-member: a member that
   * left its cluster cannot come back; upgrade's restart: the member runs the new version; snapshot save's save: a
   * whole snapshot is kept even when its upload fails.)
   */
  readonly commits?: string;
}

/** A phase of a command whose options are `O`, its observation and decision types erased. */
export interface Phase<O = any> {
  readonly name: string;
  readonly short: string;
  readonly long?: string;
  runIf?(ctx: PhaseContext<O>): MaybePromise<true | string>;
  observe?(ctx: PhaseContext<O>): Promise<unknown>;
  decide?(plan: Plan, world: unknown, options: O): unknown;
  act(ctx: PhaseContext<O>, decision: unknown): Promise<PhaseResult | void>;
  dryRun?(ctx: PhaseContext<O>, decision: unknown): MaybePromise<string[] | PhaseResult>;
  readonly commits?: string;
}

/** A phase with its types checked, stored in a list of phases of any observation and decision types. */
export function phase<World, Decision, O = unknown>(p: PhaseDef<World, Decision, O>): Phase<O> {
  return p as unknown as Phase<O>;
}
