/**
 * The etcd release for apply's hosts, from the operator's machine: downloaded (and verified against the release's
 * SHA256SUMS) once into the operator's own cache, then copied into each host's release cache with that SHA256SUMS,
 * where the host's own init, join or upgrade finds it and verifies it again. The hosts need no access to the release
 * URL, and a cluster of N hosts downloads the release once.
 *
 * The operator's cache is per user: $XDG_CACHE_HOME/etcdadm/etcd, else ~/.cache/etcdadm/etcd (apply runs without
 * root here). The executable apply copies is this machine's, so the hosts share its architecture and so does the
 * release.
 */
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Plan } from '../config/types.js';
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from '../host/host.js';
import { operatorHost } from '../host/operator.js';
import { SshHost } from '../host/ssh.js';
import type { Logger } from '../log/logger.js';
import { cachedArchivePath, downloadRelease } from '../release/download.js';

/** The operator's release cache. */
export function operatorCacheDir(env: NodeJS.ProcessEnv, home: string): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'etcdadm', 'etcd');
}

export interface ReleaseTarget {
  name: string;
  host: Host;
  /** The host's plan: its release spec (version, URL, cache dir). */
  plan: Plan;
}

/**
 * Every target host's cache holds the release of its plan (one version for all), copied from the operator's cache
 * where it is missing or its SHA256SUMS differs; in parallel, each host's `after` (apply's bootstrap: the host's own
 * `etcdadm download`, which verifies and extracts it there) as soon as its copy is there. Returns the hosts it was
 * copied to.
 */
export async function distributeRelease(targets: readonly ReleaseTarget[], cacheDir: string, log: Logger, after?: (t: ReleaseTarget) => Promise<unknown>): Promise<string[]> {
  if (targets.length === 0) return [];
  const spec = { ...targets[0]!.plan.release, cacheDir };
  const here = operatorHost();
  const got = await downloadRelease(here, spec, log.withPhase('release'));
  const sums = await here.read(join(dirname(got.archivePath), 'SHA256SUMS'));
  const size = (await here.stat(got.archivePath))?.size ?? 0;
  const copied: string[] = [];
  await Promise.all(
    targets.map(async (t) => {
      const dst = cachedArchivePath(t.plan.release);
      const dstSums = join(dirname(dst), 'SHA256SUMS');
      if ((await t.host.stat(dst))?.size === size && (sums === undefined || (await t.host.read(dstSums)) === sums)) {
        log.withPhase('release').debug(`${t.name}: etcd v${spec.version} is in its cache already`);
        await after?.(t);
        return;
      }
      // not fsynced: a cache file, verified against SHA256SUMS by the host's own command before any use
      if (t.host instanceof SshHost) await t.host.upload(got.archivePath, dst, 0o644, { durable: false });
      else {
        await t.host.mkdir(dirname(dst), 0o755);
        const w = await t.host.writeStream(dst, { mode: 0o644 });
        try {
          await pipeline(here.readStream(got.archivePath), w.sink);
          await w.commit();
        } catch (err) {
          await w.abort();
          throw new EtcdadmError(`copying etcd v${spec.version} into the cache of ${t.name} (${dst}) failed: ${describe(err)}`, { hint: 'check free space there, then run the same apply again', cause: err });
        }
      }
      if (sums !== undefined) await t.host.write(dstSums, sums, { mode: 0o644 });
      copied.push(t.name);
      log.withPhase('release').info(`${t.name}: etcd v${spec.version} copied into its cache from this machine's (${(size / 1048576).toFixed(1)} MiB)`);
      await after?.(t);
    }),
  );
  return copied;
}
