/**
 * Waiting for a member that was just started: until it serves (GET /health, which a learner answers too) and until
 * it answers a quorum read. Both waits also watch the process: `down()` (from the init system) tells when etcd has
 * exited or keeps restarting, and the wait then fails at once with etcd's own last error instead of timing out.
 */
import { httpHealth } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import { sleep } from '../util/retry.js';
import type { ClusterHandle } from './handle.js';

export interface WaitOptions {
  timeoutMs: number;
  /** Why etcd is not running (exited, restarting: with its last error line), or undefined while it runs. */
  down?: () => Promise<string | undefined>;
  /** What to tell the operator to look at when the wait fails. */
  logHint: string;
  /** Poll interval (default 100 ms); the process is looked at every 10 polls. */
  intervalMs?: number;
}

async function poll(url: string, opts: WaitOptions, probe: () => Promise<{ ok: boolean; why: string }>, what: string): Promise<void> {
  const start = Date.now();
  let last = '';
  for (let i = 0; ; i++) {
    const r = await probe();
    if (r.ok) return;
    last = r.why || last;
    if (opts.down && i % 10 === 9) {
      const why = await opts.down();
      if (why) throw new EtcdadmError(`etcd at ${url} is not running: ${why}`, { hint: opts.logHint });
    }
    if (Date.now() - start >= opts.timeoutMs) {
      const why = (await opts.down?.()) ?? '';
      throw new EtcdadmError(`etcd at ${url} did not ${what} within ${Math.round(opts.timeoutMs / 1000)}s${why ? `: ${why}` : last ? `: ${last}` : ''}`, {
        hint: opts.logHint,
      });
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/** Until the member at `url` serves HTTP: /health answers (200, or 503 from a learner not yet healthy). */
export async function waitServing(h: ClusterHandle, url: string, opts: WaitOptions): Promise<void> {
  await h.timed(() =>
    poll(url, opts, async () => {
      const r = await httpHealth(url, h.tls, { timeoutMs: 2000 });
      return { ok: r.status === 200 || r.status === 503, why: r.error ?? r.body };
    }, 'start serving'),
  );
}

/** Until a quorum read through `url` succeeds (permission denied counts as healthy). */
export async function waitQuorumRead(h: ClusterHandle, url: string, opts: WaitOptions): Promise<void> {
  await h.timed(() =>
    poll(url, opts, async () => {
      const r = await h.client.healthCheck(url);
      return { ok: r.healthy, why: r.error ?? 'unhealthy' };
    }, 'become healthy'),
  );
}
