/** Where the PKI lives on disk (etcdadm's file names, defined here only) and how its files are read. No writes. */
import { join } from 'node:path';
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';

export type LeafName = 'server' | 'peer' | 'etcdctl-etcd-client' | 'apiserver-etcd-client';
export const LEAF_NAMES: readonly LeafName[] = ['server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client'];

export interface PairPaths {
  certPath: string;
  keyPath: string;
}

/** `<certsDir>/<base>.crt` and `<certsDir>/<base>.key`; base is "ca" or a LeafName. */
export function pairPaths(certsDir: string, base: 'ca' | LeafName): PairPaths {
  return { certPath: join(certsDir, `${base}.crt`), keyPath: join(certsDir, `${base}.key`) };
}

export type PkiFiles = Readonly<Record<'ca' | LeafName, PairPaths>>;

/** Every file of the PKI (etcdadm's file names, defined here only), for callers that list, remove or copy them. */
export function pkiFiles(certsDir: string): PkiFiles {
  const out = { ca: pairPaths(certsDir, 'ca') } as Record<'ca' | LeafName, PairPaths>;
  for (const n of LEAF_NAMES) out[n] = pairPaths(certsDir, n);
  return out;
}

export async function readPem(host: Host, path: string): Promise<string | undefined> {
  try {
    return await host.read(path);
  } catch (err) {
    throw new EtcdadmError(`cannot read ${path}: ${describe(err)}`, {
      cause: err,
      hint: 'Run etcdadm as root (the PKI directory is readable by root only)',
    });
  }
}
