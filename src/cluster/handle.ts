/**
 * A command's handle on a cluster: one etcd client (dialed at the first request), the member list read once and
 * refreshed on demand, and the time spent waiting on etcd counted in the command's timings. The run context creates
 * it lazily and closes it when the command ends, so that nothing a command opened outlives it.
 */
import { EtcdClient, type EtcdTls, type MemberListResult } from '../etcd/client.js';
import type { Logger } from '../log/logger.js';
import type { Timings } from '../log/timings.js';
import { clusterStatus, memberListAnyView, type ClusterStatus } from './status.js';

export interface ClusterHandleOptions {
  endpoints: string[];
  tls: EtcdTls;
  log: Logger;
  timings?: Timings;
  /** Deadline of each request (default 5000). */
  requestTimeoutMs?: number;
  /** Time to open a connection before moving to the next endpoint (default 2000). */
  dialTimeoutMs?: number;
  /** Bound of each member probe of `status()` (default 2000). */
  probeTimeoutMs?: number;
}

export class ClusterHandle {
  readonly tls: EtcdTls;
  readonly log: Logger;
  /** The member list as last read (or the failure of that read), until a refresh. */
  private list: Promise<MemberListResult> | undefined;
  private readonly others: ClusterHandle[] = [];

  /** A handle around `client` (tests pass their own). */
  constructor(
    readonly client: EtcdClient,
    private readonly opts: Pick<ClusterHandleOptions, 'tls' | 'log' | 'timings' | 'probeTimeoutMs'>,
  ) {
    this.tls = opts.tls;
    this.log = opts.log;
  }

  /** A handle with its own client on `opts.endpoints`, dialed at the first request. */
  static open(opts: ClusterHandleOptions): ClusterHandle {
    const client = EtcdClient.create({
      endpoints: opts.endpoints,
      tls: opts.tls,
      ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.dialTimeoutMs ? { dialTimeoutMs: opts.dialTimeoutMs } : {}),
      logger: opts.log,
    });
    return new ClusterHandle(client, opts);
  }

  get endpoints(): readonly string[] {
    return this.client.endpoints;
  }

  /** Count `fn` as time spent waiting on etcd. */
  timed<T>(fn: () => Promise<T>): Promise<T> {
    return this.opts.timings ? this.opts.timings.wait('etcd', fn) : fn();
  }

  /**
   * The member list, read once: committed when the cluster has quorum, else the answering member's own view (a
   * cluster without quorum can still be shown). `serializable` reads the answering member's view at once, without
   * quorum — what a join needs right after a voting member was added to a 1-member cluster.
   */
  members(opts: { refresh?: boolean; serializable?: boolean } = {}): Promise<MemberListResult> {
    if (this.list && !opts.refresh) return this.list;
    this.list = this.timed(() => (opts.serializable ? this.client.memberList(false) : memberListAnyView(this.client)));
    this.list.catch(() => undefined); // kept: a cluster that did not answer is not asked again until a refresh
    return this.list;
  }

  /** Set (or, with undefined, forget) the cached member list, e.g. after a membership change. */
  remember(list: MemberListResult | undefined): void {
    this.list = list ? Promise.resolve(list) : undefined;
  }

  /** Every member probed (role, health, version, raft indexes, alarms), with the member list read first. */
  async status(opts: { refresh?: boolean; serializable?: boolean } = {}): Promise<ClusterStatus> {
    const list = await this.members(opts);
    return this.timed(() => clusterStatus(this.client, list, { tls: this.tls, ...(this.opts.probeTimeoutMs ? { timeoutMs: this.opts.probeTimeoutMs } : {}) }));
  }

  /** A handle on other endpoints of the same cluster (same TLS and timings), closed with this one. */
  via(endpoints: string[]): ClusterHandle {
    const h = new ClusterHandle(this.client.withEndpoints(endpoints), this.opts);
    this.others.push(h);
    return h;
  }

  close(): void {
    for (const h of this.others) h.close();
    this.client.close();
  }
}
