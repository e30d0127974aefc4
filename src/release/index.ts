/**
 * etcd releases: fetch, verify (SHA-256 against the release's SHA256SUMS), cache, extract and install.
 *
 *   const spec = releaseSpec({ version: '3.5.30' });
 *   const { extractedDir } = await downloadRelease(host, spec, log);
 *   const { binaries } = await installRelease(host, spec, extractedDir, log);
 */
export {
  cacheVersionDir,
  etcdBinaryPaths,
  hostArch,
  insecureReleaseProblem,
  releaseSpec,
  releaseUrlProblem,
  releaseUrls,
  validateVersion,
  versionDirPath,
  type EtcdBinaryPaths,
  type ReleaseArch,
  type ReleaseSpec,
  type ReleaseUrls,
} from './spec.js';
export { expectedSha256, parseSha256Sums, sha256File, type SumEntry } from './sums.js';
export { cachedArchivePath, downloadRelease, type DownloadResult } from './download.js';
export { extractedDirOf, extractedRelease, unsafeEntry } from './cache.js';
export { installRelease, installedVersion, type InstallResult } from './install.js';
export { uninstallRelease } from './uninstall.js';
