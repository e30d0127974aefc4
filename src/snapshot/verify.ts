/**
 * Checking that a file is an etcd v3 snapshot before anything is installed: what `etcdctl snapshot save` (and the
 * Maintenance.Snapshot stream) writes is etcd's bbolt database followed by the SHA-256 of it (32 bytes). A database
 * is a whole number of 512-byte-aligned pages whose first meta page carries bbolt's magic number.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { EtcdadmError } from '../errors.js';
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
export async function verifySnapshotFile(path: string): Promise<SnapshotFacts> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(path, code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message);
  }
  let size: number;
  let pageSize: number;
  let tail: Buffer;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw bad(path, 'it is not a regular file');
    size = st.size;
    if (size === 0) throw bad(path, 'it is empty');
    if (size % 512 !== HASH_BYTES) throw bad(path, `its size (${size} bytes) is not a database plus its 32-byte SHA-256: truncated, or not a snapshot`);
    const head = Buffer.alloc(32);
    await fh.read(head, 0, 32, 0);
    if (head.readUInt32LE(16) !== BOLT_MAGIC) throw bad(path, 'it does not start with an etcd (bbolt) database');
    pageSize = head.readUInt32LE(24);
    tail = Buffer.alloc(HASH_BYTES);
    await fh.read(tail, 0, HASH_BYTES, size - HASH_BYTES);
  } finally {
    await fh.close();
  }
  const hash = createHash('sha256');
  if (size > HASH_BYTES) for await (const chunk of createReadStream(path, { start: 0, end: size - HASH_BYTES - 1, highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  const whole = hash.copy().update(tail).digest('hex'); // the same pass gives the file's own hash
  const digest = hash.digest();
  if (!digest.equals(tail)) throw bad(path, 'its SHA-256 does not match the one stored in it: the file is corrupt');
  return { path, size, pageSize, sha256: digest.toString('hex'), fileSha256: whole };
}

/** SHA-256 (hex) of a whole file. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * verifySnapshotFile, then the JSON sidecar when the snapshot has one: its size and SHA-256 must be the file's (a
 * snapshot replaced or cut short after it was saved still carries a valid hash of its own).
 */
export async function verifySnapshotWithSidecar(path: string): Promise<SnapshotFacts & { sidecar: SnapshotSidecar | null }> {
  const facts = await verifySnapshotFile(path);
  const sidecar = await readSidecar(path);
  if (sidecar) {
    if (sidecar.size !== facts.size) throw new EtcdadmError(`${path} is not a usable etcd snapshot: ${facts.size} bytes, its sidecar says ${sidecar.size}`, { hint: 'the file was cut short or replaced; use another snapshot', exitCode: 2 });
    if (facts.fileSha256 !== sidecar.sha256) throw new EtcdadmError(`${path} is not a usable etcd snapshot: its SHA-256 differs from its sidecar's`, { hint: 'the file was changed after it was saved; use another snapshot', exitCode: 2 });
  }
  return { ...facts, sidecar };
}
