/**
 * Remove what installRelease put into an install dir: the stable names etcd/etcdctl/etcdutl when they are symlinks
 * into an etcd-v* version dir, and those version dirs. Anything else in the dir (other programs, a user's own etcd
 * binary that is not a symlink of ours) is left alone — except, with `copies`, plain etcd and etcdctl files: what
 * etcdadm v0.1.x installs (it copies the binaries), removed on a host taken over from it as its own reset would.
 */
import { join } from 'node:path';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';

const VERSION_DIR = /^etcd-v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export async function uninstallRelease(host: Host, installDir: string, log: Logger, opts: { copies?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const name of ['etcd', 'etcdctl', 'etcdutl']) {
    const p = join(installDir, name);
    const st = await host.stat(p);
    if (!st) continue;
    const copied = opts.copies === true && st.kind === 'file' && name !== 'etcdutl';
    if (!copied && (st.kind !== 'symlink' || !VERSION_DIR.test(((await host.readlink(p)) ?? '').split('/')[0] ?? ''))) {
      log.warn(`Leaving ${p} in place: it is not a link etcdadm made`);
      continue;
    }
    await host.remove(p);
    removed.push(p);
  }
  for (const entry of (await host.list(installDir)) ?? []) {
    if (!VERSION_DIR.test(entry)) continue;
    const p = join(installDir, entry);
    await host.removeTree(p);
    removed.push(p);
  }
  return removed;
}
