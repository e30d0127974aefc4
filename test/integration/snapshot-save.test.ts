/**
 * saveSnapshot against a real etcd (127.0.0.1): a whole snapshot is renamed into place with etcd's hash checked;
 * a member that dies mid-stream (SIGKILLed once the first bytes arrived) fails the save with one error, leaves no
 * temp file, and every older snapshot in the directory stays byte for byte as it was.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EtcdClient } from '../../src/etcd/client.js';
import { EtcdadmError } from '../../src/errors.js';
import { saveSnapshot } from '../../src/snapshot/save.js';
import { verifySnapshotFile } from '../../src/snapshot/verify.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();

let etcd: EtcdServer;
let client: EtcdClient;
const dir = mkdtempSync(join(tmpdir(), 'etcdadm-snap-'));
let stalled: EtcdServer | undefined;

before(async () => {
  etcd = await startEtcd();
  client = EtcdClient.create({ endpoints: [etcd.clientURL], requestTimeoutMs: 20_000 });
  // about 40 MiB: a stream that takes longer than a kill
  const big = Buffer.alloc(512 * 1024, 'x');
  for (let i = 0; i < 80; i++) await client.put(`/big/${i}`, big);
});
after(async () => {
  client?.close();
  if (stalled?.pid) process.kill(stalled.pid, 'SIGCONT');
  await stalled?.stop();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('saveSnapshot', () => {
  test('a whole snapshot, then a member killed mid-stream: one error, no temp file, the older snapshot intact', { timeout: 120_000 }, async () => {
    const older = join(dir, 'older.db');
    const saved = await saveSnapshot(HOST, client, etcd.clientURL, older);
    assert.equal((await verifySnapshotFile(HOST, older)).sha256.length, 64);
    assert.ok(saved.bytes > 40 * 1024 * 1024, `${saved.bytes} bytes`);
    const before = readFileSync(older);

    let killedAt = 0;
    const err = await saveSnapshot(HOST, client, etcd.clientURL, join(dir, 'newer.db'), (bytes) => {
      if (!killedAt && bytes > 0) {
        killedAt = bytes;
        process.kill(etcd.pid!, 'SIGKILL');
      }
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(killedAt > 0, 'the member was killed after the first bytes');
    assert.ok(err instanceof EtcdadmError, `an EtcdadmError, got ${String(err)}`);
    assert.match(err.message, new RegExp(`^the snapshot from ${etcd.clientURL} failed: `));
    assert.doesNotMatch(err.message, /\n/, 'one line');
    assert.deepEqual(readdirSync(dir), ['older.db'], 'no temp file, no newer file');
    assert.ok(readFileSync(older).equals(before), 'the older snapshot is byte for byte as it was');
  });

  test('a member that stops sending mid-stream (SIGSTOP: the connection stays open) is given up after the stall deadline: one error, no temp file', { timeout: 120_000 }, async () => {
    stalled = await startEtcd();
    const c = EtcdClient.create({ endpoints: [stalled.clientURL], requestTimeoutMs: 20_000 });
    try {
      const big = Buffer.alloc(512 * 1024, 'y');
      for (let i = 0; i < 80; i++) await c.put(`/big/${i}`, big);
      const sub = mkdtempSync(join(tmpdir(), 'etcdadm-snap-stall-'));
      let stoppedAt = 0;
      const t0 = Date.now();
      const err = await saveSnapshot(HOST, c, stalled.clientURL, join(sub, 'stalled.db'), (bytes) => {
        if (!stoppedAt && bytes > 0) {
          stoppedAt = Date.now();
          process.kill(stalled!.pid!, 'SIGSTOP');
        }
      }, { stallMs: 2000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      process.kill(stalled.pid!, 'SIGCONT');
      assert.ok(stoppedAt > 0, 'the member was stopped after the first bytes');
      assert.ok(err instanceof EtcdadmError, `an EtcdadmError, got ${String(err)}`);
      assert.match(err.message, /sent no data for 2 s/);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      const waited = Date.now() - stoppedAt;
      assert.ok(waited >= 1900 && waited < 15_000, `given up ${waited} ms after the stream stalled (total ${Date.now() - t0} ms)`);
      assert.deepEqual(readdirSync(sub), [], 'no temp file');
      rmSync(sub, { recursive: true, force: true });
    } finally {
      c.close();
    }
  });
});
