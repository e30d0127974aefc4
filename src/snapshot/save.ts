/**
 * A snapshot of one member saved to a file the safe way: the directory 0700, the file 0600, written to a temp name
 * in the same directory, fsynced, renamed into place (and the directory fsynced), so a crash, a full disk or a member
 * that dies mid-stream leaves either no file or a whole one, and every older snapshot as it was. etcd's stream
 * carries a SHA-256 of its content, which the client checks as it reads; the file's own SHA-256 is computed on the
 * way from the stream (one pass with etcd's own check, in the client).
 */
import { access, chmod, constants, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
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

/**
 * A Writable onto an open file: chunks gathered into 1 MiB writev calls at explicit offsets, up to 32 MiB in flight,
 * so the disk works while the next chunks arrive (one 32 KiB write at a time kept the stream waiting on the disk),
 * and an fdatasync every 64 MiB so that write-back runs during the stream rather than all in the final fsync. The
 * first write error is kept in `failure` and fails every later write and the end.
 */
const SYNC_EVERY = 64 << 20;

/**
 * All of `bufs` at `at`: a write may be short without an error (a filling disk writes what fits), so the rest is
 * written again until the kernel says why it cannot (ENOSPC) — never a file silently shorter than the stream.
 */
async function writeAll(fh: FileHandle, bufs: Buffer[], len: number, at: number): Promise<void> {
  let done = (await fh.writev(bufs, at)).bytesWritten;
  if (done === len) return;
  const rest = Buffer.concat(bufs, len);
  while (done < len) {
    const n = (await fh.write(rest, done, len - done, at + done)).bytesWritten;
    if (n === 0) throw Object.assign(new Error('no space left on device (a write of 0 bytes)'), { code: 'ENOSPC' });
    done += n;
  }
}

class FileSink extends Writable {
  failure: Error | undefined;
  private pos = 0;
  private inflight = 0;
  private batch: Buffer[] = [];
  private batchLen = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  private flush(): void {
    if (!this.batchLen) return;
    const bufs = this.batch;
    const len = this.batchLen;
    this.batch = [];
    this.batchLen = 0;
    const at = this.pos;
    this.pos += len;
    this.inflight += len;
    const written = writeAll(this.fh, bufs, len, at);
    // every 64 MiB, let the kernel start writing back what it holds, so the final fsync has little left to do
    const sync = Math.floor(this.pos / SYNC_EVERY) > Math.floor(at / SYNC_EVERY);
    (sync ? written.then(() => this.fh.datasync()) : written).then(
      () => this.settled(len),
      (err: Error) => {
        this.failure ??= err;
        this.settled(len);
      },
    );
  }

  private settled(n: number): void {
    this.inflight -= n;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Until fewer than `limit` bytes are being written. */
  private async below(limit: number): Promise<void> {
    while (this.inflight > limit) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.failure) return cb(this.failure);
    this.batch.push(chunk);
    this.batchLen += chunk.length;
    this.onBytes?.(this.pos + this.batchLen);
    if (this.batchLen >= 1 << 20) this.flush();
    this.below(32 << 20).then(() => cb(this.failure ?? null), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flush();
    this.below(0).then(() => cb(this.failure ?? null), cb);
  }
}

export async function saveSnapshot(client: EtcdClient, endpoint: string, path: string, onProgress?: (bytes: number) => void): Promise<SavedSnapshot> {
  const dir = dirname(path);
  await prepareSnapshotDir(dir);
  const tmp = join(dir, `.${basename(path)}.part-${process.pid}`);
  let fh: FileHandle | undefined;
  let sink: FileSink | undefined;
  let bytes = 0;
  try {
    fh = await open(tmp, 'wx', 0o600);
    sink = new FileSink(fh, (n) => {
      bytes = n;
      onProgress?.(n);
    });
    sink.on('error', () => undefined); // kept in sink.failure, reported below
    const streamed = await client.snapshot(sink, { endpoint });
    await new Promise<void>((resolve, reject) => sink!.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (sink.failure) throw sink.failure;
    await fh.sync();
    const size = (await fh.stat()).size;
    if (size !== streamed.bytes) throw new Error(`${size} bytes on disk, ${streamed.bytes} received`);
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    const d = await open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
    return { path, bytes: streamed.bytes, sha256: streamed.sha256 };
  } catch (caught) {
    const err = sink?.failure ?? caught; // a disk error surfaces through the stream as whatever the client made of it
    sink?.destroy();
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new EtcdadmError(`no space left in ${dir} for the snapshot (${bytes} bytes written, removed again)`, { hint: 'free space or choose another --dir; older snapshots are untouched', cause: err });
    throw new EtcdadmError(`the snapshot from ${endpoint} failed: ${describe(err)}`, { hint: 'nothing was kept of it; older snapshots are untouched. Check the member and run the command again', cause: err });
  }
}
