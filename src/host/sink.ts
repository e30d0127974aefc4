/**
 * Files written as a stream on this machine (LocalHost.writeStream): release archives and snapshots. The bytes go to
 * a temp file beside the target (`.<name>.<12 hex>.part`), gathered into 1 MiB writev calls at explicit offsets with
 * up to 32 MiB in flight, so the disk works while the next chunks arrive (one 32 KiB write at a time kept an etcd
 * snapshot stream waiting on the disk), and an fdatasync every 64 MiB so that write-back runs during the stream
 * rather than all in the final fsync. A short write on a filling disk is written again until the kernel says why it
 * cannot (ENOSPC) — never a file silently shorter than the stream. `commit` checks the size on disk, renames into
 * place and fsyncs the directory; `abort` removes the temp file.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { FileWriter } from './host.js';
import { fsyncDir } from './files.js';

const SYNC_EVERY = 64 << 20;

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

/** A Writable onto an open file; the first write error is kept in `failure` and fails every later write and the end. */
class FileSink extends Writable {
  failure: Error | undefined;
  written = 0;
  private inflight = 0;
  private batch: Buffer[] = [];
  private batchLen = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly fh: FileHandle) {
    super({ highWaterMark: 1 << 20 });
  }

  private flush(): void {
    if (!this.batchLen) return;
    const bufs = this.batch;
    const len = this.batchLen;
    this.batch = [];
    this.batchLen = 0;
    const at = this.written;
    this.written += len;
    this.inflight += len;
    const done = writeAll(this.fh, bufs, len, at);
    const sync = Math.floor(this.written / SYNC_EVERY) > Math.floor(at / SYNC_EVERY);
    (sync ? done.then(() => this.fh.datasync()) : done).then(
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

  private async below(limit: number): Promise<void> {
    while (this.inflight > limit) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.failure) return cb(this.failure);
    this.batch.push(chunk);
    this.batchLen += chunk.length;
    if (this.batchLen >= 1 << 20) this.flush();
    this.below(32 << 20).then(() => cb(this.failure ?? null), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flush();
    this.below(0).then(() => cb(this.failure ?? null), cb);
  }
}

export async function openFileWriter(path: string, opts: { mode: number; exclusive?: boolean }): Promise<FileWriter> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.part`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode);
  await fh.chmod(opts.mode);
  const sink = new FileSink(fh);
  sink.on('error', () => undefined); // kept in sink.failure, reported by commit
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close().catch(() => undefined);
  };
  const writer: FileWriter = {
    sink,
    tempPath: tmp,
    async commit() {
      try {
        if (!sink.writableFinished) await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
        if (sink.failure) throw sink.failure;
        await fh.sync();
        const size = (await fh.stat()).size;
        if (size !== sink.written) throw new Error(`${size} bytes on disk, ${sink.written} written`);
        await close();
        if (opts.exclusive) {
          // link(2) fails when the target exists: never over a file that appeared meanwhile
          await link(tmp, path);
          await unlink(tmp);
        } else await rename(tmp, path);
        await fsyncDir(dir);
        return size;
      } catch (err) {
        const failure = sink.failure ?? err;
        await writer.abort();
        throw failure;
      }
    },
    async abort() {
      sink.destroy();
      await close();
      await unlink(tmp).catch(() => undefined);
    },
  };
  return writer;
}
