import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EtcdadmError } from '../../src/errors.js';
import { idToHex, parseId } from '../../src/etcd/ids.js';

describe('etcd member IDs', () => {
  test('format as etcdctl prints them: lowercase hex, no padding, no 0x', () => {
    assert.equal(idToHex(10276657743932975437n), '8e9e05c52164694d');
    assert.equal(idToHex(0x0badcafen), 'badcafe');
    assert.equal(idToHex(1n), '1');
    assert.equal(idToHex(0n), '0');
    assert.equal(idToHex((1n << 64n) - 1n), 'ffffffffffffffff');
  });

  test('reject values outside uint64', () => {
    assert.throws(() => idToHex(-1n), RangeError);
    assert.throws(() => idToHex(1n << 64n), RangeError);
  });

  test('parse what an operator types, round-tripping', () => {
    assert.equal(parseId('8e9e05c52164694d'), 10276657743932975437n);
    assert.equal(parseId(' 0x8E9E05C52164694D '), 10276657743932975437n);
    assert.equal(parseId('badcafe'), 0xbadcafen);
    for (const id of [1n, 0xabcn, 10276657743932975437n, (1n << 64n) - 1n]) assert.equal(parseId(idToHex(id)), id);
  });

  test('refuse malformed IDs with an EtcdadmError that explains the format', () => {
    for (const bad of ['', 'xyz', '12345678901234567', '-1', '0x', '8e9e05c5 2164694d']) {
      assert.throws(
        () => parseId(bad),
        (e: unknown) => e instanceof EtcdadmError && /invalid etcd member ID/.test(e.message) && /hexadecimal/.test(e.hint ?? ''),
        bad,
      );
    }
  });
});
