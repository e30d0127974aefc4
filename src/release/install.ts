/**
 * Install a verified release archive:
 *   1. extract it (tar package, gunzip on the libuv thread pool) into a fresh temp dir inside installDir, refusing
 *      entries that would land outside it;
 *   2. check that etcd and etcdctl are there (etcdutl is optional: 3.4 has none) and that the new etcd reports the
 *      requested version;
 *   3. rename the temp dir to <installDir>/etcd-v<version> (an existing one is renamed aside first, then removed);
 *   4. point <installDir>/{etcd,etcdctl,etcdutl} at it: relative symlinks, each replaced atomically (temp symlink
 *      renamed over the old name), and check that <installDir>/etcd resolves to the binary that passed the version
 *      check. Until the switch the previous version stays fully in place.
 * Older version dirs are kept (they are what a rollback switches back to).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, readlink, realpath, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { basename, join, posix, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { EtcdadmError, describe } from '../errors.js';
import { ensureDir, fsyncDir } from '../host/files.js';
import type { Logger } from '../log/logger.js';
import { etcdBinaryPaths, validateVersion, versionDirPath, type ReleaseSpec } from './spec.js';

export interface InstallResult {
  /** <installDir>/etcd-v<version> */
  versionDir: string;
  /** The stable paths (symlinks into versionDir); etcdutl only when the release has it. */
  binaries: { etcd: string; etcdctl: string; etcdutl?: string };
  /** False when the version dir was already installed and extraction was skipped. */
  extracted: boolean;
}

const BINARIES = ['etcd', 'etcdctl', 'etcdutl'] as const;
/** Leftover temp/aside dirs of interrupted installs older than this are removed. */
const STALE_MS = 60 * 60 * 1000;

export async function installRelease(
  spec: Pick<ReleaseSpec, 'version' | 'installDir'>,
  archivePath: string,
  log: Logger,
): Promise<InstallResult> {
  const version = validateVersion(spec.version);
  const installDir = resolve(spec.installDir);
  const versionDir = versionDirPath(installDir, version);
  const stable = etcdBinaryPaths(installDir);
  try {
    await ensureDir(installDir);
  } catch (err) {
    throw new EtcdadmError(`Cannot create ${installDir}: ${describe(err)}`, {
      hint: 'Check --install-dir and its permissions',
      cause: err,
    });
  }
  await removeStaleTemps(installDir, log);

  let extracted = false;
  const present = await probeVersion(join(versionDir, 'etcd'));
  if (present.version === version && (await isFile(join(versionDir, 'etcdctl')))) {
    log.info(`etcd v${version} is already installed in ${versionDir}; skipping extraction`);
  } else {
    const tmp = await mkdtemp(join(installDir, `.etcd-v${version}.tmp-`));
    try {
      const started = performance.now();
      await extractArchive(archivePath, tmp, installDir);
      for (const bin of ['etcd', 'etcdctl']) {
        if (!(await isFile(join(tmp, bin)))) {
          throw new EtcdadmError(`${basename(archivePath)} has no ${bin} binary`, {
            hint: 'Is --release-url serving etcd release archives (etcd-vX.Y.Z-linux-ARCH/etcd inside)?',
          });
        }
      }
      for (const bin of BINARIES) if (await isFile(join(tmp, bin))) await chmod(join(tmp, bin), 0o755);
      await chmod(tmp, 0o755); // mkdtemp made it 0700
      log.debug(`Extracted ${basename(archivePath)}`, { ms: Math.round(performance.now() - started) });
      await requireVersion(join(tmp, 'etcd'), version, `The etcd binary in ${basename(archivePath)}`);
      await placeDir(tmp, versionDir, installDir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    extracted = true;
  }

  const hasEtcdutl = await isFile(join(versionDir, 'etcdutl'));
  await switchLinks(installDir, versionDir, hasEtcdutl, log);
  // The binary behind the links already reported the right version (in the temp dir, before the switch, or as the
  // installed version dir): check that <installDir>/etcd now resolves to it rather than running it a second time.
  await requireResolves(stable.etcd, join(versionDir, 'etcd'));
  log.info(`Installed etcd v${version} to ${installDir}`);
  return {
    versionDir,
    binaries: { etcd: stable.etcd, etcdctl: stable.etcdctl, ...(hasEtcdutl ? { etcdutl: stable.etcdutl } : {}) },
    extracted,
  };
}

/** The version `<etcdBinary> --version` reports ("3.5.30"), or undefined when it is missing or does not run. */
export async function installedVersion(etcdBinary: string): Promise<string | undefined> {
  return (await probeVersion(etcdBinary)).version;
}

interface Probe {
  version?: string;
  error?: unknown;
}

async function probeVersion(etcdBinary: string): Promise<Probe> {
  return new Promise((done) => {
    execFile(etcdBinary, ['--version'], { timeout: 10_000, maxBuffer: 1 << 16 }, (err, stdout) => {
      if (err) return done({ error: err });
      const m = /^etcd Version:\s*v?(\S+)/m.exec(String(stdout));
      done(m?.[1] ? { version: m[1] } : { error: new Error(`unexpected output ${JSON.stringify(String(stdout).slice(0, 80))}`) });
    });
  });
}

async function requireVersion(etcdBinary: string, version: string, what: string): Promise<void> {
  const probe = await probeVersion(etcdBinary);
  if (probe.version === version) return;
  if (probe.version === undefined) {
    throw new EtcdadmError(`Cannot run ${etcdBinary} --version: ${describe(probe.error)}`, {
      hint: 'The release may be for another architecture or damaged; check --release-url',
      cause: probe.error,
    });
  }
  throw new EtcdadmError(`${what} reports version ${probe.version}, not ${version}`, {
    hint: 'The release at --release-url is mislabelled; the installed etcd was left as it was',
  });
}

async function requireResolves(link: string, target: string): Promise<void> {
  const [got, want] = await Promise.all([realpath(link).catch(() => undefined), realpath(target)]);
  if (got !== want) {
    throw new EtcdadmError(`${link} does not resolve to ${target} after the switch`, {
      hint: 'Another process changed the install directory at the same time; run the command again',
    });
  }
}

/** Why an archive entry is refused, or undefined when it stays inside the extraction dir (after strip 1). */
export function unsafeEntry(path: string, type: string, linkpath: string | undefined): string | undefined {
  if (path.startsWith('/')) return `${path}: absolute path`;
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) return `${path}: path contains ".."`;
  const rel = parts.slice(1); // the release's top-level directory is stripped
  switch (type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
    case 'Directory':
      return undefined;
    case 'SymbolicLink': {
      const link = linkpath ?? '';
      if (link.startsWith('/')) return `${path}: symlink to ${link} outside the archive`;
      const target = posix.normalize(posix.join(posix.dirname(rel.join('/') || '.'), link));
      if (target === '..' || target.startsWith('../')) return `${path}: symlink to ${link} outside the archive`;
      return undefined;
    }
    case 'Link': {
      const link = linkpath ?? '';
      const lparts = link.split('/').filter((s) => s !== '' && s !== '.');
      if (link.startsWith('/') || lparts.includes('..') || lparts.length < 2) {
        return `${path}: hard link to ${link} outside the archive`;
      }
      return undefined;
    }
    default:
      return `${path}: unsupported entry type ${type}`;
  }
}

async function extractArchive(archivePath: string, dest: string, installDir: string): Promise<void> {
  const refused: string[] = [];
  const unpack = tar.x({
    cwd: dest,
    strip: 1,
    strict: true, // a truncated or malformed tar stream is an error, not a warning
    preserveOwner: false,
    filter: (path, entry) => {
      const e = entry as tar.ReadEntry;
      const why = unsafeEntry(path, e.type, e.linkpath);
      if (why) refused.push(why);
      return why === undefined;
    },
  });
  try {
    // Node's gunzip runs on the thread pool with big chunks: ~3x faster than letting tar inflate synchronously.
    await pipeline(createReadStream(archivePath, { highWaterMark: 4 << 20 }), createGunzip({ chunkSize: 1 << 20 }), unpack);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (/^E[A-Z]+$/.test(code) && code !== 'EOF') {
      throw new EtcdadmError(`Cannot extract ${archivePath} into ${installDir}: ${describe(err)}`, {
        hint: 'Check free space and permissions of --install-dir',
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

/** Rename `tmp` to `target`; an existing target is renamed aside first and removed after. */
async function placeDir(tmp: string, target: string, installDir: string): Promise<void> {
  let aside: string | undefined;
  if (await lexists(target)) {
    aside = join(installDir, `.${basename(target)}.old-${randomBytes(6).toString('hex')}`);
    await rename(target, aside);
  }
  try {
    await rename(tmp, target);
  } catch (err) {
    if (aside) await rename(aside, target).catch(() => undefined);
    throw new EtcdadmError(`Cannot move the extracted release to ${target}: ${describe(err)}`, { cause: err });
  }
  await fsyncDir(installDir);
  if (aside) await rm(aside, { recursive: true, force: true });
}

async function switchLinks(installDir: string, versionDir: string, hasEtcdutl: boolean, log: Logger): Promise<void> {
  // etcd last: once it points at the new version, so do the tools.
  for (const bin of ['etcdctl', 'etcdutl', 'etcd'] as const) {
    const link = join(installDir, bin);
    if (bin === 'etcdutl' && !hasEtcdutl) {
      const st = await lstat(link).catch(() => undefined);
      if (st?.isSymbolicLink()) {
        await unlink(link);
        log.info(`Removed ${link}: etcd v${basename(versionDir).replace(/^etcd-v/, '')} has no etcdutl`);
      } else if (st) {
        log.warn(`Leaving ${link} in place: it is not a symlink etcdadm made`);
      }
      continue;
    }
    const target = `${basename(versionDir)}/${bin}`;
    if ((await readlink(link).catch(() => undefined)) === target) continue;
    const tmpLink = join(installDir, `.${bin}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await symlink(target, tmpLink);
      await rename(tmpLink, link);
    } catch (err) {
      await unlink(tmpLink).catch(() => undefined);
      throw new EtcdadmError(`Cannot point ${link} at ${target}: ${describe(err)}`, {
        hint: `Remove or move ${link} (etcdadm manages it as a symlink)`,
        cause: err,
      });
    }
  }
  await fsyncDir(installDir);
}

/** Remove temp and aside dirs that interrupted installs left behind (old enough not to belong to a running one). */
async function removeStaleTemps(installDir: string, log: Logger): Promise<void> {
  const names = await readdir(installDir).catch(() => [] as string[]);
  for (const name of names) {
    if (!/^\.etcd-v.+\.(tmp|old)-[0-9A-Za-z]+$/.test(name)) continue;
    const path = join(installDir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < STALE_MS) continue;
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
    log.debug(`Removed ${path} left by an interrupted install`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function lexists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
