/**
 * The etcd v3 client of etcdadm: gRPC over HTTP/2 (@connectrpc/connect-node), TLS with a client certificate, for the
 * few RPCs etcdadm needs (KV, Cluster, Lease, Maintenance; see proto/etcdserverpb/rpc.proto).
 *
 * Endpoint selection is deterministic: endpoints are tried in the order given, the client sticks to the first one
 * that answers, and moves on to the next only on a transport failure (refused, dial timeout, TLS, reset). Requests
 * that change state (memberAdd/Remove/Promote, snapshot) are moved to another endpoint only when they surely never
 * reached the first one (refused, dial timeout, TLS handshake); reads also when the connection broke mid-request,
 * and when the endpoint turned out to be a learner ("rpc not supported for learner").
 *
 * What etcd 3.4/3.5 do that callers must know (checked against real etcd in test/integration/etcd-client.test.ts):
 * - A learner answers only Status, serializable Range and (3.5 only) Snapshot; MemberList (linearizable or not),
 *   linearizable Range (so healthCheck), Put, Alarm, HashKV fail with "etcdserver: rpc not supported for learner".
 *   GET /health (httpHealth) works on learners, and on the plain-http metrics URL.
 * - Membership changes (even adding a learner) are refused with "etcdserver: unhealthy cluster" until every voting
 *   member has been connected to the leader for ~5 s: right after a cluster starts, a leader changes, or a learner
 *   is promoted. Retry on isUnhealthyCluster for >= 10 s. A single-member cluster is not affected.
 * - etcd allows one learner at a time ("too many learner members in cluster"); promoting a learner that has not
 *   caught up fails with isLearnerNotReady (retry); the promoted member's own Status reports isLearner for a moment.
 * - MoveLeader must be sent to the leader ("etcdserver: not leader" otherwise); it returns once the transfer is done.
 * - Member add of the same peer URLs twice within a second fails with "member ID already exist" (isMemberExists),
 *   later with "Peer URLs already exists" (isPeerURLExists).
 *
 * IDs are bigint; `idHex`/`memberIdHex` are the same IDs formatted as etcdctl prints them (unpadded lowercase hex).
 * Every failure is an EtcdClientError (an EtcdadmError) with the original error as `cause`; use the classifiers
 * exported here (isUnhealthyCluster, isLearnerNotReady, ...) to decide on retries.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { servedBy, type ServedCertificate } from './served.js';
import { ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import {
  AlarmRequest_AlarmAction,
  DowngradeRequest_DowngradeAction,
  AlarmType,
  Cluster,
  Compare_CompareResult,
  Compare_CompareTarget,
  KV,
  Lease,
  Maintenance,
  type Member as PbMember,
  type ResponseHeader,
} from './gen/etcdserverpb/rpc_pb.js';
import {
  DialTimeoutError,
  ETCD_ERRORS as ERR,
  EtcdClientError,
  isNotSupportedForLearner,
  transportFailure,
  unreachableError,
  wrapError,
} from './errors.js';
import { idToHex } from './ids.js';

export {
  EtcdClientError,
  ETCD_ERRORS,
  isLearnerNotReady,
  isMemberExists,
  isMemberNotFound,
  isMemberNotLearner,
  isNoSpace,
  isNotSupportedForLearner,
  isPeerURLExists,
  isPermissionDenied,
  isTlsError,
  isTooManyLearners,
  isUnavailable,
  isUnhealthyCluster,
  isUnreachable,
  type EtcdErrorKind,
} from './errors.js';
export { idToHex, parseId } from './ids.js';

// ------------------------------------------------------------------ types

export interface EtcdTls {
  /** PEM of the cluster CA (trusted for the server certificates). */
  ca: string | Buffer;
  /** PEM of the client certificate and its key. */
  cert: string | Buffer;
  key: string | Buffer;
  /** Where `ca` came from, named in error messages ("the cluster's CA must be the one at <caFile>"). */
  caFile?: string;
  /** Where `cert` came from, named in error messages. */
  certFile?: string;
}

export interface EtcdConnectOptions {
  /** Client URLs, e.g. https://10.0.0.1:2379. https needs `tls`; http is plaintext (tests). */
  endpoints: string[];
  tls?: EtcdTls;
  /** Time to open a connection (TCP + TLS + HTTP/2) before moving to the next endpoint. Default 2000. */
  dialTimeoutMs?: number;
  /** Deadline of each request (also sent to etcd as grpc-timeout). Default 5000. */
  requestTimeoutMs?: number;
  /** Debug messages about dialing and failover. */
  logger?: Logger;
}

export interface Member {
  id: bigint;
  idHex: string;
  /** Empty for a member that was added but has not started yet. */
  name: string;
  peerURLs: string[];
  /** Empty for a member that was added but has not started yet. */
  clientURLs: string[];
  isLearner: boolean;
}

export interface MemberListResult {
  clusterId: bigint;
  clusterIdHex: string;
  /** The member that answered. */
  memberId: bigint;
  memberIdHex: string;
  members: Member[];
}

export interface MemberAddResult extends MemberListResult {
  /** The new member (name and clientURLs are empty until it starts). */
  member: Member;
}

export interface EtcdStatus {
  /** The endpoint that answered. */
  endpoint: string;
  memberId: bigint;
  memberIdHex: string;
  clusterId: bigint;
  /** etcd server version, e.g. "3.5.30". */
  version: string;
  /** Bytes allocated by the backend database file. */
  dbSize: number;
  /** Bytes in use in it (dbSize - dbSizeInUse can be reclaimed by defragment). */
  dbSizeInUse: number;
  /** The leader as this member sees it; 0n when it knows none. */
  leader: bigint;
  leaderHex: string;
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  /** Alarms and health problems this member reports (e.g. "memberID:... alarm:NOSPACE"). */
  errors: string[];
  isLearner: boolean;
  /** etcd 3.6+: the version of the db file ("3.6.0"); "" on older versions. */
  storageVersion: string;
  /** etcd 3.6+: the downgrade under way, if one is enabled. */
  downgrade: { enabled: boolean; targetVersion: string } | null;
}

export interface Alarm {
  memberId: bigint;
  memberIdHex: string;
  alarm: 'NOSPACE' | 'CORRUPT' | 'NONE' | `UNKNOWN(${number})`;
}

export interface HealthResult {
  healthy: boolean;
  /** The endpoint that was checked (the one that answered, or the first one tried). */
  endpoint: string;
  /** Round trip of the check, ms. */
  tookMs: number;
  /** One line, when unhealthy. */
  error?: string;
}

export interface SnapshotResult {
  endpoint: string;
  /** Bytes written, the trailing sha256 included (etcd appends the sha256 of the database to the stream). */
  bytes: number;
  /** Store revision at the snapshot, when etcd sent it (0n otherwise). */
  revision: bigint;
  /** SHA-256 (hex) of everything written, the trailing sha256 included: the file's own hash. */
  sha256: string;
}

export interface HttpHealthResult {
  healthy: boolean;
  /** HTTP status; 0 when no answer. */
  status: number;
  body: string;
  /** Why there was no answer (connection refused, TLS, timeout). */
  error?: string;
}

interface Conn {
  endpoint: string;
  manager: Http2SessionManager;
  /** The sockets this connection opened: destroyed on close (see `socketsFor`). */
  sockets: Set<Socket>;
  kv: Client<typeof KV>;
  cluster: Client<typeof Cluster>;
  lease: Client<typeof Lease>;
  maintenance: Client<typeof Maintenance>;
}

interface RunOptions {
  /** May be sent again to the next endpoint after a transport failure that happened mid-request. */
  idempotent: boolean;
  /** Send only to this endpoint (no failover). */
  endpoint?: string;
}

const DEFAULT_DIAL_TIMEOUT_MS = 2000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

const enc = new TextEncoder();
const dec = new TextDecoder();

function toMember(m: PbMember): Member {
  return {
    id: m.ID,
    idHex: idToHex(m.ID),
    name: m.name,
    peerURLs: [...m.peerURLs],
    clientURLs: [...m.clientURLs],
    isLearner: m.isLearner,
  };
}

function headerIds(h: ResponseHeader | undefined): Pick<MemberListResult, 'clusterId' | 'clusterIdHex' | 'memberId' | 'memberIdHex'> {
  const clusterId = h?.clusterId ?? 0n;
  const memberId = h?.memberId ?? 0n;
  return { clusterId, clusterIdHex: idToHex(clusterId), memberId, memberIdHex: idToHex(memberId) };
}

function alarmName(a: AlarmType): Alarm['alarm'] {
  switch (a) {
    case AlarmType.NOSPACE:
      return 'NOSPACE';
    case AlarmType.CORRUPT:
      return 'CORRUPT';
    case AlarmType.NONE:
      return 'NONE';
    default:
      return `UNKNOWN(${a as number})`;
  }
}

/** Validates and normalizes one endpoint URL (scheme, host, port; no path). */
export function normalizeEndpoint(endpoint: string, hasTls: boolean): string {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new EtcdadmError(`invalid etcd endpoint "${endpoint}"`, {
      hint: 'endpoints are URLs like https://10.0.0.1:2379',
    });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new EtcdadmError(`invalid etcd endpoint "${endpoint}": scheme must be https or http`, {
      hint: 'endpoints are URLs like https://10.0.0.1:2379',
    });
  }
  if (u.protocol === 'https:' && !hasTls) {
    throw new EtcdadmError(`etcd endpoint ${endpoint} is https but no TLS files were given`, {
      hint: 'pass the cluster CA and a client certificate and key',
    });
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username) {
    throw new EtcdadmError(`invalid etcd endpoint "${endpoint}": no path, query or credentials allowed`, {
      hint: 'endpoints are URLs like https://10.0.0.1:2379',
    });
  }
  return `${u.protocol}//${u.host}`;
}

// ------------------------------------------------------------------ the client

/**
 * HTTP/2 flow-control windows wide enough for a snapshot stream. Node's default is 64 KiB per stream and per
 * connection, so etcd stalls after every 64 KiB until the window update arrives: 1.2 GiB took 25 s to receive on
 * 127.0.0.1, 6 s with these (grpc-go, as etcdctl uses it, widens its windows the same way).
 */
const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
const SESSION_WINDOW_BYTES = 32 * 1024 * 1024;
const widened = new WeakSet<object>();
const guarded = new WeakSet<object>();

/**
 * A session's late errors are swallowed (they reach the manager through its own listener while it watches): when
 * etcd restarts, connect-node destroys a session that got a GOAWAY with an error, and when the manager has already
 * moved on and removed its listener, that error would be an uncaught exception that ends the process.
 */
export function guardSession(session: unknown): void {
  if (!session || typeof (session as { on?: unknown }).on !== 'function' || guarded.has(session as object)) return;
  guarded.add(session as object);
  (session as { on(event: 'error', fn: () => void): void }).on('error', () => undefined);
}

/** A snapshot stream that sends nothing for this long is given up (EtcdClient.snapshot). */
export const SNAPSHOT_STALL_MS = 60_000;

/** Http2SessionManager whose sessions get the wide connection window (settings only set the per-stream one). */
class WideWindowSessionManager extends Http2SessionManager {
  override async connect(): ReturnType<Http2SessionManager['connect']> {
    const state = await super.connect();
    // the session just opened (connect-node keeps it in its state; there is no public accessor)
    guardSession((this as unknown as { s?: { conn?: unknown } }).s?.conn);
    return state;
  }

  override async request(...args: Parameters<Http2SessionManager['request']>): ReturnType<Http2SessionManager['request']> {
    const stream = await super.request(...args);
    const session = stream.session;
    guardSession(session);
    if (session && !widened.has(session)) {
      widened.add(session);
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    }
    return stream;
  }
}

export class EtcdClient {
  private readonly conns = new Map<string, Conn>();
  private current = 0;
  private closed = false;
  readonly endpoints: readonly string[];
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;

  private readonly secureContext: SecureContext | undefined;

  private constructor(private readonly opts: EtcdConnectOptions) {
    if (opts.endpoints.length === 0) {
      throw new EtcdadmError('no etcd endpoint given', { hint: 'pass at least one client URL, e.g. https://10.0.0.1:2379' });
    }
    this.endpoints = opts.endpoints.map((e) => normalizeEndpoint(e, opts.tls !== undefined));
    // one TLS context (CA, certificate and key parsed once) for every connection of this client
    if (opts.tls) this.secureContext = checkTlsMaterial(opts.tls);
    this.dialTimeoutMs = opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /**
   * The certificate `endpoint` presented when this client connected to it (its open TLS connection), or undefined
   * when there is none: what a new connection would see, without making one.
   */
  servedCertificate(endpoint: string): ServedCertificate | undefined {
    const c = this.conns.get(normalizeEndpoint(endpoint, this.opts.tls !== undefined));
    for (const s of c?.sockets ?? []) if (s instanceof TLSSocket && !s.destroyed && s.encrypted) return servedBy(s);
    return undefined;
  }

  /**
   * Validates the options and opens a connection to the first endpoint that answers (in order). Throws
   * EtcdClientError "cannot reach etcd at ..." when none does. No RPC is sent, so this also works on a learner.
   */
  static async connect(opts: EtcdConnectOptions): Promise<EtcdClient> {
    const client = new EtcdClient(opts);
    try {
      await client.dialAny();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /**
   * Start connecting to `endpoints` now, in the background, so that the first requests to them find the connection
   * open (or connecting): `status` opens every member's connection while it reads the member list. A failure here
   * is the first request's to report.
   */
  prewarm(endpoints: readonly string[]): void {
    for (const e of endpoints) {
      const ep = normalizeEndpoint(e, this.opts.tls !== undefined);
      this.dial(this.conn(ep)).catch(() => undefined);
    }
  }

  /** Like connect, but dials lazily at the first request (for endpoints that are not up yet). */
  static create(opts: EtcdConnectOptions): EtcdClient {
    return new EtcdClient(opts);
  }

  /** A new client (same TLS and timeouts) for other endpoints, dialed lazily. Close it when done. */
  withEndpoints(endpoints: string[]): EtcdClient {
    return new EtcdClient({ ...this.opts, endpoints });
  }

  /** The endpoint requests go to now (the first one that answered). */
  get endpoint(): string {
    return this.endpoints[this.current]!;
  }

  /** Closes all connections. The client cannot be used afterwards. */
  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) abortConn(c);
    this.conns.clear();
  }

  // ---------------------------------------------------------------- cluster

  /**
   * The members of the cluster. `linearizable` (etcd >= 3.5; ignored by 3.4) asks the leader for the committed
   * membership instead of the answering member's local view; it needs quorum, so pass false to read from a cluster
   * that lost it.
   */
  async memberList(linearizable = true): Promise<MemberListResult> {
    return this.run('MemberList', { idempotent: true }, async (c) => {
      const r = await c.cluster.memberList({ linearizable }, this.callOpts());
      return { ...headerIds(r.header), members: r.members.map(toMember) };
    });
  }

  /** Adds a member (a learner when `isLearner`, etcd >= 3.4). The new member must then be started with these peerURLs. */
  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<MemberAddResult> {
    return this.run('MemberAdd', { idempotent: false }, async (c) => {
      const r = await c.cluster.memberAdd({ peerURLs, isLearner }, this.callOpts());
      if (!r.member) throw new EtcdClientError(`etcd MemberAdd at ${c.endpoint} returned no member`, { kind: 'server', endpoint: c.endpoint });
      return { ...headerIds(r.header), member: toMember(r.member), members: r.members.map(toMember) };
    });
  }

  async memberRemove(id: bigint): Promise<MemberListResult> {
    return this.run('MemberRemove', { idempotent: false }, async (c) => {
      const r = await c.cluster.memberRemove({ ID: id }, this.callOpts());
      return { ...headerIds(r.header), members: r.members.map(toMember) };
    });
  }

  /** Promotes a learner to a voting member; fails with isLearnerNotReady until it has caught up (retry). */
  async memberPromote(id: bigint): Promise<MemberListResult> {
    return this.run('MemberPromote', { idempotent: false }, async (c) => {
      const r = await c.cluster.memberPromote({ ID: id }, this.callOpts());
      return { ...headerIds(r.header), members: r.members.map(toMember) };
    });
  }

  // ---------------------------------------------------------------- maintenance

  /** Status of one member: of `endpoint` when given (any client URL; no failover), else of the current endpoint. */
  async status(endpoint?: string): Promise<EtcdStatus> {
    return this.run('Status', { idempotent: true, endpoint }, async (c) => {
      const r = await c.maintenance.status({}, this.callOpts());
      const ids = headerIds(r.header);
      return {
        endpoint: c.endpoint,
        memberId: ids.memberId,
        memberIdHex: ids.memberIdHex,
        clusterId: ids.clusterId,
        version: r.version,
        dbSize: Number(r.dbSize),
        dbSizeInUse: Number(r.dbSizeInUse),
        leader: r.leader,
        leaderHex: idToHex(r.leader),
        raftIndex: r.raftIndex,
        raftTerm: r.raftTerm,
        raftAppliedIndex: r.raftAppliedIndex,
        errors: [...r.errors],
        isLearner: r.isLearner,
        storageVersion: r.storageVersion,
        downgrade: r.downgradeInfo ? { enabled: r.downgradeInfo.enabled, targetVersion: r.downgradeInfo.targetVersion } : null,
      };
    });
  }

  /**
   * etcd's downgrade API (3.5+): `validate` that the cluster can go to `version` ("3.5"), `enable` it (the cluster
   * version drops at once; each member then moves to the older binary), or `cancel` one not completed. Returns the
   * cluster version etcd reports.
   */
  async downgrade(action: 'validate' | 'enable' | 'cancel', version = ''): Promise<string> {
    return this.run('Downgrade', { idempotent: action === 'validate' }, async (c) => {
      const a = { validate: DowngradeRequest_DowngradeAction.VALIDATE, enable: DowngradeRequest_DowngradeAction.ENABLE, cancel: DowngradeRequest_DowngradeAction.CANCEL }[action];
      const r = await c.maintenance.downgrade({ action: a, version }, this.callOpts());
      return r.version;
    });
  }

  /** Active alarms of the cluster (NOSPACE, CORRUPT). */
  async alarms(): Promise<Alarm[]> {
    return this.run('Alarm', { idempotent: true }, async (c) => {
      const r = await c.maintenance.alarm(
        { action: AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: AlarmType.NONE },
        this.callOpts(),
      );
      return r.alarms.map((a) => ({ memberId: a.memberID, memberIdHex: idToHex(a.memberID), alarm: alarmName(a.alarm) }));
    });
  }

  /** Disarms an alarm (all members when memberId is 0n). */
  async alarmDisarm(alarm: 'NOSPACE' | 'CORRUPT', memberId = 0n): Promise<void> {
    await this.run('Alarm', { idempotent: true }, async (c) => {
      await c.maintenance.alarm(
        { action: AlarmRequest_AlarmAction.DEACTIVATE, memberID: memberId, alarm: alarm === 'NOSPACE' ? AlarmType.NOSPACE : AlarmType.CORRUPT },
        this.callOpts(),
      );
    });
  }

  /**
   * Transfers leadership to `targetId`. MoveLeader must reach the current leader: without `opts.endpoint` the leader
   * is found (Status + MemberList) and the request sent to its client URLs. A no-op when the target already leads.
   */
  async moveLeader(targetId: bigint, opts: { endpoint?: string; timeoutMs?: number } = {}): Promise<void> {
    const send = async (endpoint: string): Promise<void> => {
      await this.run('MoveLeader', { idempotent: false, endpoint }, async (c) => {
        await c.maintenance.moveLeader({ targetID: targetId }, this.callOpts(opts.timeoutMs));
      });
    };
    if (opts.endpoint) return send(opts.endpoint);
    const st = await this.status();
    if (st.leader === 0n) {
      throw new EtcdClientError(`etcd at ${st.endpoint} knows no leader, cannot move leadership`, {
        kind: 'server',
        endpoint: st.endpoint,
        etcdMessage: 'etcdserver: no leader',
        hint: 'check that a majority of the members are running and can reach each other',
      });
    }
    if (st.leader === targetId) return;
    const list = await this.memberList();
    const leader = list.members.find((m) => m.id === st.leader);
    if (!leader || leader.clientURLs.length === 0) {
      throw new EtcdClientError(`cannot find the client URL of the etcd leader ${st.leaderHex}`, {
        kind: 'server',
        endpoint: st.endpoint,
        hint: 'pass the leader endpoint explicitly',
      });
    }
    let lastErr: unknown;
    for (const url of leader.clientURLs) {
      try {
        return await send(url);
      } catch (err) {
        lastErr = err;
        if (!(err instanceof EtcdClientError) || (err.kind !== 'unreachable' && err.kind !== 'tls')) throw err;
      }
    }
    throw lastErr;
  }

  /**
   * Compacts the key-value history up to `revision` (cluster-wide, through raft); `physical` returns once the
   * compaction is applied to the backend. etcd refuses a revision at or below the last compaction ("required revision
   * has been compacted") and one above the current revision.
   */
  async compact(revision: bigint, physical = true, timeoutMs?: number): Promise<void> {
    await this.run('Compact', { idempotent: true }, async (c) => {
      await c.kv.compact({ revision, physical }, this.callOpts(timeoutMs));
    });
  }

  /**
   * Whether the member at `endpoint` has compacted its history past `revision`: a read of that revision from its own
   * store (serializable) answers "required revision has been compacted". Only that member's view: compaction goes
   * through raft, and each member applies it when it applies the entry.
   */
  async compactedPast(endpoint: string, revision: bigint): Promise<boolean> {
    try {
      await this.run('Range', { idempotent: true, endpoint }, async (c) => {
        await c.kv.range({ key: new Uint8Array([0]), revision, serializable: true, limit: 1n, keysOnly: true }, this.callOpts());
      });
      return false;
    } catch (err) {
      if (/required revision has been compacted/.test(err instanceof Error ? err.message : String(err))) return true;
      throw err;
    }
  }

  /** Defragments one member's backend (of `endpoint`, else the current one). Blocks that member meanwhile. */
  async defragment(endpoint?: string, timeoutMs = 60_000): Promise<void> {
    await this.run('Defragment', { idempotent: true, endpoint }, async (c) => {
      await c.maintenance.defragment({}, this.callOpts(timeoutMs));
    });
  }

  /** Hash of the MVCC key space of one member up to `revision` (0 = latest), for consistency checks. */
  async hashKV(endpoint?: string, revision = 0n): Promise<{ endpoint: string; memberId: bigint; hash: number; compactRevision: bigint; revision: bigint }> {
    return this.run('HashKV', { idempotent: true, endpoint }, async (c) => {
      const r = await c.maintenance.hashKV({ revision }, this.callOpts());
      return {
        endpoint: c.endpoint,
        memberId: r.header?.memberId ?? 0n,
        hash: r.hash,
        compactRevision: r.compactRevision,
        revision: r.header?.revision ?? 0n,
      };
    });
  }

  /**
   * Streams a snapshot of the answering member's database into `to` (which is not ended). Verifies the sha256 that
   * etcd appends to the stream. Not supported on learners. No deadline unless `opts.timeoutMs`.
   */
  async snapshot(to: Writable, opts: { endpoint?: string; timeoutMs?: number; stallMs?: number; onProgress?: (bytes: number) => void } = {}): Promise<SnapshotResult> {
    return this.run('Snapshot', { idempotent: false, endpoint: opts.endpoint }, async (c) => {
      // no deadline for the whole stream (a big database takes long), but one for progress: a stream that sends
      // nothing for stallMs (60 s) is given up, so a stalled member cannot hold the host lock forever
      const stallMs = opts.stallMs ?? SNAPSHOT_STALL_MS;
      const stop = new AbortController();
      const stall = setTimeout(() => stop.abort(new EtcdClientError(`the snapshot stream from ${c.endpoint} sent no data for ${stallMs / 1000} s`, { kind: 'timeout', endpoint: c.endpoint, hint: 'check the member (its disk, its log) and run the command again' })), stallMs);
      let bytes = 0;
      let revision = 0n;
      // One pass of SHA-256: `hash` covers the database (all but the last 32 bytes, which are etcd's SHA-256 of it);
      // the file's own hash is a copy of it fed the tail. `tail` is the last <= 32 bytes seen and not yet hashed.
      const hash = createHash('sha256');
      let tail: Buffer = Buffer.alloc(0);
      try {
      for await (const r of c.maintenance.snapshot({}, { timeoutMs: opts.timeoutMs ?? 0, signal: stop.signal })) {
        stall.refresh();
        if (revision === 0n && r.header?.revision) revision = r.header.revision;
        if (r.blob.length === 0) continue;
        const buf = Buffer.from(r.blob.buffer, r.blob.byteOffset, r.blob.byteLength);
        if (buf.length >= 32) {
          hash.update(tail);
          hash.update(buf.subarray(0, buf.length - 32));
          tail = buf.subarray(buf.length - 32);
        } else {
          const joined = Buffer.concat([tail, buf]);
          hash.update(joined.subarray(0, Math.max(0, joined.length - 32)));
          tail = joined.subarray(Math.max(0, joined.length - 32));
        }
        bytes += buf.length;
        opts.onProgress?.(bytes);
        if (!to.write(buf)) {
          if (to.errored) throw to.errored;
          await new Promise<void>((resolve, reject) => {
            const onDrain = (): void => {
              to.off('error', onError);
              resolve();
            };
            const onError = (e: Error): void => {
              to.off('drain', onDrain);
              reject(e);
            };
            to.once('drain', onDrain);
            to.once('error', onError);
          });
        }
      }
      } catch (err) {
        if (stop.signal.aborted) throw stop.signal.reason;
        throw err;
      } finally {
        clearTimeout(stall);
      }
      const whole = hash.copy().update(tail).digest('hex');
      if (bytes < 32 || !hash.digest().equals(tail)) {
        throw new EtcdClientError(`etcd snapshot from ${c.endpoint} is corrupt (${bytes} bytes, sha256 mismatch)`, {
          kind: 'server',
          endpoint: c.endpoint,
          hint: 'take the snapshot again; if it fails again, check the member (etcdctl endpoint status, its log)',
        });
      }
      return { endpoint: c.endpoint, bytes, revision, sha256: whole };
    });
  }

  // ---------------------------------------------------------------- KV

  async put(key: string, value: string | Uint8Array): Promise<{ revision: bigint }> {
    return this.run('Put', { idempotent: true }, async (c) => {
      const r = await c.kv.put({ key: enc.encode(key), value: typeof value === 'string' ? enc.encode(value) : value }, this.callOpts());
      return { revision: r.header?.revision ?? 0n };
    });
  }

  /** The value of `key` as UTF-8, or undefined. Linearizable unless `serializable`. */
  async get(key: string, opts: { serializable?: boolean } = {}): Promise<string | undefined> {
    return this.run('Range', { idempotent: true }, async (c) => {
      const r = await c.kv.range({ key: enc.encode(key), serializable: opts.serializable ?? false, limit: 1n }, this.callOpts());
      const kv = r.kvs[0];
      return kv ? dec.decode(kv.value) : undefined;
    });
  }

  /** The store revision `endpoint` (or the current endpoint) is at: the header of a one-key serializable read. */
  async revision(endpoint?: string): Promise<bigint> {
    return this.run('Range', { idempotent: true, endpoint }, async (c) => {
      const r = await c.kv.range({ key: new Uint8Array([0]), serializable: true, limit: 1n, keysOnly: true }, this.callOpts());
      return r.header?.revision ?? 0n;
    });
  }

  /** Deletes `key`; returns the number of keys deleted (0 or 1). */
  async delete(key: string): Promise<number> {
    return this.run('DeleteRange', { idempotent: true }, async (c) => {
      const r = await c.kv.deleteRange({ key: enc.encode(key) }, this.callOpts());
      return Number(r.deleted);
    });
  }

  /**
   * Puts `key` = `value` attached to `lease` only when the key does not exist (one Txn: create_revision == 0), else
   * reads it: `{ created: true }`, or `{ created: false, value }` with the value that is there. Not retried on another
   * endpoint once sent (a lost answer could hide a put that was made).
   */
  async createIfAbsent(key: string, value: string, lease: bigint): Promise<{ created: true } | { created: false; value: string | undefined }> {
    return this.run('Txn', { idempotent: false }, async (c) => {
      const k = enc.encode(key);
      const r = await c.kv.txn(
        {
          compare: [{ key: k, result: Compare_CompareResult.EQUAL, target: Compare_CompareTarget.CREATE, targetUnion: { case: 'createRevision', value: 0n } }],
          success: [{ request: { case: 'requestPut', value: { key: k, value: enc.encode(value), lease } } }],
          failure: [{ request: { case: 'requestRange', value: { key: k, limit: 1n } } }],
        },
        this.callOpts(),
      );
      if (r.succeeded) return { created: true as const };
      const range = r.responses[0]?.response;
      const kv = range?.case === 'responseRange' ? range.value.kvs[0] : undefined;
      return { created: false as const, value: kv ? dec.decode(kv.value) : undefined };
    });
  }

  /** A new lease of `ttlSec` seconds; its ID. */
  async leaseGrant(ttlSec: number): Promise<bigint> {
    return this.run('LeaseGrant', { idempotent: false }, async (c) => {
      const r = await c.lease.leaseGrant({ TTL: BigInt(ttlSec), ID: 0n }, this.callOpts());
      if (r.error) throw new EtcdClientError(`etcd LeaseGrant at ${c.endpoint}: ${r.error}`, { kind: 'server', endpoint: c.endpoint });
      return r.ID;
    });
  }

  /** Revokes a lease: the keys attached to it are deleted. A lease already gone is fine. */
  async leaseRevoke(id: bigint): Promise<void> {
    try {
      await this.run('LeaseRevoke', { idempotent: true }, async (c) => {
        await c.lease.leaseRevoke({ ID: id }, this.callOpts());
      });
    } catch (err) {
      if (/requested lease not found/.test(err instanceof Error ? err.message : String(err))) return;
      throw err;
    }
  }

  /**
   * Renews a lease once (etcdctl lease keep-alive --once), through `endpoint` when given (no failover): the seconds
   * it has left, 0 when it is gone (expired or revoked).
   */
  async leaseKeepAliveOnce(id: bigint, endpoint?: string, timeoutMs?: number): Promise<number> {
    return this.run('LeaseKeepAlive', { idempotent: true, endpoint }, async (c) => {
      const stop = new AbortController();
      async function* one() {
        yield { ID: id };
        // the request side stays open until the answer is in: etcd ends the stream when the client does
        await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      }
      try {
        for await (const r of c.lease.leaseKeepAlive(one(), { timeoutMs: timeoutMs ?? this.requestTimeoutMs, signal: stop.signal })) {
          return r.TTL > 0n ? Number(r.TTL) : 0;
        }
        return 0;
      } finally {
        stop.abort();
      }
    });
  }

  /**
   * etcdctl's `endpoint health`: a linearizable (quorum) Range of key "health". Success, or a permission-denied
   * answer (auth on), is healthy; anything else is not. Never throws. Checks `endpoint` alone when given, else the
   * current endpoint with failover. Fails on a learner ("rpc not supported for learner"): use httpHealth there.
   */
  async healthCheck(endpoint?: string): Promise<HealthResult> {
    const start = Date.now();
    try {
      const ep = await this.run('Range', { idempotent: true, endpoint }, async (c) => {
        await c.kv.range({ key: enc.encode('health'), serializable: false }, this.callOpts());
        return c.endpoint;
      });
      return { healthy: true, endpoint: ep, tookMs: Date.now() - start };
    } catch (err) {
      const ep = err instanceof EtcdClientError && err.endpoint ? err.endpoint : (endpoint ?? this.endpoint);
      if (err instanceof EtcdClientError && err.kind === 'server' && isPermissionDeniedError(err)) {
        return { healthy: true, endpoint: ep, tookMs: Date.now() - start };
      }
      const error = err instanceof EtcdadmError ? err.oneLine() : err instanceof Error ? err.message : String(err);
      return { healthy: false, endpoint: ep, tookMs: Date.now() - start, error };
    }
  }

  // ---------------------------------------------------------------- plumbing

  private callOpts(timeoutMs?: number): { timeoutMs: number } {
    return { timeoutMs: timeoutMs ?? this.requestTimeoutMs };
  }

  private conn(endpoint: string): Conn {
    if (this.closed) throw new EtcdadmError('etcd client used after close()');
    let c = this.conns.get(endpoint);
    if (c) return c;
    const tls = endpoint.startsWith('https:') ? this.opts.tls : undefined;
    const sockets = new Set<Socket>();
    // HTTP/2 pings while a stream is open (a snapshot): a peer that vanished without a FIN is noticed within 20 s
    // (etcd accepts client pings every 5 s: --grpc-keepalive-min-time)
    const manager = new WideWindowSessionManager(endpoint, { pingIntervalMs: 10_000, pingTimeoutMs: 10_000 }, { createConnection: socketsFor(sockets, tls && this.secureContext), settings: { initialWindowSize: STREAM_WINDOW_BYTES } });
    const transport = createGrpcTransport({ baseUrl: endpoint, sessionManager: manager });
    c = {
      endpoint,
      manager,
      sockets,
      kv: createClient(KV, transport),
      cluster: createClient(Cluster, transport),
      lease: createClient(Lease, transport),
      maintenance: createClient(Maintenance, transport),
    };
    this.conns.set(endpoint, c);
    return c;
  }

  /** Opens the connection of `c` unless open; throws the raw failure (DialTimeoutError or the node error). */
  private async dial(c: Conn): Promise<void> {
    const state = c.manager.state();
    if (state === 'open' || state === 'idle' || state === 'verifying') return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.dialTimeoutMs);
    });
    try {
      const res = await Promise.race([c.manager.connect(), timeout]);
      if (res === 'timeout') {
        const err = new DialTimeoutError(this.dialTimeoutMs);
        abortConn(c, err);
        throw err;
      }
      if (res === 'error') throw c.manager.error() ?? new Error('connection failed');
    } finally {
      clearTimeout(timer);
    }
  }

  private wrap(err: unknown, endpoint: string, op: string, timeoutMs?: number): EtcdClientError {
    return wrapError(err, endpoint, op, { caFile: this.opts.tls?.caFile, certFile: this.opts.tls?.certFile }, timeoutMs ?? this.requestTimeoutMs);
  }

  /** Dials the endpoints in order until one connects; it becomes the current endpoint. */
  private async dialAny(): Promise<void> {
    const failures: { endpoint: string; error: EtcdClientError }[] = [];
    for (let i = 0; i < this.endpoints.length; i++) {
      const ep = this.endpoints[i]!;
      try {
        await this.dial(this.conn(ep));
        this.current = i;
        return;
      } catch (err) {
        failures.push({ endpoint: ep, error: this.wrap(err, ep, 'dial') });
        this.opts.logger?.debug('etcd endpoint unreachable', { endpoint: ep, error: failures.at(-1)!.error.message });
      }
    }
    throw unreachableError(failures);
  }

  private async run<T>(op: string, opts: RunOptions, fn: (c: Conn) => Promise<T>): Promise<T> {
    if (opts.endpoint !== undefined) {
      const ep = normalizeEndpoint(opts.endpoint, this.opts.tls !== undefined);
      const c = this.conn(ep);
      try {
        await this.dial(c);
        return await fn(c);
      } catch (err) {
        throw this.wrap(err, ep, op);
      }
    }
    const order = [this.current, ...this.endpoints.map((_, i) => i).filter((i) => i !== this.current)];
    const failures: { endpoint: string; error: EtcdClientError }[] = [];
    for (const idx of order) {
      const ep = this.endpoints[idx]!;
      const c = this.conn(ep);
      try {
        await this.dial(c);
      } catch (err) {
        failures.push({ endpoint: ep, error: this.wrap(err, ep, op) });
        this.opts.logger?.debug('etcd endpoint unreachable, trying the next one', { endpoint: ep, op });
        continue;
      }
      try {
        const result = await fn(c);
        if (idx !== this.current) {
          this.opts.logger?.debug('etcd client switched endpoint', { from: this.endpoint, to: ep });
          this.current = idx;
        }
        return result;
      } catch (err) {
        const t = transportFailure(err, {}, '');
        const moveOn =
          (t !== undefined && (t.notSent || opts.idempotent)) || (opts.idempotent && endpointSpecific(err));
        if (!moveOn) throw this.wrap(err, ep, op);
        if (t !== undefined) abortConn(c);
        failures.push({ endpoint: ep, error: this.wrap(err, ep, op) });
        this.opts.logger?.debug('etcd request failed, trying the next endpoint', { endpoint: ep, op, error: failures.at(-1)!.error.message });
      }
    }
    // Some endpoint answered (a learner, a member without leader): report its answer, not "cannot reach".
    const learner = failures.find((f) => f.error.kind === 'server');
    if (learner) throw learner.error;
    throw unreachableError(failures);
  }
}

/**
 * The sockets of an HTTP/2 session, made by us so that they can be destroyed: destroying a session that is still
 * connecting does not destroy its socket (connect-node says so too), and a TCP connect to a host whose packets are
 * dropped then keeps the process alive until the kernel gives up (a minute or more).
 */
function socketsFor(sockets: Set<Socket>, tls: SecureContext | undefined): (authority: URL) => Socket {
  return (authority) => {
    const host = authority.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(authority.port) || (tls ? 443 : 80);
    const s: Socket = tls
      ? tlsConnect({ host, port, secureContext: tls, ALPNProtocols: ['h2'], ...(isIP(host) ? {} : { servername: host }) })
      : netConnect({ host, port });
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    // the session reports failures while it lives; an error after it was destroyed (a late TLS alert) has no one left
    // to tell, and must not crash the process
    s.on('error', () => undefined);
    return s;
  };
}

/** Abort a connection's session, and destroy its sockets that are still connecting (the session cannot). */
function abortConn(c: Conn, reason?: Error): void {
  c.manager.abort(reason);
  for (const s of c.sockets) if (s.connecting || s.pending) s.destroy();
}

/**
 * Fails early, with the file names, when the CA/cert/key are not usable PEM or the key does not match the cert;
 * returns the TLS context made of them.
 */
function checkTlsMaterial(tls: EtcdTls): SecureContext {
  const pem = (v: string | Buffer): boolean => /-----BEGIN [A-Z0-9 ]+-----/.test(v.toString());
  const files = [tls.caFile && `CA ${tls.caFile}`, tls.certFile && `certificate ${tls.certFile}`].filter(Boolean).join(', ');
  const where = files ? ` (${files})` : '';
  const bad = (why: string, cause?: unknown): EtcdClientError =>
    new EtcdClientError(`cannot use the etcd client TLS files${where}: ${why}`, {
      kind: 'tls',
      hint: 'pass the PEM files of the cluster CA and of a client certificate and its key',
      cause,
    });
  if (!pem(tls.ca)) throw bad('the CA is not a PEM certificate');
  if (!pem(tls.cert)) throw bad('the client certificate is not PEM');
  if (!pem(tls.key)) throw bad('the client key is not PEM');
  try {
    return createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err), err);
  }
}

/**
 * etcd answers that concern only the endpoint that gave them, so that a read may be sent to the next one: it is a
 * learner, or it has no leader (partitioned from the others, while another member may have one).
 */
function endpointSpecific(err: unknown): boolean {
  return isNotSupportedForLearner(err) || (err instanceof ConnectError && err.rawMessage === ERR.noLeader);
}

function isPermissionDeniedError(err: EtcdClientError): boolean {
  return err.grpcCode === 7 || (err.etcdMessage ?? '').includes('etcdserver: permission denied');
}

// ------------------------------------------------------------------ HTTP /health, /version

type HttpTls = Pick<EtcdTls, 'ca' | 'cert' | 'key' | 'caFile' | 'certFile'>;

/** GET <url><path> over HTTP/1.1 (HTTPS with the client certificate). Never throws: a failure gives status 0 and `error`. */
function httpGet(url: string, path: string, tls: HttpTls | undefined, timeoutMs: number, maxChars = 65536): Promise<{ status: number; body: string; error?: string }> {
  let u: URL;
  try {
    u = new URL(url.replace(/\/+$/, '') + path);
  } catch {
    return Promise.resolve({ status: 0, body: '', error: `invalid URL "${url}"` });
  }
  const https = u.protocol === 'https:';
  return new Promise((resolve) => {
    const req = (https ? httpsRequest : httpRequest)(
      u,
      { method: 'GET', timeout: timeoutMs, ...(https && tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < maxChars) body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', (err) => resolve({ status: res.statusCode ?? 0, body, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new DialTimeoutError(timeoutMs)));
    req.on('error', (err) => {
      const t = transportFailure(err, { caFile: tls?.caFile, certFile: tls?.certFile }, u.hostname);
      resolve({ status: 0, body: '', error: `cannot reach ${u.origin}: ${t ? t.why : err.message}` });
    });
    req.end();
  });
}

/**
 * GET <url>/health: etcd's own health endpoint. Works on learners and on the plain-http metrics URL
 * (--listen-metrics-urls), where `healthCheck` (etcdctl endpoint health) does not. Healthy means HTTP 200 with
 * {"health":"true"}. Never throws: an unreachable URL gives healthy false and `error`.
 */
export async function httpHealth(url: string, tls?: HttpTls, opts: { timeoutMs?: number } = {}): Promise<HttpHealthResult> {
  const r = await httpGet(url, '/health', tls, opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  let healthy = false;
  try {
    healthy = r.status === 200 && (JSON.parse(r.body) as { health?: unknown }).health === 'true';
  } catch {
    healthy = false;
  }
  return { healthy, status: r.status, body: r.body, ...(r.error ? { error: r.error } : {}) };
}

/**
 * GET <url>/metrics: etcd's Prometheus metrics, served on the client port (with the client certificate) and on the
 * metrics URLs. Throws when the member does not answer with them.
 */
export async function httpMetrics(url: string, tls?: HttpTls, opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await httpGet(url, '/metrics', tls, opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 8 * 1024 * 1024);
  if (r.status !== 200) throw new Error(r.error ?? `GET ${url}/metrics: HTTP ${r.status}`);
  return r.body;
}

export interface VersionInfo {
  server: string;
  /** "3.6.0"; "not_decided" right after a start. */
  cluster: string;
}

/**
 * GET <url>/version: {"etcdserver":"3.6.16","etcdcluster":"3.6.0"}. The cluster version, which no gRPC call reports,
 * moves to a new minor only once every member runs it. Throws when the member does not answer.
 */
export async function httpVersion(url: string, tls: HttpTls, opts: { timeoutMs?: number } = {}): Promise<VersionInfo> {
  const r = await httpGet(url, '/version', tls, opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  let body: { etcdserver?: unknown; etcdcluster?: unknown } = {};
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    /* below */
  }
  if (r.status !== 200 || typeof body.etcdserver !== 'string' || typeof body.etcdcluster !== 'string')
    throw new EtcdadmError(`${url}/version: ${r.error ?? `HTTP ${r.status}, not an etcd version answer`}`);
  return { server: body.etcdserver, cluster: body.etcdcluster };
}
