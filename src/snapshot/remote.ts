/**
 * The snapshots in a bucket (under the --s3-prefix): each `<name>.db` object with its sidecar `<name>.db.json`,
 * listed like a local directory (same entries, newest first; `path` is the object's s3:// URL), and pruned by the
 * same rule (pruneDecision: the newest N stay, never the only one).
 */
import { s3Url } from '../s3/location.js';
import type { S3Store } from '../s3/store.js';
import { newestFirst, parseSidecar, pruneDecision, seriesOf, type SnapshotEntry } from './catalog.js';

export interface StoredSnapshot extends SnapshotEntry {
  key: string;
}

/** The `*.db` objects directly under the store's prefix, with their sidecars, newest first. */
export async function listStoredSnapshots(store: S3Store): Promise<StoredSnapshot[]> {
  const loc = store.location;
  const objects = await store.list(loc.prefix);
  const keys = new Set(objects.map((o) => o.key));
  const out: StoredSnapshot[] = [];
  for (const o of objects) {
    const name = o.key.slice(loc.prefix.length);
    if (!name.endsWith('.db') || name.includes('/') || name.startsWith('.')) continue;
    const text = keys.has(`${o.key}.json`) ? await store.read(`${o.key}.json`) : null;
    const sidecar = text ? parseSidecar(text.toString('utf8')) : null;
    out.push({ key: o.key, name, path: s3Url(loc, o.key), size: o.size, time: sidecar?.time ?? o.lastModified, sidecar });
  }
  return newestFirst(out);
}

/** `snapshot prune --keep N` on the bucket: this member's series only, each removed snapshot's object, then its sidecar. */
export async function pruneStoredSnapshots(store: S3Store, keep: number, member: string, onRemoved: (e: StoredSnapshot) => void): Promise<{ kept: number; removed: number }> {
  const entries = seriesOf(await listStoredSnapshots(store), member);
  const gone = pruneDecision(entries, keep);
  for (const e of gone) {
    await store.remove(e.key);
    await store.remove(`${e.key}.json`);
    onRemoved(e);
  }
  return { kept: entries.length - gone.length, removed: gone.length };
}
