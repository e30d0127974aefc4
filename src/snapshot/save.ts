/**
 * A snapshot of one member saved to a file the safe way: the directory 0700, the file 0600, written to a temp name
 * in the same directory, fsynced, renamed into place (and the directory fsynced), so a crash leaves either no file
 * or a whole one. etcd's stream carries a SHA-256 of its content, which the client checks as it reads.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { EtcdClient } from '../etcd/client.js';

export async function saveSnapshot(client: EtcdClient, endpoint: string, path: string): Promise<{ path: string; bytes: number; revision: bigint }> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const tmp = join(dir, `.${basename(path)}.part-${process.pid}`);
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  try {
    await once(out, 'open');
    const r = await client.snapshot(out, { endpoint });
    out.end();
    await once(out, 'close');
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    const d = await open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
    return { path, bytes: r.bytes, revision: r.revision };
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
