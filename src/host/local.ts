/** This machine, as a Host (the contract is in host.ts). */
import { createReadStream } from 'node:fs';
import { access, constants, lchown, lstat, mkdtemp, open, readdir, readlink, realpath, rename, rm, statfs } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { dirname } from 'node:path';
import type { HostFacts } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { execFile } from './exec.js';
import {
  chmodNoFollow,
  chownTreeSafe,
  copyTreeDurable,
  exists,
  fsyncDir,
  makeDir,
  readBytesIfExists,
  removeFile,
  replaceSymlink,
  treeBytes,
  writeFileAtomic,
} from './files.js';
import type { Account, ExecOptions, ExecResult, ExtractOptions, FileInfo, FileWriter, Host, HostLock, WriteOptions } from './host.js';
import { acquireHostLock } from './lock.js';
import { defaultRouteInterfaces, hostAddresses, portInUse } from './net.js';
import { openFileWriter } from './sink.js';
import { ensureServiceAccount, lookupAccount } from './user.js';

function kindOf(st: Awaited<ReturnType<typeof lstat>>): FileInfo['kind'] {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return 'other';
}

const absent = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

async function nearestExisting(path: string): Promise<string> {
  let p = path;
  for (;;) {
    if (await exists(p)) return p;
    const parent = p.replace(/\/[^/]*\/?$/, '') || '/';
    if (parent === p) return p;
    p = parent;
  }
}

/**
 * The command line of an etcdadm: the node binary and the bundle (process.execPath, the resolved script), or a
 * self-contained executable alone. Pure.
 */
export function etcdadmCommand(execPath: string, script: string | undefined): string[] {
  if (script && /\.(c|m)?js$/.test(script)) return [execPath, script];
  return [execPath];
}

export class LocalHost implements Host {
  readonly name = 'local';

  async facts(): Promise<HostFacts> {
    return { hostname: hostname(), addresses: hostAddresses(), defaultRouteIfaces: await defaultRouteInterfaces(), cpus: availableParallelism() };
  }

  isPrivileged(): boolean {
    return typeof process.getuid !== 'function' || process.getuid() === 0;
  }

  async read(path: string): Promise<string | undefined> {
    return (await readBytesIfExists(path))?.toString('utf8');
  }

  readBytes(path: string): Promise<Uint8Array | undefined> {
    return readBytesIfExists(path);
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  readStream(path: string, range: { start?: number; end?: number } = {}): AsyncIterable<Uint8Array> {
    return createReadStream(path, { highWaterMark: 4 << 20, ...range });
  }

  write(path: string, data: string | Uint8Array, opts?: WriteOptions): Promise<void> {
    return writeFileAtomic(path, data, opts);
  }

  writeStream(path: string, opts: { mode: number; exclusive?: boolean }): Promise<FileWriter> {
    return openFileWriter(path, opts);
  }

  exists(path: string): Promise<boolean> {
    return exists(path);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      const st = await lstat(path);
      return { kind: kindOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, dev: st.dev, mtimeMs: st.mtimeMs };
    } catch (err) {
      if (absent(err)) return undefined;
      throw err;
    }
  }

  async list(path: string): Promise<string[] | undefined> {
    try {
      return (await readdir(path)).sort();
    } catch (err) {
      if (absent(err)) return undefined;
      throw err;
    }
  }

  mkdir(path: string, mode: number): Promise<boolean> {
    return makeDir(path, mode);
  }

  mkdtemp(prefix: string): Promise<string> {
    return mkdtemp(prefix);
  }

  remove(path: string): Promise<boolean> {
    return removeFile(path);
  }

  removeTree(path: string): Promise<void> {
    return rm(path, { recursive: true, force: true });
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
    await fsyncDir(dirname(to));
    if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from));
  }

  chmod(path: string, mode: number): Promise<void> {
    return chmodNoFollow(path, mode);
  }

  chown(path: string, who: Account): Promise<void> {
    return lchown(path, who.uid, who.gid);
  }

  chownTree(path: string, who: Account): Promise<void> {
    return chownTreeSafe(path, who);
  }

  symlink(target: string, path: string): Promise<void> {
    return replaceSymlink(target, path);
  }

  async readlink(path: string): Promise<string | undefined> {
    try {
      return await readlink(path);
    } catch (err) {
      if (absent(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
      throw err;
    }
  }

  async realpath(path: string): Promise<string | undefined> {
    try {
      return await realpath(path);
    } catch (err) {
      if (absent(err) || (err as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
      throw err;
    }
  }

  async writeProblem(path: string): Promise<string | undefined> {
    return access(path, constants.W_OK | constants.X_OK).then(
      () => undefined,
      (err: Error) => err.message,
    );
  }

  async freeBytes(path: string): Promise<number> {
    const st = await statfs(await nearestExisting(path));
    return Number(st.bavail) * Number(st.bsize);
  }

  treeBytes(path: string): Promise<number> {
    return treeBytes(path);
  }

  copyTree(from: string, to: string, mode: number, opts: { link?: boolean } = {}): Promise<void> {
    return copyTreeDurable(from, to, mode, opts);
  }

  async extract(archive: string, dest: string, opts: ExtractOptions): Promise<string[]> {
    // the tar library only for the commands that extract a release
    const { extractLocal } = await import('./archive.js');
    return extractLocal(archive, dest, opts);
  }

  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return execFile(cmd, args, opts);
  }

  lookupUser(name: string): Promise<Account | undefined> {
    return lookupAccount((c, a, o) => this.exec(c, a, o), name);
  }

  ensureServiceUser(name: string, home: string, log: Logger): Promise<Account> {
    return ensureServiceAccount((c, a, o) => this.exec(c, a, o), name, home, log);
  }

  portInUse(host: string, port: number): Promise<boolean> {
    return portInUse(host, port);
  }

  lock(path: string, command: string): Promise<HostLock> {
    return acquireHostLock(path, command);
  }

  async etcdadmCommand(): Promise<string[]> {
    const script = process.argv[1];
    return etcdadmCommand(process.execPath, script ? ((await this.realpath(script)) ?? script) : undefined);
  }
}
