/**
 * Cluster-wide locks in etcd itself, so that one run of a kind goes at a time in the whole cluster whichever host
 * starts it (the rolling defrag: two hosts defragmenting two members at once could take two of three members out).
 *
 * A lock is one key under /etcdadm/locks/, created with a Txn only while it does not exist (create_revision == 0)
 * and attached to a lease: etcd's linearizable Txn lets exactly one of any number of hosts that try at once create
 * it. The holder keeps the lease alive every LOCK_TTL_SEC / 4 seconds (through any member that answers: the member
 * being defragmented does not), checks it still holds it before each step (a renewal answering 0 seconds left: it
 * lost it, and stops), and revokes the lease at the end, which deletes the key. A holder that dies frees the lock
 * when its lease expires, within LOCK_TTL_SEC. The key's value says who holds it (host, member, pid, since), so
 * that another host can say so.
 *
 * Under the NOSPACE alarm etcd refuses every write, a lease grant included — and `maintain`, etcd's recovery from it,
 * must still run. Then no lock can be taken by anyone, so a run that finds no lock key (a read still works) goes on
 * without one, saying so; one that finds a key (taken before the alarm) is busy as always.
 */
import { EtcdadmError } from '../errors.js';
import { isNoSpace, type EtcdClient } from '../etcd/client.js';
import type { Logger } from '../log/logger.js';

export const LOCK_PREFIX = '/etcdadm/locks/';
/** The rolling defrag's lock (defrag, its timer, maintain). */
export const DEFRAG_LOCK = `${LOCK_PREFIX}defrag`;
/** Seconds a lock outlives a holder that stopped renewing it. */
export const LOCK_TTL_SEC = 60;

/** Who holds a lock: the key's value, JSON. */
export interface LockHolder {
  host: string;
  member: string;
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
  /** The etcdadm command holding it ("defrag --all"). */
  command: string;
}

/** The holder a lock key's value names; a value of another shape is described as it is. Pure. */
export function parseHolder(value: string): LockHolder {
  try {
    const o = JSON.parse(value) as Partial<LockHolder>;
    if (o && typeof o.host === 'string' && typeof o.member === 'string')
      return { host: o.host, member: o.member, pid: typeof o.pid === 'number' ? o.pid : 0, since: typeof o.since === 'string' ? o.since : '', command: typeof o.command === 'string' ? o.command : '' };
  } catch {
    // not ours: shown as it is
  }
  return { host: value.slice(0, 60).replace(/[^\x20-\x7e]/g, '?') || '(unknown)', member: '', pid: 0, since: '', command: '' };
}

/** "ehost1 (member ehost1, pid 42, defrag --all since 2026-…)". Pure. */
export function describeHolder(h: LockHolder): string {
  const parts = [h.member && h.member !== h.host ? `member ${h.member}` : '', h.pid ? `pid ${h.pid}` : '', h.command ? `${h.command}${h.since ? ` since ${h.since}` : ''}` : h.since ? `since ${h.since}` : ''].filter(Boolean);
  return `${h.host}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** This process as a holder. */
export function selfHolder(host: string, member: string, command: string, now = new Date()): LockHolder {
  return { host, member, pid: process.pid, since: now.toISOString(), command };
}

/** What a run holds: the lock, or nothing under NOSPACE (see the module comment). */
export interface HeldLock {
  check(): Promise<void>;
  release(): Promise<void>;
}

export type AcquireResult = { kind: 'held'; lock: ClusterLock; why: string } | { kind: 'unlocked'; lock: HeldLock; why: string } | { kind: 'busy'; holder: LockHolder };

const NO_LOCK: HeldLock = { check: async () => undefined, release: async () => undefined };

/** Take the lock `key` for `holder`, or say who holds it. */
export async function acquireLock(client: EtcdClient, key: string, holder: LockHolder, log: Logger, ttlSec = LOCK_TTL_SEC): Promise<AcquireResult> {
  let lease: bigint;
  try {
    lease = await client.leaseGrant(ttlSec);
  } catch (err) {
    if (!isNoSpace(err)) throw err;
    const value = await client.get(key);
    if (value !== undefined) return { kind: 'busy', holder: parseHolder(value) };
    return { kind: 'unlocked', lock: NO_LOCK, why: `etcd refuses every write under the NOSPACE alarm, the lock ${key} included: going on without it (no other host can take it meanwhile)` };
  }
  let r: Awaited<ReturnType<EtcdClient['createIfAbsent']>>;
  try {
    r = await client.createIfAbsent(key, JSON.stringify(holder), lease);
  } catch (err) {
    await client.leaseRevoke(lease).catch(() => undefined);
    throw err;
  }
  if (!r.created) {
    await client.leaseRevoke(lease).catch(() => undefined);
    return { kind: 'busy', holder: parseHolder(r.value ?? '') };
  }
  log.debug('cluster lock taken', { key, lease: lease.toString(16) });
  return { kind: 'held', lock: new ClusterLock(client, key, lease, ttlSec, log), why: `Took the cluster lock ${key}: no other host defragments until this run ends` };
}

/** A lock this process holds: kept alive in the background until released. */
export class ClusterLock implements HeldLock {
  private timer: NodeJS.Timeout | undefined;
  private lost: string | undefined;
  private lastRenewed = Date.now();
  private preferred = 0;

  constructor(
    private readonly client: EtcdClient,
    readonly key: string,
    readonly lease: bigint,
    private readonly ttlSec: number,
    private readonly log: Logger,
  ) {
    const every = Math.max(1000, (ttlSec * 1000) / 4);
    this.timer = setInterval(() => void this.renew().catch(() => undefined), every);
    this.timer.unref();
  }

  /**
   * Renew the lease now, through the first member that answers (starting with the one that did last): the seconds it
   * has left. Throws when it is gone, or when no member renewed it for longer than its TTL.
   */
  async renew(): Promise<number> {
    if (this.lost) throw this.lostError();
    const eps = this.client.endpoints;
    let why = '';
    for (let n = 0; n < eps.length; n++) {
      const i = (this.preferred + n) % eps.length;
      try {
        const left = await this.client.leaseKeepAliveOnce(this.lease, eps[i], 3000);
        if (left <= 0) {
          this.lost = `its lease ${this.lease.toString(16)} expired or was revoked`;
          throw this.lostError();
        }
        this.preferred = i;
        this.lastRenewed = Date.now();
        return left;
      } catch (err) {
        if (this.lost) throw err;
        why = err instanceof Error ? err.message : String(err);
      }
    }
    if (Date.now() - this.lastRenewed >= this.ttlSec * 1000) this.lost = `no member renewed its lease for ${this.ttlSec} s (${why})`;
    if (this.lost) throw this.lostError();
    this.log.debug('cluster lock renewal failed; retrying', { key: this.key, error: why });
    return Math.max(0, this.ttlSec - Math.round((Date.now() - this.lastRenewed) / 1000));
  }

  /** Before each step: the lock is still this process's (a renewal proves it), else the run stops here. */
  async check(): Promise<void> {
    await this.renew();
  }

  /** Stop renewing and revoke the lease (the key goes with it). Never throws: an unrevoked lease expires. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.client.leaseRevoke(this.lease);
      this.log.debug('cluster lock released', { key: this.key });
    } catch (err) {
      this.log.warn(`could not release the cluster lock ${this.key} (${err instanceof Error ? err.message : String(err)}); it expires within ${this.ttlSec} s`);
    }
  }

  private lostError(): EtcdadmError {
    return new EtcdadmError(`lost the cluster lock ${this.key}: ${this.lost}; stopping before the next member`, {
      hint: 'check the cluster (etcdadm status) and run the command again',
    });
  }
}
