/**
 * Checking that a file is an etcd v3 snapshot before anything is installed: what `etcdctl snapshot save` (and the
 * Maintenance.Snapshot stream) writes is etcd's bbolt database followed by the SHA-256 of it (32 bytes). A database
 * is a whole number of 512-byte-aligned pages whose first meta page carries bbolt's magic number.
 */
import { createHash } from 'node:crypto';
import { EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import { readSidecar, type SnapshotSidecar } from './catalog.js';

const BOLT_MAGIC = 0xed0cdaed;
const HASH_BYTES = 32;

export interface SnapshotFacts {
  path: string;
  /** Bytes of the file, hash included. */
  size: number;
  pageSize: number;
  /** SHA-256 of the database (hex), which the file's last 32 bytes repeat. */
  sha256: string;
  /** SHA-256 of the whole file (hex), as a sidecar records it. */
  fileSha256: string;
}

function bad(path: string, why: string): EtcdadmError {
  return new EtcdadmError(`${path} is not a usable etcd snapshot: ${why}`, {
    hint: "pass a snapshot taken with 'etcdctl snapshot save', copied whole",
    exitCode: 2,
  });
}

/** The facts of a valid snapshot file; an EtcdadmError (exit code 2) naming what is wrong otherwise. */
export async function verifySnapshotFile(host: Host, path: string): Promise<SnapshotFacts> {
  let real: string | undefined;
  try {
    real = await host.realpath(path);
  } catch (err) {
    throw bad(path, (err as Error).message);
  }
  const st = real ? await host.stat(real) : undefined;
  if (!st) throw bad(path, 'it does not exist');
  if (st.kind === 'dir') throw bad(path, 'it is a directory');
  if (st.kind !== 'file') throw bad(path, 'it is not a regular file');
  const size = st.size;
  if (size === 0) throw bad(path, 'it is empty');
  if (size % 512 !== HASH_BYTES) throw bad(path, `its size (${size} bytes) is not a database plus its 32-byte SHA-256: truncated, or not a snapshot`);
  const head = Buffer.from(await host.readRange(path, 0, 32));
  if (head.length < 32 || head.readUInt32LE(16) !== BOLT_MAGIC) throw bad(path, 'it does not start with an etcd (bbolt) database');
  const pageSize = head.readUInt32LE(24);
  const tail = Buffer.from(await host.readRange(path, size - HASH_BYTES, HASH_BYTES));
  const hash = createHash('sha256');
  if (size > HASH_BYTES) for await (const chunk of host.readStream(path, { start: 0, end: size - HASH_BYTES - 1 })) hash.update(chunk);
  const whole = hash.copy().update(tail).digest('hex'); // the same pass gives the file's own hash
  const digest = hash.digest();
  if (!digest.equals(tail)) throw bad(path, 'its SHA-256 does not match the one stored in it: the file is corrupt');
  return { path, size, pageSize, sha256: digest.toString('hex'), fileSha256: whole };
}

/** SHA-256 (hex) of a whole file. */
export async function fileSha256(host: Host, path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of host.readStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * verifySnapshotFile, then the JSON sidecar when the snapshot has one: its size and SHA-256 must be the file's (a
 * snapshot replaced or cut short after it was saved still carries a valid hash of its own).
 */
export async function verifySnapshotWithSidecar(host: Host, path: string): Promise<SnapshotFacts & { sidecar: SnapshotSidecar | null }> {
  const facts = await verifySnapshotFile(host, path);
  const sidecar = await readSidecar(host, path);
  if (sidecar) {
    if (sidecar.size !== facts.size) throw new EtcdadmError(`${path} is not a usable etcd snapshot: ${facts.size} bytes, its sidecar says ${sidecar.size}`, { hint: 'the file was cut short or replaced; use another snapshot', exitCode: 2 });
    if (facts.fileSha256 !== sidecar.sha256) throw new EtcdadmError(`${path} is not a usable etcd snapshot: its SHA-256 differs from its sidecar's`, { hint: 'the file was changed after it was saved; use another snapshot', exitCode: 2 });
  }
  return { ...facts, sidecar };
}
