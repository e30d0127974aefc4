/**
 * The optional non-root service user etcd runs as: created if missing (a system user with its own group, no login
 * shell), and given ownership of what etcd must read or write — the data dir and its own keys — and nothing else
 * (the CA key and the client keys stay root's).
 */
import { chown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { execFile } from './exec.js';

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

export const ROOT: Account = { name: 'root', uid: 0, gid: 0 };

/** The account's IDs from the user database, or undefined when it does not exist. */
export async function lookupAccount(name: string): Promise<Account | undefined> {
  if (name === 'root') return ROOT;
  const r = await execFile('getent', ['passwd', name]);
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { name, uid: Number(f[2]), gid: Number(f[3]) };
}

export async function ensureServiceAccount(name: string, home: string, log: Logger): Promise<Account> {
  const have = await lookupAccount(name);
  if (have) return have;
  const r = await execFile('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', '--comment', 'etcd (etcdadm)', name]);
  if (r.code !== 0)
    throw new EtcdadmError(`cannot create the service user ${name}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`, {
      hint: `create it yourself (useradd --system ${name}) or set service.user to root`,
    });
  log.info(`Created the system user ${name}`);
  const made = await lookupAccount(name);
  if (!made) throw new EtcdadmError(`the service user ${name} was created but cannot be looked up`, { hint: 'check /etc/passwd and NSS' });
  return made;
}

/** chown a tree without following symlinks. */
export async function chownTree(path: string, who: Account): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSymbolicLink()) await chown(path, who.uid, who.gid);
  if (st.isDirectory()) for (const e of await readdir(path)) await chownTree(join(path, e), who);
}
