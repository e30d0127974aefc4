/**
 * The directories etcdadm gives to etcd — data dir, WAL dir, certs dir — must be dedicated to it. The rules, pure:
 * never a system directory (or a parent of one), never one inside another, and at init never one that holds anything
 * but etcd's or etcdadm's own files. And the acts that follow them: a data dir is moved aside, never deleted, unless
 * it is proven unused; a directory etcdadm did not create is never removed or renamed itself — only what etcd and
 * etcdadm put into it.
 */
import { join, posix } from 'node:path';
import { DEFAULTS, PATHS } from '../config/defaults.js';
import { LEAF_NAMES } from '../pki/files.js';
import type { Host } from './host.js';

/** Directories of the operating system and of etcdadm's own layout: never a data, WAL or certs dir. */
export const SYSTEM_DIRS: readonly string[] = [
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/lost+found', '/media', '/mnt',
  '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/include', '/usr/lib',
  '/usr/libexec', '/usr/local', '/usr/local/bin', '/usr/local/lib', '/usr/local/sbin', '/usr/sbin', '/usr/share',
  '/usr/src', '/var', '/var/backups', '/var/cache', '/var/lib', '/var/local', '/var/lock', '/var/log', '/var/mail',
  '/var/opt', '/var/run', '/var/spool', '/var/tmp', '/etc/kubernetes', '/etc/systemd',
  // etcdadm's own layout
  PATHS.configDir, PATHS.unitDir, DEFAULTS.installDir,
];

export type DirRole = 'data dir' | 'WAL dir' | 'certs dir';

/** "/var/lib/etcd" for "/var/lib//etcd/". */
export function normalizeDir(path: string): string {
  const p = posix.normalize(path);
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** Why `path` cannot be a dedicated etcd directory: a system directory (or a parent of one). */
export function systemDirProblem(path: string): string | undefined {
  const p = normalizeDir(path);
  if (SYSTEM_DIRS.includes(p)) return `${p} is a system directory`;
  if (SYSTEM_DIRS.some((s) => s !== '/' && s.startsWith(`${p}/`))) return `${p} holds system directories`;
  return undefined;
}

const inside = (a: string, b: string) => a === b || a.startsWith(b === '/' ? '/' : `${b}/`);

/** Why these directories cannot be used together: one of them is inside another, or one is the install dir. */
export function overlapProblem(dirs: readonly { role: DirRole | 'install dir'; path: string }[]): string | undefined {
  for (const a of dirs)
    for (const b of dirs) {
      if (a === b) continue;
      const x = normalizeDir(a.path);
      const y = normalizeDir(b.path);
      if (x === y) return `the ${a.role} and the ${b.role} are the same directory ${x}`;
      if (inside(x, y)) return `the ${a.role} ${x} is inside the ${b.role} ${y}`;
    }
  return undefined;
}

const PKI_NAMES = new Set(['ca', ...LEAF_NAMES].flatMap((n) => [`${n}.crt`, `${n}.key`]));
/** Leftovers of an interrupted atomic write (files.ts): `.<name>.<random>.tmp`. */
const ATOMIC_TEMP = /^\.[^/]+\.[0-9a-f]{12}\.tmp$/;

/** Whether `name` in a directory of `role` is something etcd or etcdadm made there. */
export function ownEntry(role: DirRole, name: string): boolean {
  if (name === 'lost+found') return true; // a fresh filesystem's
  if (role === 'data dir') return name === 'member' || /^member\.bak-/.test(name);
  if (role === 'WAL dir') return /\.(wal|tmp)$/.test(name) || /^wal\.bak-/.test(name);
  return PKI_NAMES.has(name) || ATOMIC_TEMP.test(name);
}

/** Entries of a directory that neither etcd nor etcdadm made (at init such a directory is refused). */
export function foreignEntries(role: DirRole, names: readonly string[]): string[] {
  return names.filter((n) => !ownEntry(role, n));
}

/** A path next to `path` that does not exist yet: `<path>.bak-<UTC timestamp>`. */
export function backupPathFor(path: string, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${path}.bak-${ts}`;
}

async function freePath(host: Host, base: string): Promise<string> {
  let target = base;
  for (let i = 1; await host.exists(target); i++) target = `${base}-${i}`;
  return target;
}

/**
 * Move etcd's data out of the way, never deleting it: a directory etcdadm created is renamed to
 * `<dir>.bak-<timestamp>`; in one it did not create (the operator's, perhaps a mount point) only etcd's own content
 * moves, into `<dir>/member.bak-<timestamp>` (WAL files into `<dir>/wal.bak-<timestamp>`). Returns where it went.
 */
export async function moveAside(host: Host, role: 'data dir' | 'WAL dir', dir: string, createdByEtcdadm: boolean): Promise<string | undefined> {
  if (!(await host.exists(dir))) return undefined;
  if (createdByEtcdadm) {
    const target = await freePath(host, backupPathFor(dir));
    await host.rename(dir, target);
    return target;
  }
  const names = (await host.list(dir)) ?? [];
  if (role === 'data dir') {
    if (!names.includes('member')) return undefined;
    const target = await freePath(host, backupPathFor(join(dir, 'member')));
    await host.rename(join(dir, 'member'), target);
    return target;
  }
  const wal = names.filter((n) => /\.(wal|tmp)$/.test(n));
  if (wal.length === 0) return undefined;
  const target = await freePath(host, backupPathFor(join(dir, 'wal')));
  await host.mkdir(target, 0o700);
  for (const n of wal) await host.rename(join(dir, n), join(target, n));
  return target;
}

/** The log line after moveAside. */
export function movedAside(role: string, dir: string, to: string, why?: string): string {
  return `Moved the existing ${role} ${dir} aside to ${to}${why ? ` (${why})` : ''}; remove it yourself once you are sure it is not needed.`;
}

/**
 * Delete etcd's data once it is proven unused: the whole directory when etcdadm created it ('dir'), else only what
 * etcd made in it, member/ or the WAL files ('content'); undefined when there was nothing.
 */
export async function removeEtcdData(host: Host, role: 'data dir' | 'WAL dir', dir: string, createdByEtcdadm: boolean): Promise<'dir' | 'content' | undefined> {
  if (!(await host.exists(dir))) return undefined;
  if (createdByEtcdadm) {
    await host.removeTree(dir);
    return 'dir';
  }
  const names = (await host.list(dir)) ?? [];
  const own = names.filter((n) => (role === 'data dir' ? n === 'member' : /\.(wal|tmp)$/.test(n)));
  for (const n of own) await host.removeTree(join(dir, n));
  return own.length > 0 ? 'content' : undefined;
}
