/**
 * What release to install and where: the ReleaseSpec, its defaults, version validation and the (pure) URL layout of
 * an upstream etcd release: <releaseUrl>/v<version>/etcd-v<version>-linux-<arch>.tar.gz next to SHA256SUMS.
 */
import { join } from 'node:path';
import { DEFAULTS } from '../config/defaults.js';
import { parseDuration } from '../config/duration.js';
import { normalizeVersion } from '../config/version.js';
import { EtcdadmError } from '../errors.js';

export type ReleaseArch = 'amd64' | 'arm64';

export interface ReleaseSpec {
  /** "3.5.30": semver X.Y.Z, optionally -prerelease; no leading v. */
  version: string;
  /** Directory holding v<version>/ release dirs; http(s):// or file://. */
  releaseUrl: string;
  /** The archive and its SHA256SUMS are cached in <cacheDir>/v<version>/. */
  cacheDir: string;
  /** Binaries go to <installDir>/etcd-v<version>/, with symlinks <installDir>/{etcd,etcdctl,etcdutl}. */
  installDir: string;
  /** Accept a release that publishes no SHA256SUMS (with a warning). */
  skipHashCheck: boolean;
  /** Accept a plain http:// releaseUrl (with a warning): the operator's explicit consent (--insecure-release-url). */
  insecureReleaseUrl?: boolean;
  /** Abort a request when the response headers have not arrived within this time. */
  connectTimeoutMs: number;
  /** Default: from process.arch. */
  arch?: ReleaseArch;
}

/** A complete, validated ReleaseSpec from the given fields and etcdadm's defaults (config/defaults.ts). */
export function releaseSpec(input: Partial<ReleaseSpec> & { version: string }): ReleaseSpec {
  const spec: ReleaseSpec = {
    releaseUrl: DEFAULTS.releaseUrl,
    cacheDir: DEFAULTS.cacheDir,
    installDir: DEFAULTS.installDir,
    skipHashCheck: false,
    connectTimeoutMs: parseDuration(DEFAULTS.downloadConnectTimeout)!,
    ...stripUndefined(input),
    version: validateVersion(input.version),
  };
  releaseUrls(spec); // validates releaseUrl and arch
  if (!Number.isFinite(spec.connectTimeoutMs) || spec.connectTimeoutMs <= 0) {
    throw new EtcdadmError(`Invalid connect timeout ${spec.connectTimeoutMs} ms`, { hint: 'Use a positive duration' });
  }
  return spec;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The version in canonical form ("3.5.30"): the one grammar of config/version.ts (X.Y.Z[-prerelease], at most one
 * leading "v"); anything else is an EtcdadmError.
 */
export function validateVersion(version: string): string {
  const v = normalizeVersion(version);
  if (v === undefined) {
    throw new EtcdadmError(`Invalid etcd version "${version}"`, {
      hint: 'Use a release version like 3.5.30 (X.Y.Z, optionally with a -prerelease suffix)',
    });
  }
  return v;
}

/** Why `url` cannot be a release URL (etcdadm fetches http://, https:// and file://), or undefined when it can. */
export function releaseUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL such as ${DEFAULTS.releaseUrl}`;
  }
  return ['http:', 'https:', 'file:'].includes(u.protocol) ? undefined : 'must be an http://, https:// or file:// URL';
}

/** The URL without any password, for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) {
      u.password = '***';
      return u.toString();
    }
  } catch {
    /* not a URL: shown as is */
  }
  return url;
}

/**
 * Why a download from `spec.releaseUrl` is refused (plain http:// without the operator's consent), or undefined.
 * Over http a man in the middle swaps the archive and its SHA256SUMS together, and etcdadm installs and runs it as
 * root: the checksum only protects against a corrupt download when it comes over another, trusted channel. Pure.
 */
export function insecureReleaseProblem(spec: Pick<ReleaseSpec, 'releaseUrl' | 'insecureReleaseUrl'>): EtcdadmError | undefined {
  if (!/^http:/i.test(spec.releaseUrl) || spec.insecureReleaseUrl) return undefined;
  return new EtcdadmError(`refusing to download etcd from ${displayUrl(spec.releaseUrl)} over plain http: the archive and its SHA256SUMS would come over one unauthenticated channel, and etcdadm runs what it installs as root`, {
    hint: 'serve the mirror over https:// or use a file:// mirror; or accept the risk with --insecure-release-url (etcd.insecureReleaseURL in the config)',
    exitCode: 2,
  });
}

/** The release architecture of this machine. */
export function hostArch(): ReleaseArch {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'arm64':
      return 'arm64';
    default:
      throw new EtcdadmError(`etcd releases are not published for the ${process.arch} architecture`, {
        hint: 'Run etcdadm on an amd64 or arm64 host',
      });
  }
}

export interface ReleaseUrls {
  /** <releaseUrl>/v<ver>/etcd-v<ver>-linux-<arch>.tar.gz */
  archive: string;
  /** <releaseUrl>/v<ver>/SHA256SUMS */
  sums: string;
  /** etcd-v<ver>-linux-<arch>.tar.gz */
  archiveName: string;
}

/** A release URL without surrounding blanks and trailing slashes: the one spelling every other URL is built from. Pure. */
export function releaseBase(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** Where the release archive and its checksums live. Pure (no I/O); trailing slashes of releaseUrl are ignored. */
export function releaseUrls(spec: Pick<ReleaseSpec, 'version' | 'releaseUrl' | 'arch'>): ReleaseUrls {
  const version = validateVersion(spec.version);
  const arch = spec.arch ?? hostArch();
  if (arch !== 'amd64' && arch !== 'arm64') {
    throw new EtcdadmError(`Unsupported architecture "${String(arch)}"`, { hint: 'Use amd64 or arm64' });
  }
  const base = releaseBase(spec.releaseUrl);
  if (releaseUrlProblem(base) !== undefined) {
    throw new EtcdadmError(`Invalid release URL "${spec.releaseUrl}"`, {
      hint: 'Use an http://, https:// or file:// URL of the directory holding the v<version>/ release directories',
    });
  }
  const archiveName = `etcd-v${version}-linux-${arch}.tar.gz`;
  const dir = `${base}/v${version}`;
  return { archive: `${dir}/${archiveName}`, sums: `${dir}/SHA256SUMS`, archiveName };
}

export interface EtcdBinaryPaths {
  etcd: string;
  etcdctl: string;
  etcdutl: string;
}

/** The stable paths users and unit files call (symlinks into the current version dir). */
export function etcdBinaryPaths(installDir: string): EtcdBinaryPaths {
  return { etcd: join(installDir, 'etcd'), etcdctl: join(installDir, 'etcdctl'), etcdutl: join(installDir, 'etcdutl') };
}

/** <installDir>/etcd-v<version>: where one version's binaries live. */
export function versionDirPath(installDir: string, version: string): string {
  return join(installDir, `etcd-v${validateVersion(version)}`);
}

/** <cacheDir>/v<version>: where one version's archive and SHA256SUMS are cached. */
export function cacheVersionDir(cacheDir: string, version: string): string {
  return join(cacheDir, `v${validateVersion(version)}`);
}
