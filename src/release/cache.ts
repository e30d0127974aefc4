/**
 * What the release cache remembers, so that a verified release is verified and extracted once, not on every run:
 *  - an archive's SHA-256, with the size and mtime it had when it was hashed (`<archive>.sha256.json`): while the
 *    archive still has them, its hash is not computed again (the cache is root's; anything that rewrites the file
 *    changes its mtime);
 *  - its extraction, `<cache>/v<version>/etcd-v<version>-linux-<arch>/` (etcd, etcdctl and etcdutl as regular files,
 *    nothing reached through a link), with a stamp naming the archive's SHA-256 and each binary's size and mtime
 *    (`<dir>.json`): install hard-links the binaries from there (release/install.ts), so an install of a cached
 *    release writes no data. A stamp that does not match, a missing file, a changed binary: extracted again.
 * The cache is outside the run's journal (run/context.ts): what lands here stays when a run fails.
 */
import { basename, dirname, join } from 'node:path';
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { sha256File } from './sums.js';

export const RELEASE_BINARIES = ['etcd', 'etcdctl', 'etcdutl'] as const;

interface FileStamp {
  size: number;
  mtimeMs: number;
}

interface HashStamp extends FileStamp {
  sha256: string;
}

interface ExtractStamp {
  archiveSha256: string;
  files: Record<string, FileStamp>;
}

const hashStampPath = (archivePath: string) => `${archivePath}.sha256.json`;

async function readJson<T>(host: Host, path: string): Promise<T | undefined> {
  try {
    const text = await host.read(path);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  } catch {
    return undefined; // a damaged stamp is no stamp: the work is done again
  }
}

async function stampOf(host: Host, path: string): Promise<FileStamp | undefined> {
  const st = await host.stat(path);
  return st?.kind === 'file' ? { size: st.size, mtimeMs: st.mtimeMs } : undefined;
}

const sameStamp = (a: FileStamp | undefined, b: FileStamp | undefined) => !!a && !!b && a.size === b.size && a.mtimeMs === b.mtimeMs;

/** Remember `sha256` for the archive as it is now (after a download that hashed it while streaming). */
export async function rememberSha256(host: Host, archivePath: string, sha256: string): Promise<void> {
  const st = await stampOf(host, archivePath);
  if (st) await host.write(hashStampPath(archivePath), `${JSON.stringify({ sha256, ...st } satisfies HashStamp)}\n`, { mode: 0o644 });
}

/** The archive's SHA-256: remembered while the file is unchanged, else computed (and remembered). */
export async function archiveSha256(host: Host, archivePath: string): Promise<string> {
  const [stamp, now] = await Promise.all([readJson<HashStamp>(host, hashStampPath(archivePath)), stampOf(host, archivePath)]);
  if (stamp && sameStamp(stamp, now) && /^[0-9a-f]{64}$/.test(stamp.sha256)) return stamp.sha256;
  const sha = await sha256File(host, archivePath);
  await rememberSha256(host, archivePath, sha);
  return sha;
}

/** Forget what was remembered of an archive (it is being removed or replaced). */
export async function forgetArchive(host: Host, archivePath: string): Promise<void> {
  await host.remove(hashStampPath(archivePath));
}

/** Where the extraction of `archivePath` lives: next to it, named as the archive's top directory. */
export function extractedDirOf(archivePath: string): string {
  return join(dirname(archivePath), basename(archivePath).replace(/\.tar\.gz$/, ''));
}

/**
 * Why an archive entry is refused, or undefined when it may be extracted: regular files and directories inside the
 * release's top directory only. etcd's release archives hold nothing else, and a link — even one that points inside
 * — lets a later entry or a chain of links (`a/b -> ..`, then a link through it) reach out of the extraction dir.
 */
export function unsafeEntry(path: string, type: string, _linkpath: string | undefined): string | undefined {
  if (path.startsWith('/')) return `${path}: absolute path`;
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) return `${path}: path contains ".."`;
  switch (type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
    case 'Directory':
      return undefined;
    case 'SymbolicLink':
      return `${path}: a symbolic link (etcd releases hold only files and directories)`;
    case 'Link':
      return `${path}: a hard link (etcd releases hold only files and directories)`;
    default:
      return `${path}: unsupported entry type ${type}`;
  }
}

/**
 * The verified archive's extraction in the cache: the one there when its stamp still matches (same archive, every
 * binary unchanged), else a new one (extracted into a temp dir, checked, renamed into place). Returns its path.
 */
export async function extractedRelease(host: Host, archivePath: string, sha256: string, log: Logger): Promise<string> {
  const dir = extractedDirOf(archivePath);
  const stamp = await readJson<ExtractStamp>(host, `${dir}.json`);
  if (stamp?.archiveSha256 === sha256 && (await stillThere(host, dir, stamp))) return dir;

  const tmp = await host.mkdtemp(join(dirname(archivePath), '.extract-'));
  try {
    const started = performance.now();
    await extractArchive(host, archivePath, tmp);
    const files: Record<string, FileStamp> = {};
    for (const bin of RELEASE_BINARIES) {
      // regular files in the extraction dir itself, nothing reached through a link
      const st = await host.stat(join(tmp, bin));
      if (st && st.kind !== 'file') throw new EtcdadmError(`${basename(archivePath)}: ${bin} is not a regular file`, { hint: 'The archive is not a genuine etcd release' });
      if (!st) {
        if (bin === 'etcdutl') continue; // etcd 3.4 has none
        throw new EtcdadmError(`${basename(archivePath)} has no ${bin} binary`, {
          hint: 'Is --release-url serving etcd release archives (etcd-vX.Y.Z-linux-ARCH/etcd inside)?',
        });
      }
      await host.chmod(join(tmp, bin), 0o755);
      files[bin] = (await stampOf(host, join(tmp, bin)))!;
    }
    await host.chmod(tmp, 0o755); // mkdtemp made it 0700
    await host.remove(`${dir}.json`);
    await host.removeTree(dir);
    await host.rename(tmp, dir);
    await host.write(`${dir}.json`, `${JSON.stringify({ archiveSha256: sha256, files } satisfies ExtractStamp)}\n`, { mode: 0o644 });
    log.debug(`Extracted ${basename(archivePath)} into the cache`, { ms: Math.round(performance.now() - started) });
    return dir;
  } catch (err) {
    await host.removeTree(tmp).catch(() => undefined);
    throw err;
  }
}

async function stillThere(host: Host, dir: string, stamp: ExtractStamp): Promise<boolean> {
  if (!stamp.files.etcd || !stamp.files.etcdctl) return false;
  for (const bin of RELEASE_BINARIES) {
    const want = stamp.files[bin];
    const have = await stampOf(host, join(dir, bin));
    if (want ? !sameStamp(want, have) : have !== undefined) return false;
  }
  return true;
}

async function extractArchive(host: Host, archivePath: string, dest: string): Promise<void> {
  let refused: string[];
  try {
    refused = await host.extract(archivePath, dest, { strip: 1, refuse: (e) => unsafeEntry(e.path, e.type, e.linkpath) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (/^E[A-Z]+$/.test(code) && code !== 'EOF') {
      throw new EtcdadmError(`Cannot extract ${archivePath} into ${dirname(archivePath)}: ${describe(err)}`, {
        hint: 'Check free space and permissions of the cache directory',
        cause: err,
      });
    }
    throw new EtcdadmError(`Cannot extract ${archivePath}: the archive is corrupt (${describe(err)})`, {
      hint: 'Delete it from the cache and download it again, or check the release at --release-url',
      cause: err,
    });
  }
  if (refused.length > 0) {
    throw new EtcdadmError(`Refusing to install ${basename(archivePath)}: unsafe entries ${refused.slice(0, 3).join('; ')}`, {
      hint: 'The archive tries to write outside its directory; it is not a genuine etcd release',
    });
  }
}
