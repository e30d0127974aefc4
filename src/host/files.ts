/**
 * This machine's filesystem, the safe way (LocalHost's primitives). Files are written atomically: a temp file in the
 * same directory, fsync, rename over the target, fsync the directory — a crash leaves either the old file or the
 * new one, never a torn one. Modes are set exactly; owners and modes are never changed through a symlink; a tree is
 * chowned through descriptors opened without following symlinks, so an entry swapped for a symlink half-way is not
 * followed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, mkdir, open, readFile, readdir, readlink, rename, rm, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { holdsAt, testHold } from './testhooks.js';
import type { Account, WriteOptions } from './host.js';

/** Leftovers of an interrupted atomic write: `.<name>.<12 hex>.tmp` (also host/dirs.ts's rule of own entries). */
export const ATOMIC_TEMP = /^\.[^/]+\.[0-9a-f]{12}\.tmp$/;

/** Make `path` and its missing parents: parents 0755, `path` itself exactly `mode`; whether `path` was made. */
export async function makeDir(path: string, mode: number): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (st?.isDirectory()) return false;
  const parent = dirname(path);
  if (parent !== path) await makeDir(parent, 0o755).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  try {
    await mkdir(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(path).catch(() => undefined))?.isDirectory()) return false;
    throw err;
  }
  await chmod(path, mode); // the umask may have narrowed it
  return true;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o644;
  const dir = dirname(path);
  await makeDir(dir, opts.dirMode ?? 0o755);
  await removeStaleTemps(dir, basename(path));
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    if (holdsAt(`write:${path}`)) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      await fh.writeFile(bytes.subarray(0, bytes.length >> 1));
      await fh.sync();
      await testHold(`write:${path}`);
    }
    await fh.writeFile(data);
    if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
    await fh.chmod(mode); // the umask may have narrowed the mode given to open(); chown clears setuid bits
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** Temp files an interrupted write of `name` left in `dir` (etcdadm changes a host one command at a time). */
async function removeStaleTemps(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  for (const e of await readdir(dir).catch(() => [] as string[]))
    if (e.startsWith(prefix) && ATOMIC_TEMP.test(e)) await unlink(join(dir, e)).catch(() => undefined);
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, constants.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** The file's bytes, or undefined when it does not exist. */
export async function readBytesIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/** Remove a file or symlink; a missing one is fine. Returns whether something was removed. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/** A symlink at `path` to `target`, replacing what is there atomically (a temp link renamed over it). */
export async function replaceSymlink(target: string, path: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await symlink(target, tmp);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Open `path` without following a final symlink (ELOOP when it is one). */
function openNoFollow(path: string, dir: boolean): Promise<FileHandle> {
  return open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (dir ? constants.O_DIRECTORY : 0));
}

/** chmod through a descriptor opened without following a symlink: a symlink at `path` is refused. */
export async function chmodNoFollow(path: string, mode: number): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) throw Object.assign(new Error(`${path} is a symlink: its mode is not changed`), { code: 'ELOOP' });
  const fh = await openNoFollow(path, st.isDirectory());
  try {
    const now = await fh.stat();
    if (now.ino !== st.ino || now.dev !== st.dev) throw Object.assign(new Error(`${path} changed while its mode was set`), { code: 'EAGAIN' });
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/**
 * chown a tree without following symlinks (symlinks themselves are lchowned). Every directory is opened without
 * following a symlink and walked through /proc/self/fd/<fd>, the very directory that was opened: an entry swapped
 * for a symlink between the listing and the chown is not followed, and a directory swapped for a symlink is not
 * entered (an openat-style walk).
 */
export async function chownTreeSafe(path: string, who: Account): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (st.isSymbolicLink()) {
    await lchown(path, who.uid, who.gid);
    return;
  }
  await chownEntry(path, st.isDirectory(), who);
}

async function chownEntry(path: string, isDir: boolean, who: Account): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await openNoFollow(path, isDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // swapped for a symlink (ELOOP), for something else (ENOTDIR), or gone: never followed, left as it is
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT' || code === 'ENXIO') return;
    throw err;
  }
  try {
    await fh.chown(who.uid, who.gid);
    if (!isDir) return;
    const at = `/proc/self/fd/${fh.fd}`;
    for (const name of await readdir(at)) {
      const child = `${at}/${name}`;
      const cst = await lstat(child).catch(() => undefined);
      if (!cst) continue;
      if (cst.isSymbolicLink()) await lchown(child, who.uid, who.gid).catch(() => undefined);
      else await chownEntry(child, cst.isDirectory(), who);
    }
  } finally {
    await fh.close();
  }
}

/** Bytes of the regular files under `path` (symlinks not followed); 0 when it does not exist. */
export async function treeBytes(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const e of await readdir(path)) total += await treeBytes(join(path, e));
  return total;
}

/**
 * Copy the tree `from` to `to` (which must not exist) durably: into `<to>.partial` first (a partial copy an earlier
 * crash left there is removed), every file and directory fsynced, modes kept, the top directory `mode`, then renamed
 * to `to` and the parent fsynced. A crash leaves either no `to` or a complete one. Symlinks are copied as symlinks;
 * the source is only read.
 */
export async function copyTreeDurable(from: string, to: string, mode = 0o700, opts: { link?: boolean } = {}): Promise<void> {
  if (await exists(to)) throw new Error(`${to} exists already`);
  const tmp = `${to}.partial`;
  await rm(tmp, { recursive: true, force: true });
  const copy = async (src: string, dst: string, top: boolean): Promise<void> => {
    const st = await lstat(src);
    if (st.isSymbolicLink()) {
      await symlink(await readlink(src), dst);
    } else if (st.isDirectory()) {
      await mkdir(dst, { mode: top ? mode : st.mode & 0o7777 });
      await chmod(dst, top ? mode : st.mode & 0o7777);
      for (const e of await readdir(src)) await copy(join(src, e), join(dst, e), false);
      await fsyncDir(dst);
    } else if (st.isFile()) {
      if (opts.link) {
        try {
          await link(src, dst); // the same inode: no data to write or sync, mode and owner are the original's
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        }
      }
      await copyFile(src, dst, constants.COPYFILE_EXCL);
      await chmod(dst, st.mode & 0o7777);
      const fh = await open(dst, constants.O_RDONLY);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await lchown(dst, st.uid, st.gid).catch(() => undefined);
  };
  await copy(from, tmp, true);
  await rename(tmp, to);
  await fsyncDir(dirname(to));
}
