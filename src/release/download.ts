/**
 * Download (or take from the cache) a release archive and verify its SHA-256 against the release's SHA256SUMS.
 * Cache layout: <cacheDir>/v<version>/<archiveName> and <cacheDir>/v<version>/SHA256SUMS. An archive lands in the
 * cache only after it matched (downloaded to a temp file in the same directory, hashed while streaming, renamed).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EtcdadmError, describe } from '../errors.js';
import type { FileWriter, Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { displayUrl, fetchText, openUrl } from './fetch.js';
import { cacheVersionDir, releaseUrls, validateVersion, type ReleaseSpec } from './spec.js';
import { archiveSha256, extractedRelease, forgetArchive, rememberSha256 } from './cache.js';
import { expectedSha256 } from './sums.js';

export interface DownloadResult {
  /** The verified archive in the cache. */
  archivePath: string;
  /** Its SHA-256 (hex). */
  sha256: string;
  /** True when no archive was downloaded. */
  fromCache: boolean;
  /** Its extraction in the cache (release/cache.ts): what install links the binaries from. */
  extractedDir: string;
}

/** Where downloadRelease keeps the archive of `spec` (whether or not it is there yet). */
export function cachedArchivePath(spec: Pick<ReleaseSpec, 'version' | 'releaseUrl' | 'arch' | 'cacheDir'>): string {
  return join(cacheVersionDir(spec.cacheDir, spec.version), releaseUrls(spec).archiveName);
}

export async function downloadRelease(host: Host, spec: ReleaseSpec, log: Logger): Promise<DownloadResult> {
  const version = validateVersion(spec.version);
  const urls = releaseUrls({ ...spec, version });
  const name = urls.archiveName;
  const dir = cacheVersionDir(spec.cacheDir, version);
  const archivePath = join(dir, name);
  const sumsPath = join(dir, 'SHA256SUMS');

  if (/^http:/i.test(spec.releaseUrl))
    log.warn(`The release URL ${displayUrl(spec.releaseUrl)} is plain http (accepted with --insecure-release-url): nothing authenticates the archive or its SHA256SUMS`);
  // The release's SHA256SUMS text: null = not fetched yet, undefined = the release has none.
  let remoteSums: string | undefined | null = null;

  if (await host.exists(archivePath)) {
    const cachedSums = await host.read(sumsPath);
    let expected = cachedSums === undefined ? undefined : expectedSha256(cachedSums, name, sumsPath);
    if (expected === undefined && !spec.skipHashCheck) {
      // Cached without checksums (an earlier unverified download): verify it against the release's SHA256SUMS now.
      remoteSums = await fetchText(host, urls.sums, spec.connectTimeoutMs);
      expected = remoteSums === undefined ? undefined : expectedSha256(remoteSums, name, displayUrl(urls.sums));
    }
    // hashed once, then remembered while the file is unchanged (release/cache.ts)
    const actual = await archiveSha256(host, archivePath);
    if (expected !== undefined && actual === expected) {
      if (remoteSums) await host.write(sumsPath, remoteSums);
      log.info(`Using the cached etcd v${version} archive`, { path: archivePath });
      log.info(`Verified SHA-256 of ${name}`, { sha256: actual });
      return { archivePath, sha256: actual, fromCache: true, extractedDir: await extractedRelease(host, archivePath, actual, log) };
    }
    if (expected === undefined && spec.skipHashCheck) {
      log.info(`Using the cached etcd v${version} archive`, { path: archivePath });
      log.warn(`Not verifying ${name}: no SHA256SUMS for it and the hash check is skipped`, { sha256: actual });
      return { archivePath, sha256: actual, fromCache: true, extractedDir: await extractedRelease(host, archivePath, actual, log) };
    }
    if (expected !== undefined) {
      log.warn(`The cached ${name} does not match its SHA-256; downloading it again`, { expected, actual });
      await host.remove(archivePath);
      await forgetArchive(host, archivePath);
    }
    // else: no checksum anywhere and no opt-out; the download below fails with the right message.
  }

  await host.mkdir(dir, 0o755);
  const sumsText = remoteSums === null ? await fetchText(host, urls.sums, spec.connectTimeoutMs) : remoteSums;
  const expected = sumsText === undefined ? undefined : expectedSha256(sumsText, name, displayUrl(urls.sums));

  const source = await openUrl(host, urls.archive, spec.connectTimeoutMs);
  if (!source) {
    throw new EtcdadmError(`etcd v${version} not found at ${displayUrl(urls.archive)}`, {
      hint: 'Check --version (an existing etcd release, like 3.5.30) and --release-url',
    });
  }
  if (expected === undefined) {
    const why =
      sumsText === undefined
        ? `no SHA256SUMS at ${displayUrl(urls.sums)}`
        : `${displayUrl(urls.sums)} has no line for ${name}`;
    if (!spec.skipHashCheck) {
      await source.cancel();
      throw new EtcdadmError(`Cannot verify ${name}: ${why}`, {
        hint: 'Publish SHA256SUMS next to the archive, or pass --skip-hash-check to install it unverified',
      });
    }
    log.warn(`Not verifying ${name}: ${why}; the hash check is skipped`);
  }

  log.info(`Downloading etcd v${version} from ${displayUrl(urls.archive)}`);
  const hash = createHash('sha256');
  const progress = log.progress(`Downloading ${name}`);
  let done = 0;
  let writer: FileWriter | undefined;
  const fail = async (err: unknown, what: () => EtcdadmError): Promise<never> => {
    await source.cancel();
    await writer?.abort();
    throw err instanceof EtcdadmError ? err : what();
  };
  try {
    writer = await host.writeStream(archivePath, { mode: 0o644 });
    await pipeline(
      source.body,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          done += chunk.length;
          progress.update(done, source.size);
          yield chunk;
        }
      },
      writer.sink,
    );
  } catch (err) {
    progress.done();
    await fail(err, () => new EtcdadmError(`Cannot save ${displayUrl(urls.archive)} to ${writer?.tempPath ?? dir}: ${describe(err)}`, {
      hint: `Check free space and permissions of the cache directory ${spec.cacheDir}`,
      cause: err,
    }));
  }
  progress.done();
  if (source.size !== undefined && done !== source.size) {
    await writer!.abort();
    throw new EtcdadmError(
      `Download of ${displayUrl(urls.archive)} is incomplete: got ${done} of ${source.size} bytes`,
      { hint: 'Try again; check the network and --release-url' },
    );
  }
  const actual = hash.digest('hex');
  if (expected !== undefined && actual !== expected) {
    await writer!.abort();
    throw new EtcdadmError(`SHA-256 mismatch for ${name}: expected ${expected}, got ${actual}`, {
      hint: `The download is corrupt or was tampered with and has been deleted; check --release-url and try again`,
    });
  }
  try {
    if (sumsText === undefined) await host.remove(sumsPath);
    else await host.write(sumsPath, sumsText);
    await writer!.commit();
  } catch (err) {
    await writer!.abort();
    throw new EtcdadmError(`Cannot store ${name} in the cache ${dir}: ${describe(err)}`, {
      hint: 'Check free space and permissions of the cache directory',
      cause: err,
    });
  }
  await rememberSha256(host, archivePath, actual);
  if (expected !== undefined) log.info(`Verified SHA-256 of ${name}`, { sha256: actual });
  return { archivePath, sha256: actual, fromCache: false, extractedDir: await extractedRelease(host, archivePath, actual, log) };
}
