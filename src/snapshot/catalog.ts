/**
 * The snapshots in a directory: each `<name>.db` with its JSON sidecar `<name>.db.json` (what the snapshot is of),
 * listed newest first; which ones `snapshot prune --keep N` removes (pure: the newest N stay, never the only one).
 */
import { join } from 'node:path';
import type { Host } from '../host/host.js';

export interface SnapshotSidecar {
  /** Hex, as etcdctl prints it. */
  clusterId: string;
  memberName: string;
  memberId: string;
  /** The store revision when the snapshot was taken (at least this one). */
  revision: number;
  etcdVersion: string;
  /** Bytes of the .db file. */
  size: number;
  /** SHA-256 of the .db file (hex). */
  sha256: string;
  /** ISO 8601, UTC. */
  time: string;
}

export interface SnapshotEntry {
  name: string;
  path: string;
  size: number;
  /** The sidecar's time, else the file's modification time. */
  time: string;
  sidecar: SnapshotSidecar | null;
}

export const sidecarPath = (snapshot: string): string => `${snapshot}.json`;

/** `etcd-snapshot-<member>-<UTC time>.db`: sorts by time within a member, and says whose it is. */
export function snapshotName(member: string, now = new Date()): string {
  return `etcd-snapshot-${member}-${now.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '.$1Z')}.db`;
}

/** A sidecar's text as a sidecar; null when it is not one. */
export function parseSidecar(text: string): SnapshotSidecar | null {
  try {
    const o = JSON.parse(text) as Partial<SnapshotSidecar>;
    return typeof o.sha256 === 'string' && typeof o.size === 'number' ? (o as SnapshotSidecar) : null;
  } catch {
    return null;
  }
}

/**
 * The names snapshotName gives one member's snapshots: their common prefix, and the pattern of a whole name (for
 * member "a", not member "a-b"'s names, which share the prefix).
 */
export function snapshotSeries(member: string): { prefix: string; pattern: RegExp } {
  const prefix = `etcd-snapshot-${member}-`;
  return { prefix, pattern: new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d{8}T\\d{6}\\.\\d{3}Z\\.db$`) };
}

export async function readSidecar(host: Host, snapshot: string): Promise<SnapshotSidecar | null> {
  const text = await host.read(sidecarPath(snapshot)).catch(() => undefined);
  return text === undefined ? null : parseSidecar(text);
}

/** Newest first: by time, then by name. */
export function newestFirst<T extends { time: string; name: string }>(entries: T[]): T[] {
  return entries.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.name < b.name ? 1 : -1));
}

/** The snapshots in `dir` (`*.db`, temp files of running saves left out), newest first; [] when it does not exist. */
export async function listSnapshots(host: Host, dir: string): Promise<SnapshotEntry[]> {
  const names = (await host.list(dir)) ?? [];
  const out: SnapshotEntry[] = [];
  for (const name of names.filter((n) => n.endsWith('.db') && !n.startsWith('.'))) {
    const path = join(dir, name);
    const st = await host.stat(path).catch(() => undefined);
    if (st?.kind !== 'file') continue;
    const sidecar = await readSidecar(host, path);
    out.push({ name, path, size: st.size, time: sidecar?.time ?? new Date(st.mtimeMs).toISOString(), sidecar });
  }
  return newestFirst(out);
}

/** Which of `entries` (newest first) `--keep keep` removes: all but the newest `keep`, and never the last one. */
export function pruneDecision<T>(entries: readonly T[], keep: number): T[] {
  return entries.slice(Math.max(1, keep));
}

/** The snapshots of one member's series (snapshotName's names for it), newest first. Pure. */
export function seriesOf<T extends { name: string }>(entries: readonly T[], member: string): T[] {
  const { pattern } = snapshotSeries(member);
  return entries.filter((e) => pattern.test(e.name));
}

/**
 * `snapshot prune --keep N` on a directory: the snapshots of this member's series only (a directory or a prefix may
 * be shared by several members: theirs are not this host's to remove), each removed snapshot, then its sidecar (the
 * bucket's twin: remote.ts).
 */
export async function pruneSnapshots(host: Host, dir: string, keep: number, member: string, onRemoved: (e: SnapshotEntry) => void): Promise<{ kept: number; removed: number }> {
  const entries = seriesOf(await listSnapshots(host, dir), member);
  const gone = pruneDecision(entries, keep);
  for (const e of gone) {
    await host.remove(e.path);
    await host.remove(sidecarPath(e.path));
    onRemoved(e);
  }
  return { kept: entries.length - gone.length, removed: gone.length };
}
