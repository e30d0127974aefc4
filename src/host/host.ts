/**
 * The Host: the only way etcdadm touches a machine. Everything that reads or changes a managed host — files, trees,
 * modes and owners, symlinks, streams (release archives, snapshots), archives, processes, users, ports, locks, free
 * space, the facts plan resolution needs — goes through this interface; no module outside src/host/ imports node:fs
 * or node:child_process (a dependency rule in `npm test` says so: .dependency-cruiser.cjs). `LocalHost` (local.ts)
 * is this machine, `MemoryHost` (memory.ts) a machine in memory for tests and dry runs, `SshHost` (ssh.ts) another
 * machine over SSH. All of them pass one contract test suite (test/helpers/host-contract.ts, run by
 * test/unit/host-contract.test.ts and test/integration/ssh-host.test.ts).
 *
 * The contract, for every implementation:
 * - Paths are absolute. A read of something that does not exist answers `undefined` (read, readBytes, stat, list,
 *   readlink, realpath); every other failure is an error naming the path.
 * - `write` is atomic and durable: a temp file in the same directory, written, given exactly `mode` (the umask does
 *   not narrow it) and `owner` when given, fsynced, renamed over `path`, the directory fsynced. A reader — and a
 *   reader after a kill half-way — sees the old file or the new one, never a mix. A symlink at `path` is replaced,
 *   never followed. Missing parent directories are made with `dirMode` (0755).
 * - `stat` does not follow a final symlink; `chmod` and `chown` never follow one (chmod of a symlink is refused);
 *   `chownTree` never follows a symlink nor recurses through an entry that changed between its check and its act.
 * - `mkdir` makes missing parents 0755 and `path` itself with exactly `mode`; it answers whether it made `path`.
 * - `remove` removes a file or a symlink (false when there was none); `removeTree` removes a tree without following
 *   symlinks (nothing there is fine); `rename` is atomic on one filesystem; `symlink` replaces `path` atomically.
 * - `writeStream` writes to a temp file beside `path`; `commit` ends the stream, fsyncs, checks the size on disk,
 *   renames into place (refused when `exclusive` and `path` exists) and fsyncs the directory; `abort` removes the
 *   temp file. Nothing appears at `path` before `commit`.
 * - `exec` runs a program with a deadline (default 60 s): on expiry it is killed and the call fails naming it. Its
 *   output is capped (the last 1 MiB of each stream is kept). The environment is the host's default one (on this
 *   machine etcdadm's own without the AWS_* variables: credentials never reach a child process by accident) with
 *   the given variables set.
 * - `lock` is one holder per host and path; a holder that is gone (exited, killed, a zombie) does not block.
 */
import type { Writable } from 'node:stream';
import type { HostFacts } from '../config/types.js';
import type { Logger } from '../log/logger.js';

export interface FileInfo {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits (with setuid/setgid/sticky). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** The filesystem it lives on (st_dev). */
  dev: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

export const ROOT: Account = { name: 'root', uid: 0, gid: 0 };

export interface WriteOptions {
  /** File mode; default 0o644. Private keys use 0o600. */
  mode?: number;
  /** Mode for directories created on the way; default 0o755. */
  dirMode?: number;
  /** Owner of the new file; default the writer (root). */
  owner?: Account;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Deadline; default 60 s. */
  timeoutMs?: number;
  /** Variables set for the program on top of the host's default environment (which never carries AWS_*). */
  env?: Record<string, string>;
  input?: string;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

/** A file being written as a stream (release archives, snapshots): see the contract above. */
export interface FileWriter {
  readonly sink: Writable;
  /** The temp file's path (for messages). */
  readonly tempPath: string;
  /** End the stream, fsync, check the size, rename into place, fsync the directory; the bytes on disk. */
  commit(): Promise<number>;
  /** Stop and remove the temp file; `path` is untouched. */
  abort(): Promise<void>;
}

/** An archive entry as the extraction filter sees it (the path before stripping). */
export interface ArchiveEntry {
  path: string;
  type: string;
  linkpath?: string;
}

export interface ExtractOptions {
  /** Leading path components dropped from every entry. */
  strip: number;
  /** Why an entry is refused, or undefined to extract it. Refused entries are not written. */
  refuse?(entry: ArchiveEntry): string | undefined;
}

export interface HostLock {
  release(): Promise<void>;
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
  /** A file's bytes; undefined when it does not exist. */
  readBytes(path: string): Promise<Uint8Array | undefined>;
  /** `length` bytes at `offset` (fewer at the end of the file). */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array>;
  /** The bytes of a file from `start` to `end` (inclusive), in chunks. */
  readStream(path: string, range?: { start?: number; end?: number }): AsyncIterable<Uint8Array>;
  /** Write a file atomically and durably (see the contract). */
  write(path: string, data: string | Uint8Array, opts?: WriteOptions): Promise<void>;
  /** A file written as a stream (see the contract). */
  writeStream(path: string, opts: { mode: number; exclusive?: boolean }): Promise<FileWriter>;
  /** Whether something is at `path` (a final symlink followed). */
  exists(path: string): Promise<boolean>;
  /** What is at `path` (not following a final symlink); undefined when nothing is. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** The names in a directory, sorted; undefined when it does not exist. */
  list(path: string): Promise<string[] | undefined>;
  /** Create a directory (and missing parents, 0755); true when `path` itself was created. */
  mkdir(path: string, mode: number): Promise<boolean>;
  /** A new empty directory `<prefix><random>` (0700). */
  mkdtemp(prefix: string): Promise<string>;
  /** Remove a file or symlink; false when there was none. */
  remove(path: string): Promise<boolean>;
  /** Remove a directory tree (symlinks not followed); nothing there is fine. */
  removeTree(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Set the permission bits (never through a symlink). */
  chmod(path: string, mode: number): Promise<void>;
  /** chown one path (not following a symlink). */
  chown(path: string, who: Account): Promise<void>;
  /** chown a tree without following symlinks. */
  chownTree(path: string, who: Account): Promise<void>;
  /** A symlink at `path` pointing at `target`, replacing what was there atomically. */
  symlink(target: string, path: string): Promise<void>;
  /** A symlink's target; undefined when `path` is not a symlink. */
  readlink(path: string): Promise<string | undefined>;
  /** The canonical path (every symlink resolved); undefined when it does not exist. */
  realpath(path: string): Promise<string | undefined>;
  /** Why etcdadm cannot create files in the directory `path` (e.g. "EROFS: read-only file system"); undefined when it can. */
  writeProblem(path: string): Promise<string | undefined>;
  /** Free bytes for an unprivileged writer on the filesystem holding `path` (or its nearest existing parent). */
  freeBytes(path: string): Promise<number>;
  /** Bytes of the regular files under `path`. */
  treeBytes(path: string): Promise<number>;
  /**
   * Copy a tree to `to` (must not exist) durably: all or nothing, fsynced, the top directory `mode`. `link`: its
   * files are hard links to the originals where both are on one filesystem (no data written; for trees nobody
   * changes in place, such as an extracted release), copies elsewhere.
   */
  copyTree(from: string, to: string, mode: number, opts?: { link?: boolean }): Promise<void>;
  /** Extract a .tar.gz archive into the existing directory `dest`; the refusals of `opts.refuse`. */
  extract(archive: string, dest: string, opts: ExtractOptions): Promise<string[]>;

  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;

  lookupUser(name: string): Promise<Account | undefined>;
  /** The system user etcd runs as, created when missing. */
  ensureServiceUser(name: string, home: string, log: Logger): Promise<Account>;
  /** Whether something listens on host:port already. */
  portInUse(host: string, port: number): Promise<boolean>;
  /** One etcdadm at a time: the lock at `path`, or an error naming its holder. */
  lock(path: string, command: string): Promise<HostLock>;
  /**
   * The command line that runs this etcdadm on this host, by absolute paths (what the units etcdadm installs run:
   * neither PATH nor a later install changes which etcdadm runs). It carries no settings and no secret.
   */
  etcdadmCommand(): Promise<string[]>;
}

/** The ENOENT-style error every Host raises for a missing path where one is required. */
export function missing(path: string, what = 'no such file or directory'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path}: ${what}`), { code: 'ENOENT', path });
}
