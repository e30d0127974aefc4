/**
 * The optional non-root service user etcd runs as: looked up in the user database, created if missing (a system
 * user with its own group, no login shell). What it is given is decided by the phases (phases/shared.ts).
 */
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ROOT, type Account, type ExecOptions, type ExecResult } from './host.js';

type Exec = (cmd: string, args: string[], opts?: ExecOptions) => Promise<ExecResult>;

/** The account's IDs from the user database, or undefined when it does not exist. */
export async function lookupAccount(exec: Exec, name: string): Promise<Account | undefined> {
  if (name === 'root') return ROOT;
  const r = await exec('getent', ['passwd', name], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { name, uid: Number(f[2]), gid: Number(f[3]) };
}

export async function ensureServiceAccount(exec: Exec, name: string, home: string, log: Logger): Promise<Account> {
  const have = await lookupAccount(exec, name);
  if (have) return have;
  const r = await exec('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', '--comment', 'etcd (etcdadm)', name], { timeoutMs: 30_000 });
  if (r.code !== 0)
    throw new EtcdadmError(`cannot create the service user ${name}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`, {
      hint: `create it yourself (useradd --system ${name}) or set service.user to root`,
    });
  log.info(`Created the system user ${name}`);
  const made = await lookupAccount(exec, name);
  if (!made) throw new EtcdadmError(`the service user ${name} was created but cannot be looked up`, { hint: 'check /etc/passwd and NSS' });
  return made;
}
