/**
 * Install a verified release from its extraction in the cache (release/cache.ts):
 *   1. link its binaries into a fresh temp dir inside installDir (hard links on one filesystem: no data written;
 *      copies elsewhere), all or nothing;
 *   2. check that the etcd there reports the requested version;
 *   3. rename the temp dir to <installDir>/etcd-v<version> (an existing one is renamed aside first, then removed);
 *   4. point <installDir>/{etcd,etcdctl,etcdutl} at it: relative symlinks, each replaced atomically (temp symlink
 *      renamed over the old name), and check that <installDir>/etcd resolves to the binary that passed the version
 *      check. Until the switch the previous version stays fully in place.
 * Older version dirs are kept (they are what a rollback switches back to).
 */
import { basename, join, resolve } from 'node:path';
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { etcdBinaryPaths, validateVersion, versionDirPath, type ReleaseSpec } from './spec.js';

export interface InstallResult {
  /** <installDir>/etcd-v<version> */
  versionDir: string;
  /** The stable paths (symlinks into versionDir); etcdutl only when the release has it. */
  binaries: { etcd: string; etcdctl: string; etcdutl?: string };
  /** False when the version dir was already installed and nothing was linked or copied. */
  extracted: boolean;
}

/** Leftover temp/aside dirs of interrupted installs older than this are removed. */
const STALE_MS = 60 * 60 * 1000;

export async function installRelease(
  host: Host,
  spec: Pick<ReleaseSpec, 'version' | 'installDir'>,
  extractedDir: string,
  log: Logger,
): Promise<InstallResult> {
  const version = validateVersion(spec.version);
  const installDir = resolve(spec.installDir);
  const versionDir = versionDirPath(installDir, version);
  const stable = etcdBinaryPaths(installDir);
  try {
    await host.mkdir(installDir, 0o755);
  } catch (err) {
    throw new EtcdadmError(`Cannot create ${installDir}: ${describe(err)}`, {
      hint: 'Check --install-dir and its permissions',
      cause: err,
    });
  }
  await removeStaleTemps(host, installDir, log);

  let extracted = false;
  const present = await probeVersion(host, join(versionDir, 'etcd'));
  if (present.version === version && (await isFile(host, join(versionDir, 'etcdctl')))) {
    log.info(`etcd v${version} is already installed in ${versionDir}; nothing to copy`);
  } else {
    const tmp = join(installDir, `.etcd-v${version}.tmp-${Math.random().toString(36).slice(2, 10)}`);
    try {
      const started = performance.now();
      await host.copyTree(extractedDir, tmp, 0o755, { link: true });
      log.debug(`Linked etcd v${version} from ${extractedDir}`, { ms: Math.round(performance.now() - started) });
      await requireVersion(host, join(tmp, 'etcd'), version, `The etcd binary of etcd v${version}`);
      await placeDir(host, tmp, versionDir, installDir);
    } catch (err) {
      await host.removeTree(tmp).catch(() => undefined);
      throw err;
    }
    extracted = true;
  }

  const hasEtcdutl = await isFile(host, join(versionDir, 'etcdutl'));
  await switchLinks(host, installDir, versionDir, hasEtcdutl, log);
  // The binary behind the links already reported the right version (in the temp dir, before the switch, or as the
  // installed version dir): check that <installDir>/etcd now resolves to it rather than running it a second time.
  await requireResolves(host, stable.etcd, join(versionDir, 'etcd'));
  log.info(`Installed etcd v${version} to ${installDir}`);
  return {
    versionDir,
    binaries: { etcd: stable.etcd, etcdctl: stable.etcdctl, ...(hasEtcdutl ? { etcdutl: stable.etcdutl } : {}) },
    extracted,
  };
}

/** The version `<etcdBinary> --version` reports ("3.5.30"), or undefined when it is missing or does not run. */
export async function installedVersion(host: Host, etcdBinary: string): Promise<string | undefined> {
  return (await probeVersion(host, etcdBinary)).version;
}

interface Probe {
  version?: string;
  error?: unknown;
}

async function probeVersion(host: Host, etcdBinary: string): Promise<Probe> {
  if (!(await host.exists(etcdBinary))) return { error: new Error(`${etcdBinary} does not exist`) };
  try {
    const r = await host.exec(etcdBinary, ['--version'], { timeoutMs: 10_000 });
    if (r.code !== 0) return { error: new Error(`exit code ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').pop()}` : ''}`) };
    const m = /^etcd Version:\s*v?(\S+)/m.exec(r.stdout);
    return m?.[1] ? { version: m[1] } : { error: new Error(`unexpected output ${JSON.stringify(r.stdout.slice(0, 80))}`) };
  } catch (err) {
    return { error: err };
  }
}

async function requireVersion(host: Host, etcdBinary: string, version: string, what: string): Promise<void> {
  const probe = await probeVersion(host, etcdBinary);
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

async function requireResolves(host: Host, link: string, target: string): Promise<void> {
  const [got, want] = await Promise.all([host.realpath(link), host.realpath(target)]);
  if (got !== want) {
    throw new EtcdadmError(`${link} does not resolve to ${target} after the switch`, {
      hint: 'Another process changed the install directory at the same time; run the command again',
    });
  }
}

/** Rename `tmp` to `target`; an existing target is renamed aside first and removed after. */
async function placeDir(host: Host, tmp: string, target: string, installDir: string): Promise<void> {
  let aside: string | undefined;
  if (await host.stat(target)) {
    aside = join(installDir, `.${basename(target)}.old-${Math.random().toString(36).slice(2, 10)}`);
    await host.rename(target, aside);
  }
  try {
    await host.rename(tmp, target);
  } catch (err) {
    if (aside) await host.rename(aside, target).catch(() => undefined);
    throw new EtcdadmError(`Cannot move the extracted release to ${target}: ${describe(err)}`, { cause: err });
  }
  if (aside) await host.removeTree(aside);
}

async function switchLinks(host: Host, installDir: string, versionDir: string, hasEtcdutl: boolean, log: Logger): Promise<void> {
  // etcd last: once it points at the new version, so do the tools.
  for (const bin of ['etcdctl', 'etcdutl', 'etcd'] as const) {
    const link = join(installDir, bin);
    if (bin === 'etcdutl' && !hasEtcdutl) {
      const st = await host.stat(link);
      if (st?.kind === 'symlink') {
        await host.remove(link);
        log.info(`Removed ${link}: etcd v${basename(versionDir).replace(/^etcd-v/, '')} has no etcdutl`);
      } else if (st) {
        log.warn(`Leaving ${link} in place: it is not a symlink etcdadm made`);
      }
      continue;
    }
    const target = `${basename(versionDir)}/${bin}`;
    if ((await host.readlink(link)) === target) continue;
    try {
      await host.symlink(target, link);
    } catch (err) {
      throw new EtcdadmError(`Cannot point ${link} at ${target}: ${describe(err)}`, {
        hint: `Remove or move ${link} (etcdadm manages it as a symlink)`,
        cause: err,
      });
    }
  }
}

/** Remove temp and aside dirs that interrupted installs left behind (old enough not to belong to a running one). */
async function removeStaleTemps(host: Host, installDir: string, log: Logger): Promise<void> {
  for (const name of (await host.list(installDir)) ?? []) {
    if (!/^\.etcd-v.+\.(tmp|old)-[0-9A-Za-z]+(\.partial)?$/.test(name)) continue;
    const path = join(installDir, name);
    const st = await host.stat(path);
    if (!st || Date.now() - st.mtimeMs < STALE_MS) continue;
    await host.removeTree(path).catch(() => undefined);
    log.debug(`Removed ${path} left by an interrupted install`);
  }
}

async function isFile(host: Host, path: string): Promise<boolean> {
  const real = await host.realpath(path);
  return real !== undefined && (await host.stat(real))?.kind === 'file';
}
