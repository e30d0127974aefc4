/**
 * A snapshot of one member saved to a file the safe way, through the Host's streamed write: a temp file beside the
 * target, fsynced, renamed into place (never over an existing file) and the directory fsynced, so a crash, a full
 * disk or a member that dies mid-stream leaves either no file or a whole one, and every older snapshot as it was.
 * etcd's stream carries a SHA-256 of its content, which the client checks as it reads; the file's own SHA-256 is
 * computed on the way from the stream (one pass with etcd's own check, in the client). The file is 0600 (a snapshot
 * holds every secret of the cluster); a directory etcdadm makes for it is 0700, one that exists is left as it is.
 */
import { dirname } from 'node:path';
import type { EtcdClient } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import type { FileWriter, Host } from '../host/host.js';

export interface SavedSnapshot {
  path: string;
  bytes: number;
  /** SHA-256 of the whole file (hex). */
  sha256: string;
}

/** The snapshot directory: made 0700 when missing (an existing one keeps its mode); an error before any streaming when it cannot be written. */
export async function prepareSnapshotDir(host: Host, dir: string): Promise<void> {
  try {
    await host.mkdir(dir, 0o700);
  } catch (err) {
    throw new EtcdadmError(`cannot write snapshots into ${dir}: ${describe(err)}`, { hint: 'choose a writable directory (--dir), as root' });
  }
  const st = await host.stat((await host.realpath(dir)) ?? dir);
  if (st?.kind !== 'dir') throw new EtcdadmError(`cannot write snapshots into ${dir}: it is not a directory`, { hint: 'choose another --dir' });
  const problem = await host.writeProblem(dir);
  if (problem) throw new EtcdadmError(`cannot write snapshots into ${dir}: ${problem}`, { hint: 'choose a writable directory (--dir), as root' });
}

export async function saveSnapshot(host: Host, client: EtcdClient, endpoint: string, path: string, onProgress?: (bytes: number) => void, opts: { stallMs?: number } = {}): Promise<SavedSnapshot> {
  await prepareSnapshotDir(host, dirname(path));
  let writer: FileWriter | undefined;
  let bytes = 0;
  try {
    writer = await host.writeStream(path, { mode: 0o600, exclusive: true });
    const streamed = await client.snapshot(writer.sink, {
      endpoint,
      ...(opts.stallMs ? { stallMs: opts.stallMs } : {}),
      onProgress: (n) => {
        bytes = n;
        onProgress?.(n);
      },
    });
    const size = await writer.commit();
    if (size !== streamed.bytes) throw new Error(`${size} bytes on disk, ${streamed.bytes} received`);
    return { path, bytes: streamed.bytes, sha256: streamed.sha256 };
  } catch (caught) {
    // a disk error surfaces through the stream as whatever the client made of it: the sink's own error first
    const err = (writer?.sink.errored as Error | null | undefined) ?? caught;
    await writer?.abort();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new EtcdadmError(`no space left in ${dirname(path)} for the snapshot (${bytes} bytes written, removed again)`, { hint: 'free space or choose another --dir; older snapshots are untouched', cause: err });
    if (code === 'EEXIST') throw new EtcdadmError(`${path} exists already`, { hint: 'choose another --output; etcdadm never overwrites a snapshot', exitCode: 2, cause: err });
    throw new EtcdadmError(`the snapshot from ${endpoint} failed: ${describe(err)}`, { hint: 'nothing was kept of it; older snapshots are untouched. Check the member and run the command again', cause: err });
  }
}
