/**
 * The operator's own inputs: files named on the command line — a --config document, a certificate bundle, an S3
 * credentials file, a snapshot to verify or restore from — are read on the machine etcdadm runs on, and only through
 * here. Today that machine is the managed host itself (LocalHost); with `apply` it is the operator's workstation
 * while the managed hosts are reached through their own Hosts.
 */
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from './host.js';
import { LocalHost } from './local.js';

let machine: Host | undefined;

/** The machine the operator runs etcdadm on. */
export function operatorHost(): Host {
  return (machine ??= new LocalHost());
}

/** The text of an operator's file; a missing or unreadable one is one line naming `what` (exit code 2). */
export async function readOperatorFile(path: string, what: string, hint?: string): Promise<string> {
  let text: string | undefined;
  try {
    text = await operatorHost().read(path);
  } catch (err) {
    throw new EtcdadmError(`cannot read the ${what} ${path}: ${describe(err)}`, { exitCode: 2, ...(hint ? { hint } : {}) });
  }
  if (text === undefined) throw new EtcdadmError(`there is no ${what} ${path}`, { exitCode: 2, ...(hint ? { hint } : {}) });
  return text;
}
