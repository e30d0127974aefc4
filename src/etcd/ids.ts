/**
 * etcd member and cluster IDs: uint64 on the wire, bigint here, and printed the way etcdctl prints them
 * (`fmt.Sprintf("%x", id)`: lowercase hex, no padding, no 0x).
 */
import { EtcdadmError } from '../errors.js';

const MAX_U64 = (1n << 64n) - 1n;

/** `10276657743932975437n` → `"8e9e05c52164694d"`. */
export function idToHex(id: bigint): string {
  if (id < 0n || id > MAX_U64) throw new RangeError(`not a uint64: ${id}`);
  return id.toString(16);
}

/**
 * Parses a member ID as an operator types it: etcdctl's hex (`8e9e05c52164694d`, optionally with `0x`), case
 * insensitive. Throws EtcdadmError for anything else.
 */
export function parseId(text: string): bigint {
  const s = text.trim().replace(/^0x/i, '');
  if (!/^[0-9a-f]{1,16}$/i.test(s)) {
    throw new EtcdadmError(`invalid etcd member ID "${text}"`, {
      hint: 'member IDs are hexadecimal, as printed by `etcdctl member list` (e.g. 8e9e05c52164694d)',
    });
  }
  return BigInt(`0x${s}`);
}
