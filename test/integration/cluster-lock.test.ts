/**
 * The cluster-wide lock (src/cluster/lock.ts) on a real etcd, 3.5 and 3.4: the Txn that creates the key only while it
 * is absent lets exactly one of two clients take it, the other reads who holds it; the lease is renewed through
 * LeaseKeepAlive (one request per stream) to its full TTL; a revoked lease takes the key with it, and a holder whose
 * lease is gone is told so at its next check.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFRAG_LOCK, acquireLock, selfHolder } from '../../src/cluster/lock.js';
import { EtcdClient } from '../../src/etcd/client.js';
import { Logger } from '../../src/log/logger.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';

const T = { timeout: 30_000 };
const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });

for (const version of ['3.5.30', '3.4.23']) {
  describe(`the cluster lock on etcd ${version}`, () => {
    let server: EtcdServer;
    let a: EtcdClient;
    let b: EtcdClient;

    before(async () => {
      server = await startEtcd({ version, tls: true });
      const f = server.tls!;
      const tls = { ca: f.ca, cert: f.cert, key: f.key, caFile: f.caFile, certFile: f.clientCertFile };
      a = await EtcdClient.connect({ endpoints: [server.clientURL], tls });
      b = await EtcdClient.connect({ endpoints: [server.clientURL], tls });
    });
    after(async () => {
      a?.close();
      b?.close();
      await server?.stop();
    });

    test('two at once: one holds it, the other is told who; renewed to its TTL; released with its lease', T, async () => {
      const [x, y] = await Promise.all([
        acquireLock(a, DEFRAG_LOCK, selfHolder('host-a', 'etcd-a', 'defrag --all'), quiet),
        acquireLock(b, DEFRAG_LOCK, selfHolder('host-b', 'etcd-b', 'defrag --all'), quiet),
      ]);
      assert.deepEqual([x.kind, y.kind].sort(), ['busy', 'held']);
      const held = x.kind === 'held' ? x : y.kind === 'held' ? y : undefined;
      const busy = x.kind === 'busy' ? x : y.kind === 'busy' ? y : undefined;
      assert.ok(held && busy);
      assert.equal(busy.holder.host, held === x ? 'host-a' : 'host-b');
      assert.equal(JSON.parse((await a.get(DEFRAG_LOCK))!).host, busy.holder.host);
      const left = await held.lock.renew();
      assert.ok(left >= 55 && left <= 60, `renewed: ${left} s left`);
      await held.lock.check();
      await held.lock.release();
      assert.equal(await a.get(DEFRAG_LOCK), undefined, 'the key went with its lease');
      assert.equal(await a.leaseKeepAliveOnce(held.lock.lease), 0, 'a revoked lease renews to 0');
    });

    test('a holder whose lease was revoked behind its back stops at its next check', T, async () => {
      const r = await acquireLock(a, DEFRAG_LOCK, selfHolder('host-a', 'etcd-a', 'defrag'), quiet);
      assert.equal(r.kind, 'held');
      if (r.kind !== 'held') return;
      await b.leaseRevoke(r.lock.lease);
      await assert.rejects(r.lock.check(), /lost the cluster lock \/etcdadm\/locks\/defrag: its lease [0-9a-f]+ expired or was revoked/);
      await r.lock.release();
      const again = await acquireLock(b, DEFRAG_LOCK, selfHolder('host-b', 'etcd-b', 'defrag'), quiet);
      assert.equal(again.kind, 'held', 'free again');
      if (again.kind === 'held') await again.lock.release();
    });
  });
}
