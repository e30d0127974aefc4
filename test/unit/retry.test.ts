/**
 * The retry loop of cluster operations (one policy per etcd condition) on a fake clock: which delays it sleeps, when
 * it gives up, which errors it rethrows at once. No real timer is involved, so nothing depends on the machine's speed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LEARNER_NOT_READY, TOO_MANY_LEARNERS, UNHEALTHY_CLUSTER, retryOn, type Clock } from '../../src/cluster/retry-policy.js';
import { ETCD_ERRORS } from '../../src/etcd/errors.js';
import { backoffDelay, sleep } from '../../src/util/retry.js';

/** A clock whose sleeps return at once and move time on; it records every sleep. */
function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return { slept, now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)) };
}

const etcdError = (msg: string) => Object.assign(new Error(`etcd failed: ${msg}`), { details: msg });
const unhealthy = () => etcdError(ETCD_ERRORS.unhealthy);
const notReady = () => etcdError(ETCD_ERRORS.learnerNotReady);

/** An operation failing with `errors` in turn, then resolving with `value`. */
function flaky<T>(errors: Error[], value: T) {
  const calls: number[] = [];
  let i = 0;
  return {
    calls,
    fn: async (attempt: number) => {
      calls.push(attempt);
      const err = errors[i++];
      if (err) throw err;
      return value;
    },
  };
}

describe('backoffDelay', () => {
  test('grows by factor from the initial delay and is capped', () => {
    const o = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o)), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(backoffDelay(3, { initialDelayMs: 50, maxDelayMs: 1000, factor: 1 }), 50);
  });
});

describe('retryOn', () => {
  test('returns the first success without sleeping', async () => {
    const clock = fakeClock();
    const f = flaky([], 'ok');
    assert.equal(await retryOn([UNHEALTHY_CLUSTER], f.fn, { deadlineMs: 1000, clock }), 'ok');
    assert.deepEqual([f.calls, clock.slept], [[1], []]);
  });

  test('each condition backs off on its own curve', async () => {
    const clock = fakeClock();
    const f = flaky([unhealthy(), unhealthy(), notReady(), unhealthy(), notReady()], 42);
    assert.equal(await retryOn([UNHEALTHY_CLUSTER, LEARNER_NOT_READY], f.fn, { deadlineMs: 60_000, clock }), 42);
    // unhealthy: 100, 150, 225 (cap 250); not ready: 200, 300
    assert.deepEqual(clock.slept, [100, 150, 200, 225, 300]);
    assert.deepEqual(f.calls, [1, 2, 3, 4, 5, 6]);
  });

  test('"unhealthy cluster" is retried every quarter second at most, so the change goes through soon after etcd accepts it', async () => {
    const clock = fakeClock();
    const f = flaky(Array.from({ length: 6 }, unhealthy), 'added');
    assert.equal(await retryOn([UNHEALTHY_CLUSTER], f.fn, { deadlineMs: 60_000, clock }), 'added');
    assert.deepEqual(clock.slept, [100, 150, 225, 250, 250, 250]);
  });

  test('an error of no listed condition is rethrown at once', async () => {
    const clock = fakeClock();
    const other = etcdError(ETCD_ERRORS.memberNotFound);
    const f = flaky([unhealthy(), other], 1);
    await assert.rejects(retryOn([UNHEALTHY_CLUSTER], f.fn, { deadlineMs: 60_000, clock }), (e) => e === other);
    assert.deepEqual([f.calls, clock.slept], [[1, 2], [100]]);
    await assert.rejects(retryOn([UNHEALTHY_CLUSTER], flaky([notReady()], 1).fn, { deadlineMs: 60_000, clock }), /in sync with leader/);
  });

  test('gives up at the deadline with the last error, never sleeping past it', async () => {
    const clock = fakeClock();
    const errors = Array.from({ length: 100 }, () => etcdError(ETCD_ERRORS.tooManyLearners));
    const f = flaky(errors, 1);
    await assert.rejects(retryOn([TOO_MANY_LEARNERS], f.fn, { deadlineMs: 2000, clock }), (e) => e === errors[f.calls.length - 1]);
    assert.equal(clock.slept.reduce((a, b) => a + b, 0), 2000, 'slept exactly up to the deadline');
    assert.deepEqual(clock.slept, [250, 375, 562.5, 812.5], 'the last sleep is cut to the deadline');
  });

  test('a deadline of 0 (no retry) makes one call; attempts bounds the calls', async () => {
    const clock = fakeClock();
    const once = flaky([unhealthy(), unhealthy()], 1);
    await assert.rejects(retryOn([UNHEALTHY_CLUSTER], once.fn, { deadlineMs: 0, clock }), /unhealthy cluster/);
    assert.deepEqual(once.calls, [1]);
    const three = flaky([unhealthy(), unhealthy(), unhealthy(), unhealthy()], 1);
    await assert.rejects(retryOn([UNHEALTHY_CLUSTER], three.fn, { deadlineMs: 60_000, attempts: 3, clock }), /unhealthy cluster/);
    assert.deepEqual(three.calls, [1, 2, 3]);
  });
});

describe('sleep', () => {
  test('rejects at once when aborted, with the reason', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    await assert.rejects(sleep(10, AbortSignal.abort(new Error('already'))), /already/);
  });
});
