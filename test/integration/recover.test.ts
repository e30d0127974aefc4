/**
 * What `etcdadm recover` relies on, against REAL 3-member clusters with TLS on 127.0.0.1, on every supported etcd
 * minor (3.4, 3.5, 3.6, 3.7): the observation and decision of src/cluster/recover.ts (refused while the cluster is
 * whole, proceed once 2 of 3 are gone), and etcd's --force-new-cluster as etcdadm uses it — set through
 * ETCD_FORCE_NEW_CLUSTER=true for one start: this member alone, leading, the same cluster ID, every key kept, no
 * member left to remove; and a start without the variable keeps it so.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ClusterHandle } from '../../src/cluster/handle.js';
import { decideRecover, dropLeftovers, observeRecovery, waitForcedAlone } from '../../src/cluster/recover.js';
import { EtcdClient, type EtcdTls } from '../../src/etcd/client.js';
import { Logger, type LogSink } from '../../src/log/logger.js';
import { FORCE_NEW_CLUSTER_ENV } from '../../src/phases/recover.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-server.js';
import { waitFor } from '../helpers/wait.js';

const VERSIONS = ['3.4.23', '3.5.30', '3.6.16', '3.7.3'];
const T = { timeout: 120_000 };

function quietLog(): Logger {
  const sink: LogSink = { write: () => undefined, isTTY: false };
  return new Logger('error', 'text', sink);
}

for (const version of VERSIONS) {
  describe(`--force-new-cluster on etcd ${version}`, () => {
    let cluster: EtcdCluster | undefined;
    const clients: EtcdClient[] = [];
    after(async () => {
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    test('refused while whole; 2 of 3 lost: proceed; the forced start keeps the cluster ID and every key; a normal restart keeps one member', T, async () => {
      assert.equal(FORCE_NEW_CLUSTER_ENV, 'ETCD_FORCE_NEW_CLUSTER');
      cluster = await startEtcdCluster({ size: 3, tls: true, version });
      const f = cluster.tls!;
      const tls: EtcdTls = { ca: f.ca, cert: f.cert, key: f.key, caFile: f.caFile, certFile: f.clientCertFile };
      const all = EtcdClient.create({ endpoints: cluster.endpoints, tls, dialTimeoutMs: 1000, requestTimeoutMs: 3000 });
      const survivor = cluster.members[2]!;
      const local = EtcdClient.create({ endpoints: [survivor.clientURL], tls, dialTimeoutMs: 1000, requestTimeoutMs: 3000 });
      clients.push(all, local);

      const keys: string[] = [];
      for (let i = 0; i < 50; i++) {
        keys.push(`k/${i}`);
        await all.put(`k/${i}`, String(i));
      }
      const before = await local.status(survivor.clientURL);
      const selfId = before.memberIdHex;
      const clusterId = before.clusterId;
      await waitFor(async () => (await local.get('k/49', { serializable: true })) === '49', { timeoutMs: 10_000, intervalMs: 20, what: 'the survivor has every key' });
      const recorded = { memberName: survivor.name, memberId: selfId, complete: true };
      const world = async () => ({ ...(await observeRecovery(local, survivor.clientURL, { timeoutMs: 1500 })), recorded, localURL: survivor.clientURL, unitName: 'etcd.service' });

      const whole = decideRecover(await world());
      assert.equal(whole.kind, 'refuse');
      assert.match(whole.kind === 'refuse' ? whole.message : '', /3 of 3 voting members answer; quorum is 2: the cluster is not lost/);

      await Promise.all([cluster.members[0]!.halt(), cluster.members[1]!.halt()]);
      const lost = await waitFor(
        async () => {
          const d = decideRecover(await world());
          return d.kind === 'proceed' ? d : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200, what: 'recover to proceed once 2 of 3 are gone' },
      );
      assert.deepEqual(lost.dead.map((m) => m.name), ['etcd-0', 'etcd-1']);

      await survivor.restart({ [FORCE_NEW_CLUSTER_ENV]: 'true' });
      const h = new ClusterHandle(local, { tls, log: quietLog() });
      const listed = await waitForcedAlone(h, survivor.clientURL, selfId, { timeoutMs: 30_000, logHint: survivor.log().slice(-2000) });
      assert.deepEqual(listed.map((m) => m.name), [survivor.name], 'force-new-cluster rewrote the membership to this member alone');
      assert.deepEqual(await dropLeftovers(h, selfId, quietLog()), [], 'no member left to remove');
      const after1 = await local.status(survivor.clientURL);
      assert.equal(after1.clusterId, clusterId, 'the same cluster ID');
      assert.equal(after1.leader, after1.memberId);
      for (const k of keys) assert.equal(await local.get(k), k.slice(2), `${k} kept`);

      await survivor.restart();
      await waitFor(async () => (await local.healthCheck(survivor.clientURL)).healthy, { timeoutMs: 20_000, intervalMs: 100, what: 'healthy after a normal restart' });
      const list = await local.memberList(true);
      assert.deepEqual(list.members.map((m) => m.name), [survivor.name], 'a start without the flag keeps one member');
      assert.doesNotMatch(survivor.log(), /unrecognized environment variable/i);
    });
  });
}
