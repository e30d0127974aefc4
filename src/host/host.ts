/**
 * The Host: everything etcdadm does to a machine goes through this interface — files (written atomically, with
 * modes), directories, programs, users, ports, free space and the facts plan resolution needs. `LocalHost` is this
 * machine; a remote implementation (SSH) can run the same phases on other machines. Phases, the init systems and
 * the host record use it; nothing below them calls node:fs on its own for what a phase changes.
 */
import { availableParallelism, hostname } from 'node:os';
import { lchown, lstat, mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import type { HostFacts } from '../config/types.js';
import { execFile, type ExecOptions, type ExecResult } from './exec.js';
import { copyTreeDurable, exists, readIfExists, removeFile, treeBytes, writeFileAtomic, type WriteOptions } from './files.js';
import { defaultRouteInterfaces, hostAddresses, portInUse } from './net.js';
import { chownTree, ensureServiceAccount, lookupAccount, type Account } from './user.js';
import type { Logger } from '../log/logger.js';

export interface FileInfo {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** The filesystem it lives on (st_dev). */
  dev: number;
}

export interface Host {
  /** "local", or the remote host's name. */
  readonly name: string;
  /** Hostname, addresses, default route, CPUs. */
  facts(): Promise<HostFacts>;
  /** Whether etcdadm runs with the rights to change this host (root). */
  isPrivileged(): boolean;

  /** A file's text; undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
  /** Write a file atomically (temp file, fsync, rename, fsync of the directory). */
  write(path: string, data: string | Uint8Array, opts?: WriteOptions): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** What is at `path` (not following a final symlink); undefined when nothing is. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** The names in a directory; undefined when it does not exist. */
  list(path: string): Promise<string[] | undefined>;
  /** Create a directory (and missing parents); true when `path` itself was created. */
  mkdir(path: string, mode: number): Promise<boolean>;
  /** Remove a file; false when there was none. */
  remove(path: string): Promise<boolean>;
  /** Remove a directory tree. */
  removeTree(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Free bytes for an unprivileged writer on the filesystem holding `path` (or its nearest existing parent). */
  freeBytes(path: string): Promise<number>;

  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;

  lookupUser(name: string): Promise<Account | undefined>;
  /** The system user etcd runs as, created when missing. */
  ensureServiceUser(name: string, home: string, log: Logger): Promise<Account>;
  /** chown one path (not following a symlink). */
  chown(path: string, who: Account): Promise<void>;
  /** chown a tree without following symlinks. */
  chownTree(path: string, who: Account): Promise<void>;

  /** Whether something listens on host:port already. */
  portInUse(host: string, port: number): Promise<boolean>;
  /** Bytes of the regular files under `path`. */
  treeBytes(path: string): Promise<number>;
  /** Copy a tree to `to` (must not exist) durably: all or nothing, fsynced, the top directory `mode` (files.ts). */
  copyTree(from: string, to: string, mode: number): Promise<void>;
}

function kindOf(st: Awaited<ReturnType<typeof lstat>>): FileInfo['kind'] {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return 'other';
}

async function nearestExisting(path: string): Promise<string> {
  let p = path;
  for (;;) {
    if (await exists(p)) return p;
    const parent = p.replace(/\/[^/]*\/?$/, '') || '/';
    if (parent === p) return p;
    p = parent;
  }
}

/** This machine. */
export class LocalHost implements Host {
  readonly name = 'local';

  async facts(): Promise<HostFacts> {
    return { hostname: hostname(), addresses: hostAddresses(), defaultRouteIfaces: await defaultRouteInterfaces(), cpus: availableParallelism() };
  }

  isPrivileged(): boolean {
    return typeof process.getuid !== 'function' || process.getuid() === 0;
  }

  read(path: string): Promise<string | undefined> {
    return readIfExists(path);
  }

  write(path: string, data: string | Uint8Array, opts?: WriteOptions): Promise<void> {
    return writeFileAtomic(path, data, opts);
  }

  exists(path: string): Promise<boolean> {
    return exists(path);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      const st = await lstat(path);
      return { kind: kindOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, dev: st.dev };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  async list(path: string): Promise<string[] | undefined> {
    try {
      return (await readdir(path)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async mkdir(path: string, mode: number): Promise<boolean> {
    const had = await exists(path);
    await mkdir(path, { recursive: true, mode });
    return !had;
  }

  remove(path: string): Promise<boolean> {
    return removeFile(path);
  }

  removeTree(path: string): Promise<void> {
    return rm(path, { recursive: true, force: true });
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  async freeBytes(path: string): Promise<number> {
    const st = await statfs(await nearestExisting(path));
    return Number(st.bavail) * Number(st.bsize);
  }

  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return execFile(cmd, args, opts);
  }

  lookupUser(name: string): Promise<Account | undefined> {
    return lookupAccount(name);
  }

  ensureServiceUser(name: string, home: string, log: Logger): Promise<Account> {
    return ensureServiceAccount(name, home, log);
  }

  chown(path: string, who: Account): Promise<void> {
    return lchown(path, who.uid, who.gid);
  }

  chownTree(path: string, who: Account): Promise<void> {
    return chownTree(path, who);
  }

  portInUse(host: string, port: number): Promise<boolean> {
    return portInUse(host, port);
  }

  treeBytes(path: string): Promise<number> {
    return treeBytes(path);
  }

  copyTree(from: string, to: string, mode: number): Promise<void> {
    return copyTreeDurable(from, to, mode);
  }
}
