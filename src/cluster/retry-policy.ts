/**
 * One retry policy per etcd condition that goes away by itself, written once and used by every cluster operation:
 *
 * - "unhealthy cluster": with --strict-reconfig-check etcd refuses membership changes until its leader has been
 *   connected to every voting member for 5 s (after a start, a restart, a leader change, a promotion). Short, capped
 *   delays, so that the change goes through within a quarter second of etcd accepting it.
 * - "learner not ready": a learner is promoted only once it has caught up with the leader.
 * - "too many learners" / a pending change: one learner at a time; another join's learner is being promoted.
 * - "leader changed" / "not leader": a leadership transfer raced with an election.
 */
import { isLearnerNotReady, isTooManyLearners, isUnhealthyCluster } from '../etcd/errors.js';
import type { Logger } from '../log/logger.js';
import { backoffDelay, sleep } from '../util/retry.js';

export interface Condition {
  readonly name: string;
  /** Whether `err` is this condition. */
  matches(err: unknown): boolean;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  /** What the operator is told while waiting (once, then every few attempts). */
  readonly note: string;
}

export const UNHEALTHY_CLUSTER: Condition = {
  name: 'unhealthy-cluster',
  matches: isUnhealthyCluster,
  initialDelayMs: 100,
  maxDelayMs: 250,
  factor: 1.5,
  note: 'etcd accepts membership changes only once every member has been connected for 5s; waiting',
};

export const LEARNER_NOT_READY: Condition = {
  name: 'learner-not-ready',
  matches: isLearnerNotReady,
  initialDelayMs: 200,
  maxDelayMs: 1000,
  factor: 1.5,
  note: 'the learner is still catching up with the leader; waiting',
};

export const TOO_MANY_LEARNERS: Condition = {
  name: 'too-many-learners',
  matches: isTooManyLearners,
  initialDelayMs: 250,
  maxDelayMs: 1000,
  factor: 1.5,
  note: 'another learner is still joining (etcd allows one at a time); waiting',
};

const LEADER_CHANGE = /not leader|leader changed|no leader/;
export const LEADER_CHANGED: Condition = {
  name: 'leader-changed',
  matches: (e) => LEADER_CHANGE.test(e instanceof Error ? e.message : String(e)),
  initialDelayMs: 100,
  maxDelayMs: 250,
  factor: 1.5,
  note: 'the leader changed meanwhile; trying again',
};

/** Time, for the retry loop (tests pass a fake one). */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

export interface RetryOnOptions {
  /** Give up (rethrowing the last error) once this much time has passed. */
  deadlineMs: number;
  /** At most this many calls (default unlimited within the deadline). */
  attempts?: number;
  log?: Logger;
  clock?: Clock;
}

/**
 * Calls `fn` until it succeeds, retrying while it fails with one of `conditions` (each with its own backoff), within
 * the deadline. Other errors are rethrown at once.
 */
export async function retryOn<T>(conditions: readonly Condition[], fn: (attempt: number) => Promise<T>, opts: RetryOnOptions): Promise<T> {
  const clock = opts.clock ?? REAL_CLOCK;
  const start = clock.now();
  const seen = new Map<Condition, number>();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const c = conditions.find((x) => x.matches(err));
      if (!c || attempt >= (opts.attempts ?? Infinity)) throw err;
      const n = (seen.get(c) ?? 0) + 1;
      seen.set(c, n);
      const left = opts.deadlineMs - (clock.now() - start);
      if (left <= 0) throw err;
      if (n === 1 || n % 8 === 0) opts.log?.info(c.note);
      await clock.sleep(Math.min(left, backoffDelay(n, c)));
    }
  }
}
