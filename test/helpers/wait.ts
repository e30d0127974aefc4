/** Waiting for a condition in tests (never a fixed sleep): polls until the predicate gives a truthy value. */
import { sleep } from '../../src/util/retry.js';

export interface WaitForOptions {
  timeoutMs: number;
  intervalMs: number;
  /** Named in the timeout error: "timed out after Nms waiting for <what>". */
  what?: string;
}

/** The predicate's first truthy value; a throwing predicate counts as "not yet"; rejects after timeoutMs. */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitForOptions): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
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
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs}ms${opts.what ? ` waiting for ${opts.what}` : ''}${why}`, lastErr === undefined ? undefined : { cause: lastErr });
    }
    await sleep(Math.min(opts.intervalMs, left));
  }
}
