/**
 * A snapshot of one member saved to a file the safe way: the directory 0700, the file 0600, written to a temp name
 * in the same directory, fsynced, renamed into place (and the directory fsynced), so a crash, a full disk or a member
 * that dies mid-stream leaves either no file or a whole one, and every older snapshot as it was. etcd's stream
 * carries a SHA-256 of its content, which the client checks as it reads; the file's own SHA-256 is computed on the
 * way to disk.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { access, chmod, constants, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EtcdClient } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';

export interface SavedSnapshot {
  path: string;
  bytes: number;
  /** SHA-256 of the whole file (hex). */
  sha256: string;
}

/** The snapshot directory, made 0700; an error before any streaming when it cannot be written. */
export async function prepareSnapshotDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await access(dir, constants.W_OK);
  } catch (err) {
    throw new EtcdadmError(`cannot write snapshots into ${dir}: ${describe(err)}`, { hint: 'choose a writable directory (--dir), as root' });
  }
}

export async function saveSnapshot(client: EtcdClient, endpoint: string, path: string, onProgress?: (bytes: number) => void): Promise<SavedSnapshot> {
  const dir = dirname(path);
  await prepareSnapshotDir(dir);
  const tmp = join(dir, `.${basename(path)}.part-${process.pid}`);
  const hash = createHash('sha256');
  let bytes = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      onProgress?.(bytes);
      cb(null, chunk);
    },
  });
  let out: ReturnType<typeof createWriteStream> | undefined;
  try {
    out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    await once(out, 'open');
    const written = pipeline(hasher, out);
    const streamed = client.snapshot(hasher, { endpoint }).finally(() => hasher.end());
    streamed.catch(() => undefined); // a disk error ends `written` first; the stream's own failure is reported below
    await Promise.all([streamed, written]);
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    const d = await open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
    return { path, bytes, sha256: hash.digest('hex') };
  } catch (err) {
    out?.destroy();
    hasher.destroy();
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new EtcdadmError(`no space left in ${dir} for the snapshot (${bytes} bytes written, removed again)`, { hint: 'free space or choose another --dir; older snapshots are untouched', cause: err });
    throw new EtcdadmError(`the snapshot from ${endpoint} failed: ${describe(err)}`, { hint: 'nothing was kept of it; older snapshots are untouched. Check the member and run the command again', cause: err });
  }
}
