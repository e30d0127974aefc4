/**
 * A client that writes one key every `intervalMs` to a lab cluster while something else happens (a reset, a join),
 * retrying each write for at most `retryBudgetMs`. It records acknowledged keys and writes that failed even after
 * retries, so a test can assert "no failed write, every acknowledged key present".
 */
import { after } from 'node:test';
import { EtcdClient } from '../../src/etcd/client.js';
import { sleep } from '../../src/util/retry.js';

export interface WriterReport {
  acknowledged: string[];
  failed: { key: string; error: string }[];
  maxRetryMs: number;
}

/** Writers not stopped yet: stopped when the test file ends, so a test that failed before `stop()` cannot leave one
 * writing (and the file's process alive) forever. */
const live = new Set<BackgroundWriter>();
// only under the test runner (the bench imports this module too)
if (process.env.NODE_TEST_CONTEXT)
  after(async () => {
    for (const w of live) await w.stop();
  });

export class BackgroundWriter {
  private stopped = false;
  private done: Promise<WriterReport>;
  private acked = 0;

  constructor(
    private readonly client: EtcdClient,
    prefix: string,
    intervalMs = 50,
    retryBudgetMs = 2000,
  ) {
    this.done = this.loop(prefix, intervalMs, retryBudgetMs);
    live.add(this);
  }

  private async loop(prefix: string, intervalMs: number, retryBudgetMs: number): Promise<WriterReport> {
    const report: WriterReport = { acknowledged: [], failed: [], maxRetryMs: 0 };
    for (let i = 0; !this.stopped; i++) {
      const key = `${prefix}/${String(i).padStart(6, '0')}`;
      const t0 = Date.now();
      let lastErr = '';
      for (;;) {
        try {
          await this.client.put(key, String(i));
          report.acknowledged.push(key);
          this.acked++;
          report.maxRetryMs = Math.max(report.maxRetryMs, Date.now() - t0);
          break;
        } catch (err) {
          lastErr = (err as Error).message;
          if (Date.now() - t0 >= retryBudgetMs) {
            report.failed.push({ key, error: lastErr });
            break;
          }
          await sleep(100);
        }
      }
      await sleep(intervalMs);
    }
    return report;
  }

  /** Until `n` more writes than now were acknowledged (the writer is really writing through whatever happens). */
  async moreWrites(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.acked + n;
    const start = Date.now();
    while (this.acked < target) {
      if (Date.now() - start > timeoutMs) throw new Error(`only ${this.acked - target + n} of ${n} writes acknowledged within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  async stop(): Promise<WriterReport> {
    this.stopped = true;
    live.delete(this);
    return this.done;
  }
}

/** A client for the lab cluster from the outside (this machine reaches 10.88.0.x over the lab bridge). */
export async function labClient(endpoints: string[], pem: { ca: string; cert: string; key: string }): Promise<EtcdClient> {
  return EtcdClient.create({ endpoints, tls: pem, dialTimeoutMs: 1000, requestTimeoutMs: 1500 });
}
