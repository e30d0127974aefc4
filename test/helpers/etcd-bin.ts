/**
 * Real etcd binaries for integration tests, taken from the local release mirror that lab/release-mirror.sh builds
 * (upstream layout, built from Debian's packages). Extracted once per version into a shared temp dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const MIRROR_DIR = process.env.ETCDADM_MIRROR_DIR ?? '/var/cache/etcdadm-lab/mirror';
export const VERSIONS = ['3.4.23', '3.5.16', '3.5.30'] as const;

export function mirrorTarball(version: string): string {
  return join(MIRROR_DIR, `v${version}`, `etcd-v${version}-linux-amd64.tar.gz`);
}

/** Directory holding etcd, etcdctl (and etcdutl for 3.5) of `version`. */
export function etcdBinDir(version = '3.5.30'): string {
  const dir = join('/tmp/etcdadm-test-bin', `v${version}`);
  if (existsSync(join(dir, 'etcd'))) return dir;
  const tarball = mirrorTarball(version);
  if (!existsSync(tarball)) throw new Error(`no ${tarball}: run lab/release-mirror.sh first`);
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', tmp, '--strip-components=1']);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another test process won the race
  }
  return dir;
}
