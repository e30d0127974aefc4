/**
 * Where a command's time went: per phase, and time spent waiting on outside parties (systemctl, etcd, downloads).
 * One instance per command run, owned by the run context. Only thin wrappers count waits — the cluster handle, the
 * init system and the downloader — never a phase; nested waits of one kind count once. Printed at debug level and
 * in JSON logs, read by the benchmarks.
 */
export type WaitKind = 'systemctl' | 'etcd' | 'download';

export class Timings {
  readonly phases: { name: string; ms: number }[] = [];
  readonly waits: Record<WaitKind, number> = { systemctl: 0, etcd: 0, download: 0 };
  private readonly depth: Record<WaitKind, number> = { systemctl: 0, etcd: 0, download: 0 };

  /** Time `fn` as waiting on `kind` (inside another wait of the same kind it adds nothing). */
  async wait<T>(kind: WaitKind, fn: () => Promise<T>): Promise<T> {
    if (this.depth[kind] > 0) return fn();
    this.depth[kind]++;
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.depth[kind]--;
      this.waits[kind] += performance.now() - t0;
    }
  }

  recordPhase(name: string, ms: number): void {
    this.phases.push({ name, ms });
  }

  totalMs(): number {
    return this.phases.reduce((a, p) => a + p.ms, 0);
  }
}
