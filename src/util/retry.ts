/**
 * Waiting: sleeping (abortable) and the backoff curve. The retry loop itself, with one policy per etcd condition,
 * is cluster/retry-policy.ts.
 */

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
export function backoffDelay(attempt: number, opts: { initialDelayMs: number; maxDelayMs: number; factor: number }): number {
  const raw = opts.initialDelayMs * Math.pow(opts.factor, Math.max(0, attempt - 1));
  return Math.max(0, Math.min(opts.maxDelayMs, raw));
}

