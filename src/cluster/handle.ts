/**
 * A command's handle on a cluster: one etcd client (dialed at the first request), the member list read once and
 * refreshed on demand, and the time spent waiting on etcd counted in the command's timings. The run context creates
 * it lazily and closes it when the command ends, so that nothing a command opened outlives it.
 */
import { EtcdClient, type EtcdTls, type Member, type MemberListResult } from '../etcd/client.js';
import type { Logger } from '../log/logger.js';
import type { Timings } from '../log/timings.js';
import type { DryRunNotes } from '../util/dry-run.js';
import type { Journal } from '../util/journal.js';
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
  /** The run's journal, while a failure rolls the run back: the changes cluster/ makes record their undo here. */
  journal?: Journal;
  /** A dry run: cluster/ records the changes and waits it would make here instead of making them. */
  dryRun?: DryRunNotes;
}

/** A dry run's membership changes, recorded instead of made and shown in the member lists of the run. */
interface Simulated {
  added: Member[];
  removed: Set<bigint>;
  promoted: Set<bigint>;
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
    private readonly opts: Pick<ClusterHandleOptions, 'tls' | 'log' | 'timings' | 'probeTimeoutMs' | 'journal' | 'dryRun'>,
    private readonly sim: Simulated = { added: [], removed: new Set(), promoted: new Set() },
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

  /** The run's journal, when the run can be rolled back. */
  get journal(): Journal | undefined {
    return this.opts.journal;
  }

  /** Set in a dry run: record, do not change. */
  get dryRun(): DryRunNotes | undefined {
    return this.opts.dryRun;
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
    const read = this.timed(() => (opts.serializable ? this.client.memberList(false) : memberListAnyView(this.client)));
    this.list = this.opts.dryRun ? read.then((l) => this.withSimulated(l)) : read;
    this.list.catch(() => undefined); // kept: a cluster that did not answer is not asked again until a refresh
    return this.list;
  }

  /**
   * A dry run: a membership change that was not made, shown from now on in the member lists of this handle (so the
   * phases after it observe the cluster as the real run would find it).
   */
  simulate(change: { add: Member } | { remove: bigint } | { promote: bigint }): void {
    if ('add' in change) this.sim.added.push(change.add);
    if ('remove' in change) this.sim.removed.add(change.remove);
    if ('promote' in change) this.sim.promoted.add(change.promote);
    this.list = undefined;
  }

  private withSimulated(l: MemberListResult): MemberListResult {
    const members = [...l.members, ...this.sim.added.filter((a) => !l.members.some((m) => m.id === a.id))]
      .filter((m) => !this.sim.removed.has(m.id))
      .map((m) => (this.sim.promoted.has(m.id) ? { ...m, isLearner: false } : m));
    return { ...l, members };
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
    const h = new ClusterHandle(this.client.withEndpoints(endpoints), this.opts, this.sim);
    this.others.push(h);
    return h;
  }

  close(): void {
    for (const h of this.others) h.close();
    this.client.close();
  }
}
