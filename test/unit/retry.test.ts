import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay, retry, sleep, waitFor } from '../../src/util/retry.js';

const fast = { initialDelayMs: 5, maxDelayMs: 20, factor: 2 };

class Transient extends Error {}
class Fatal extends Error {}

/** A fake operation failing with the given errors in turn, then resolving with `value`. */
function flaky<T>(errors: Error[], value: T): { fn: (attempt: number) => Promise<T>; calls: number[] } {
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

describe('retry', () => {
  test('returns the first success without sleeping', async () => {
    const f = flaky([], 'ok');
    const start = Date.now();
    assert.equal(await retry(f.fn, { ...fast, retryIf: () => true }), 'ok');
    assert.deepEqual(f.calls, [1]);
    assert.ok(Date.now() - start < 50);
  });

  test('retries retryable errors with growing delays, reporting each retry', async () => {
    const f = flaky([new Transient('a'), new Transient('b'), new Transient('c')], 42);
    const seen: [string, number, number][] = [];
    const v = await retry(f.fn, {
      ...fast,
      attempts: 5,
      retryIf: (e) => e instanceof Transient,
      onRetry: (e, attempt, delay) => seen.push([(e as Error).message, attempt, delay]),
    });
    assert.equal(v, 42);
    assert.deepEqual(f.calls, [1, 2, 3, 4]);
    assert.deepEqual(seen, [
      ['a', 1, 5],
      ['b', 2, 10],
      ['c', 3, 20],
    ]);
  });

  test('rethrows at once an error that retryIf rejects', async () => {
    const fatal = new Fatal('no');
    const f = flaky([new Transient('a'), fatal], 1);
    await assert.rejects(retry(f.fn, { ...fast, attempts: 10, retryIf: (e) => e instanceof Transient }), (e) => e === fatal);
    assert.deepEqual(f.calls, [1, 2]);
  });

  test('gives up after `attempts` calls with the last error', async () => {
    const errs = [new Transient('1'), new Transient('2'), new Transient('3')];
    const f = flaky(errs, 1);
    await assert.rejects(retry(f.fn, { ...fast, attempts: 3, retryIf: () => true }), (e) => e === errs[2]);
    assert.deepEqual(f.calls, [1, 2, 3]);
  });

  test('defaults to 5 attempts without a deadline', async () => {
    const f = flaky(Array.from({ length: 10 }, () => new Transient('x')), 1);
    await assert.rejects(retry(f.fn, { initialDelayMs: 1, maxDelayMs: 1, factor: 1, retryIf: () => true }));
    assert.equal(f.calls.length, 5);
  });

  test('stops at the deadline, never sleeping past it', async () => {
    let calls = 0;
    const start = Date.now();
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Transient('down');
        },
        { initialDelayMs: 20, maxDelayMs: 40, factor: 2, deadlineMs: 150, retryIf: () => true },
      ),
      /down/,
    );
    const took = Date.now() - start;
    assert.ok(took >= 140 && took < 400, `took ${took}ms`);
    assert.ok(calls >= 3 && calls <= 8, `calls ${calls}`);
  });

  test('an abort signal ends the waiting with the real error', async () => {
    const ac = new AbortController();
    const start = Date.now();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(
      retry(
        async () => {
          throw new Transient('still down');
        },
        { initialDelayMs: 1000, maxDelayMs: 1000, factor: 1, attempts: 5, retryIf: () => true, signal: ac.signal },
      ),
      /still down/,
    );
    assert.ok(Date.now() - start < 500);
  });

  test('rejects nonsense options', async () => {
    await assert.rejects(retry(async () => 1, { ...fast, factor: 0.5, retryIf: () => true }), RangeError);
    await assert.rejects(retry(async () => 1, { ...fast, attempts: 0, retryIf: () => true }), RangeError);
  });
});

describe('sleep', () => {
  test('waits about the given time', async () => {
    const start = Date.now();
    await sleep(30);
    assert.ok(Date.now() - start >= 25);
  });

  test('rejects when aborted', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 10);
    await assert.rejects(sleep(5000, ac.signal), /stop/);
  });
});

describe('waitFor', () => {
  test('returns the first truthy value', async () => {
    let n = 0;
    const v = await waitFor(() => (++n >= 3 ? `done after ${n}` : undefined), { timeoutMs: 1000, intervalMs: 5 });
    assert.equal(v, 'done after 3');
  });

  test('treats a throwing predicate as not yet', async () => {
    let n = 0;
    const v = await waitFor(
      async () => {
        if (++n < 3) throw new Error('not up');
        return true;
      },
      { timeoutMs: 1000, intervalMs: 5 },
    );
    assert.equal(v, true);
  });

  test('times out naming what it waited for and the last error', async () => {
    const start = Date.now();
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 60, intervalMs: 10, what: 'etcd to be healthy' },
      ),
      (e: Error) => {
        assert.match(e.message, /^timed out after 60ms waiting for etcd to be healthy: connection refused$/);
        assert.ok(e.cause instanceof Error);
        return true;
      },
    );
    assert.ok(Date.now() - start < 500);
  });
});
