/**
 * Where a command's time went: per phase, and time spent waiting on outside parties (systemctl, etcd). One instance per
 * command run, passed in the phase context; printed at debug level and in JSON logs, read by the benchmarks.
 */
export type WaitKind = 'systemctl' | 'etcd' | 'download';

export class Timings {
  readonly phases: { name: string; ms: number }[] = [];
  readonly waits: Record<WaitKind, number> = { systemctl: 0, etcd: 0, download: 0 };

  /** Time `fn` as waiting on `kind`. */
  async wait<T>(kind: WaitKind, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
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
