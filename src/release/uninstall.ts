/**
 * Remove what installRelease put into an install dir: the stable names etcd/etcdctl/etcdutl when they are symlinks
 * into an etcd-v* version dir, and those version dirs. Anything else in the dir (other programs, a user's own etcd
 * binary that is not a symlink of ours) is left alone.
 */
import { lstat, readdir, readlink, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';

const VERSION_DIR = /^etcd-v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export async function uninstallRelease(installDir: string, log: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const name of ['etcd', 'etcdctl', 'etcdutl']) {
    const p = join(installDir, name);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (!st.isSymbolicLink() || !VERSION_DIR.test((await readlink(p)).split('/')[0] ?? '')) {
      log.warn(`Leaving ${p} in place: it is not a link etcdadm made`);
      continue;
    }
    await unlink(p);
    removed.push(p);
  }
  for (const entry of await readdir(installDir).catch(() => [] as string[])) {
    if (!VERSION_DIR.test(entry)) continue;
    const p = join(installDir, entry);
    await rm(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/** The stable names' link targets and the version dirs of an install dir: what `restoreInstall` puts back. */
export interface InstallState {
  links: Record<string, string | undefined>;
  versionDirs: string[];
}

export async function installState(installDir: string): Promise<InstallState> {
  const links: Record<string, string | undefined> = {};
  for (const name of ['etcd', 'etcdctl', 'etcdutl']) {
    const p = join(installDir, name);
    const st = await lstat(p).catch(() => undefined);
    links[name] = st?.isSymbolicLink() ? await readlink(p) : undefined;
  }
  const versionDirs = (await readdir(installDir).catch(() => [] as string[])).filter((e) => VERSION_DIR.test(e));
  return { links, versionDirs };
}

/** Put an install dir back as `before` was: links pointed where they pointed (or removed), new version dirs removed. */
export async function restoreInstall(installDir: string, before: InstallState): Promise<void> {
  for (const [name, target] of Object.entries(before.links)) {
    const p = join(installDir, name);
    const st = await lstat(p).catch(() => undefined);
    if (st && !st.isSymbolicLink()) continue; // not ours
    if (st) await unlink(p);
    if (target) await symlink(target, p);
  }
  for (const entry of await readdir(installDir).catch(() => [] as string[]))
    if (VERSION_DIR.test(entry) && !before.versionDirs.includes(entry)) await rm(join(installDir, entry), { recursive: true, force: true });
}
