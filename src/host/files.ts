/**
 * Files written the safe way: a temp file in the same directory, fsync, rename over the target, fsync the directory.
 * A crash leaves either the old file or the new one, never a torn one.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lchown, lstat, mkdir, open, readFile, readdir, readlink, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { holdsAt, testHold } from '../testhooks.js';

export interface WriteOptions {
  /** File mode; default 0o644. Private keys use 0o600. */
  mode?: number;
  /** Mode for directories created on the way; default 0o755. */
  dirMode?: number;
}

export async function ensureDir(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
}

/** Make sure `path` is a directory with exactly `mode` (used for key directories: 0700). */
export async function ensurePrivateDir(path: string, mode = 0o700): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  const st = await stat(path);
  if ((st.mode & 0o777) !== mode) await chmod(path, mode);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o644;
  const dir = dirname(path);
  await ensureDir(dir, opts.dirMode ?? 0o755);
  await removeStaleTemps(dir, basename(path));
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    if (holdsAt(`write:${path}`)) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      await fh.writeFile(bytes.subarray(0, bytes.length >> 1));
      await fh.sync();
      await testHold(`write:${path}`);
    }
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed the mode given to open()
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
    if (e.startsWith(prefix) && /^\.[^/]+\.[0-9a-f]{12}\.tmp$/.test(e)) await unlink(join(dir, e)).catch(() => undefined);
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, constants.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Remove a file; a missing file is fine. Returns whether something was removed. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
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
export async function copyTreeDurable(from: string, to: string, mode = 0o700): Promise<void> {
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
