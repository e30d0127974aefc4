/**
 * Retrying with exponential backoff, and waiting for a condition. No global state: every call carries its own
 * options, so tests can use tiny delays and real timers.
 */

export interface RetryOptions {
  /** Total number of calls of `fn`, the first one included (>= 1). Default: unlimited when `deadlineMs` is set, else 5. */
  attempts?: number;
  /**
   * Give up once this many ms have passed since the start: no retry is started (and no sleep is begun) that would end
   * after the deadline. The last error is rethrown.
   */
  deadlineMs?: number;
  /** Delay before the 2nd call. */
  initialDelayMs: number;
  /** Upper bound of any delay. */
  maxDelayMs: number;
  /** Each delay is the previous one times this (>= 1). */
  factor: number;
  /** Whether an error is worth another try; errors for which it returns false are rethrown at once. */
  retryIf: (err: unknown) => boolean;
  /** Called before sleeping for a retry: the error, the number of the failed attempt (1-based), the coming delay. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Aborting stops the waiting between attempts and rethrows the last error. */
  signal?: AbortSignal;
}

/** Resolves after `ms` milliseconds (at once for ms <= 0); rejects early with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The delay after failed attempt number `attempt` (1-based): initial * factor^(attempt-1), capped at maxDelayMs. */
export function backoffDelay(attempt: number, opts: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor'>): number {
  const raw = opts.initialDelayMs * Math.pow(opts.factor, Math.max(0, attempt - 1));
  return Math.max(0, Math.min(opts.maxDelayMs, raw));
}

/**
 * Calls `fn` until it resolves, retrying errors that `retryIf` accepts with exponential backoff, within `attempts`
 * and `deadlineMs`. Resolves with fn's value; rejects with the last error of fn when it gives up.
 * `fn` receives the 1-based attempt number.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  if (!(opts.factor >= 1)) throw new RangeError(`retry: factor must be >= 1, got ${opts.factor}`);
  if (opts.attempts !== undefined && !(opts.attempts >= 1)) {
    throw new RangeError(`retry: attempts must be >= 1, got ${opts.attempts}`);
  }
  const maxAttempts = opts.attempts ?? (opts.deadlineMs === undefined ? 5 : Number.POSITIVE_INFINITY);
  const start = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= maxAttempts || !opts.retryIf(err)) throw err;
      let delay = backoffDelay(attempt, opts);
      if (opts.deadlineMs !== undefined) {
        const left = opts.deadlineMs - (Date.now() - start);
        if (left <= 0) throw err;
        delay = Math.min(delay, left);
      }
      if (opts.signal?.aborted) throw err;
      opts.onRetry?.(err, attempt, delay);
      try {
        await sleep(delay, opts.signal);
      } catch {
        throw err; // aborted while waiting: the caller wants the real failure, not the abort reason
      }
    }
  }
}

export interface WaitForOptions {
  timeoutMs: number;
  intervalMs: number;
  /** Used in the timeout error: "timed out after Nms waiting for <what>". */
  what?: string;
  signal?: AbortSignal;
}

/**
 * Polls `predicate` every `intervalMs` until it returns a truthy value (which is returned), or rejects after
 * `timeoutMs` with an Error naming `what` (and the predicate's last thrown error as `cause`, if any). A throwing
 * predicate counts as "not yet".
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  opts: WaitForOptions,
): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const start = Date.now();
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as Exclude<T, false | 0 | '' | null | undefined>;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    const left = opts.timeoutMs - (Date.now() - start);
    if (left <= 0) {
      const what = opts.what ? ` waiting for ${opts.what}` : '';
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs}ms${what}${why}`, lastErr === undefined ? undefined : { cause: lastErr });
    }
    await sleep(Math.min(opts.intervalMs, left), opts.signal);
  }
}
