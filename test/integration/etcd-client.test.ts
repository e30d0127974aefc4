/**
 * EtcdClient against real etcd (3.5.30 and 3.4.23) on 127.0.0.1 with TLS: cluster, KV, maintenance, learners,
 * TLS/reachability failures, endpoint failover, and leadership transfer on a 3-member cluster.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import {
  EtcdClient,
  EtcdClientError,
  httpHealth,
  isLearnerNotReady,
  isMemberNotFound,
  isNotSupportedForLearner,
  isTlsError,
  isTooManyLearners,
  isUnreachable,
  type EtcdTls,
} from '../../src/etcd/client.js';
import { EtcdadmError } from '../../src/errors.js';
import { LEARNER_NOT_READY, retryOn } from '../../src/cluster/retry-policy.js';
import { waitFor } from '../helpers/wait.js';
import {
  allocateMember,
  closedPort,
  etcdctlEnv,
  makeOtherCa,
  makeTlsFixture,
  startEtcd,
  startEtcdCluster,
  type EtcdCluster,
  type EtcdServer,
  type TlsFixture,
} from '../helpers/etcd-server.js';

const T = { timeout: 20_000 };

function tlsOf(f: TlsFixture): EtcdTls {
  return { ca: f.ca, cert: f.cert, key: f.key, caFile: f.caFile, certFile: f.clientCertFile };
}

function etcdctl(server: EtcdServer, ...args: string[]): string {
  const [bin, ...flags] = etcdctlEnv(server);
  return execFileSync(bin!, [...flags, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

for (const version of ['3.5.30', '3.4.23']) {
  describe(`EtcdClient on etcd ${version} with TLS`, () => {
    let server: EtcdServer;
    let client: EtcdClient;
    let tls: EtcdTls;

    before(async () => {
      server = await startEtcd({ version, tls: true });
      tls = tlsOf(server.tls!);
      client = await EtcdClient.connect({ endpoints: [server.clientURL], tls });
    });
    after(async () => {
      client?.close();
      await server?.stop();
    });

    test('memberList: the one member, IDs as etcdctl prints them', T, async () => {
      const list = await client.memberList();
      assert.equal(list.members.length, 1);
      const [m] = list.members;
      assert.equal(m!.name, 'etcd-0');
      assert.deepEqual(m!.clientURLs, [server.clientURL]);
      assert.deepEqual(m!.peerURLs, [server.peerURL]);
      assert.equal(m!.isLearner, false);
      assert.equal(list.memberId, m!.id);
      assert.notEqual(list.clusterId, 0n);
      // etcdctl's simple format: "<hex id>, started, <name>, <peer URLs>, <client URLs>, <is learner>"
      const line = etcdctl(server, 'member', 'list').trim();
      assert.equal(line.split(', ')[0], m!.idHex);
      assert.equal(m!.idHex, m!.id.toString(16));
      assert.equal((await client.memberList(false)).members[0]!.id, m!.id);
    });

    test('put / get / delete', T, async () => {
      const { revision } = await client.put('etcdadm/test', 'héllo');
      assert.ok(revision > 0n);
      assert.equal(await client.get('etcdadm/test'), 'héllo');
      assert.equal(await client.get('etcdadm/test', { serializable: true }), 'héllo');
      assert.equal(etcdctl(server, 'get', '--print-value-only', 'etcdadm/test').trim(), 'héllo');
      assert.equal(await client.get('etcdadm/missing'), undefined);
      assert.equal(await client.delete('etcdadm/test'), 1);
      assert.equal(await client.get('etcdadm/test'), undefined);
    });

    test('healthCheck: quorum read of "health"', T, async () => {
      const h = await client.healthCheck();
      assert.equal(h.healthy, true, h.error);
      assert.equal(h.endpoint, server.clientURL);
      assert.equal(h.error, undefined);
    });

    test('status and alarms', T, async () => {
      const s = await client.status();
      assert.equal(s.endpoint, server.clientURL);
      assert.equal(s.version, version);
      assert.equal(s.leader, s.memberId);
      assert.equal(s.leaderHex, s.memberIdHex);
      assert.equal(s.isLearner, false);
      assert.deepEqual(s.errors, []);
      assert.ok(s.dbSize > 0 && s.dbSizeInUse > 0 && s.dbSizeInUse <= s.dbSize);
      assert.ok(s.raftIndex > 0n && s.raftTerm > 0n && s.raftAppliedIndex > 0n);
      assert.deepEqual(await client.alarms(), []);
      const byUrl = await client.status(server.clientURL);
      assert.equal(byUrl.memberId, s.memberId);
    });

    test('hashKV and defragment', T, async () => {
      const h = await client.hashKV();
      assert.equal(h.endpoint, server.clientURL);
      assert.ok(h.hash > 0);
      await client.defragment(server.clientURL);
    });

    test('snapshot streams a database that etcdctl accepts', T, async () => {
      await client.put('etcdadm/snap', 'v');
      const file = join(server.dir, 'snap.db');
      const out = createWriteStream(file);
      const res = await client.snapshot(out);
      out.end();
      await finished(out);
      assert.equal(res.endpoint, server.clientURL);
      assert.ok(res.bytes > 1024);
      const st = JSON.parse(etcdctl(server, 'snapshot', 'status', file, '-w', 'json')) as { totalKey: number; revision: number };
      assert.ok(st.totalKey >= 1 && st.revision >= 1, JSON.stringify(st));
    });

    test('memberAdd as learner, then memberRemove', T, async () => {
      const { peerURL } = await allocateMember(true);
      const added = await client.memberAdd([peerURL], true);
      assert.equal(added.member.isLearner, true);
      assert.deepEqual(added.member.peerURLs, [peerURL]);
      assert.equal(added.member.name, '');
      assert.equal(added.members.length, 2);
      const listed = (await client.memberList()).members.find((m) => m.id === added.member.id);
      assert.ok(listed?.isLearner);
      assert.match(etcdctl(server, 'member', 'list'), new RegExp(`^${added.member.idHex}, unstarted, , ${peerURL}, , true$`, 'm'));
      const removed = await client.memberRemove(added.member.id);
      assert.deepEqual(removed.members.map((m) => m.name), ['etcd-0']);
      await assert.rejects(client.memberRemove(added.member.id), (e) => isMemberNotFound(e) && e instanceof EtcdadmError);
    });

    test('httpHealth on the client URL (TLS), the metrics URL, and a closed port', T, async () => {
      const a = await httpHealth(server.clientURL, tls);
      assert.equal(a.healthy, true, a.body);
      assert.equal(a.status, 200);
      assert.match(a.body, /"health":"true"/);
      const b = await httpHealth(server.metricsURL);
      assert.equal(b.healthy, true, b.body);
      const port = await closedPort();
      const c = await httpHealth(`http://127.0.0.1:${port}`);
      assert.equal(c.healthy, false);
      assert.equal(c.status, 0);
      assert.match(c.error ?? '', /cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
    });

    // Last: it leaves a 2-voter cluster whose second member is stopped.
    test('a started learner: what works on it, failover past it, promotion', T, async () => {
      const nm = await allocateMember(true);
      const added = await client.memberAdd([nm.peerURL], true);
      const initialCluster = added.members.map((m) => `${m.name || 'learner'}=${m.peerURLs[0]}`).join(',');
      const learner = await startEtcd({
        version,
        tls: server.tls,
        name: 'learner',
        ports: nm.ports,
        initialCluster,
        initialClusterState: 'existing',
      });
      const lc = client.withEndpoints([learner.clientURL]);
      const both = client.withEndpoints([learner.clientURL, server.clientURL]);
      try {
        const st = await waitFor(async () => {
          const s = await client.status(learner.clientURL);
          return s.memberId === added.member.id && s.leader !== 0n ? s : undefined;
        }, { timeoutMs: 10_000, intervalMs: 100, what: 'the learner to know its leader' });
        assert.equal(st.isLearner, true);
        assert.equal(st.leader, (await client.status()).memberId);

        // etcdctl endpoint health (quorum read) fails on a learner; GET /health does not.
        const h = await client.healthCheck(learner.clientURL);
        assert.equal(h.healthy, false);
        assert.match(h.error ?? '', /rpc not supported for learner/);
        assert.equal((await httpHealth(learner.clientURL, tls)).healthy, true);
        assert.equal((await httpHealth(learner.metricsURL)).healthy, true);

        await assert.rejects(lc.memberList(), isNotSupportedForLearner);
        await assert.rejects(lc.get('x'), isNotSupportedForLearner);
        // Serializable reads are served by the learner from its own (possibly lagging) copy.
        await waitFor(async () => (await lc.get('etcdadm/snap', { serializable: true })) === 'v', {
          timeoutMs: 5000,
          intervalMs: 50,
          what: 'the learner to serve the key',
        });

        // Reads move past a learner to the next endpoint, in order.
        const viaNext = await both.memberList();
        assert.equal(viaNext.memberId, st.leader);
        assert.equal(both.endpoint, server.clientURL);

        await assert.rejects(client.memberAdd(['https://127.0.0.1:9'], true), isTooManyLearners);

        await retryOn([LEARNER_NOT_READY], () => client.memberPromote(added.member.id), { deadlineMs: 10_000 });
        const promoted = await client.memberList();
        assert.deepEqual(promoted.members.map((m) => m.isLearner), [false, false]);
        // The promoted member itself learns it a moment later (when it applies the conf change).
        await waitFor(async () => !(await client.status(learner.clientURL)).isLearner, {
          timeoutMs: 5000,
          intervalMs: 50,
          what: 'the promoted member to report itself as a voter',
        });
      } finally {
        lc.close();
        both.close();
        await learner.stop();
      }
    });
  });
}

describe('EtcdClient failures and endpoint selection (etcd 3.5.30, TLS)', () => {
  let server: EtcdServer;
  let tls: EtcdTls;
  let scratch: string;

  before(async () => {
    server = await startEtcd({ tls: true });
    tls = tlsOf(server.tls!);
    scratch = mkdtempSync(join(tmpdir(), 'etcdadm-client-test-'));
  });
  after(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('a CA that did not sign the server certificate: TLS error naming the CA file', T, async () => {
    const otherCaFile = makeOtherCa(scratch);
    const bad = { ...tls, ca: readFileSync(otherCaFile, 'utf8'), caFile: otherCaFile };
    await assert.rejects(EtcdClient.connect({ endpoints: [server.clientURL], tls: bad }), (e: unknown) => {
      assert.ok(e instanceof EtcdClientError, String(e));
      assert.equal(e.kind, 'tls');
      assert.ok(isTlsError(e));
      const line = e.oneLine();
      assert.match(line, new RegExp(`^cannot reach etcd at ${server.clientURL}: TLS: certificate signed by unknown authority`));
      assert.ok(line.includes(otherCaFile), line);
      assert.match(line, /the cluster's CA must be the one at /i);
      assert.ok(e.cause !== undefined);
      return true;
    });
  });

  test('a client certificate from another CA: etcd rejects it', T, async () => {
    const other = makeTlsFixture(join(scratch, 'other'));
    const bad = { ...tls, cert: other.cert, key: other.key, certFile: other.clientCertFile };
    const c = await EtcdClient.connect({ endpoints: [server.clientURL], tls: bad }); // TLS 1.3: the rejection comes after the handshake
    try {
      await assert.rejects(c.memberList(), (e: unknown) => {
        assert.ok(e instanceof EtcdClientError);
        assert.equal(e.kind, 'tls');
        assert.match(e.oneLine(), /TLS: etcd rejected the client certificate \(tlsv1 alert unknown ca\)/);
        assert.ok(e.oneLine().includes(other.clientCertFile));
        return true;
      });
    } finally {
      c.close();
    }
  });

  test('an unreachable endpoint (closed port) fails fast with "cannot reach"', T, async () => {
    const ep = `https://127.0.0.1:${await closedPort()}`;
    await assert.rejects(EtcdClient.connect({ endpoints: [ep], tls }), (e: unknown) => {
      assert.ok(e instanceof EtcdClientError);
      assert.equal(e.message, `cannot reach etcd at ${ep}: connection refused`);
      assert.ok(isUnreachable(e));
      assert.match(e.hint ?? '', /running/);
      return true;
    });
  });

  test('an endpoint that accepts but never answers: dial timeout', T, async () => {
    const sockets: Socket[] = [];
    const hang: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const addr = hang.address();
    const ep = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    try {
      await assert.rejects(EtcdClient.connect({ endpoints: [ep], tls, dialTimeoutMs: 300 }), (e: unknown) => {
        assert.ok(e instanceof EtcdClientError);
        assert.equal(e.message, `cannot reach etcd at ${ep}: timed out after 300ms`);
        return true;
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => hang.close(() => resolve()));
    }
  });

  test('plain http against the TLS port: a clear protocol error', T, async () => {
    const c = EtcdClient.create({ endpoints: [server.clientURL.replace('https:', 'http:')], requestTimeoutMs: 3000 });
    try {
      await assert.rejects(c.memberList(), (e: unknown) => {
        assert.ok(e instanceof EtcdClientError);
        // etcd's TLS listener either tears the HTTP/2 stream down or resets the connection: both must say why
        if (e.kind === 'protocol') {
          assert.match(e.message, /^cannot reach etcd at http:\/\/127\.0\.0\.1:\d+: the endpoint did not answer as an etcd gRPC server/);
          assert.match(e.hint ?? '', /https:\/\//);
        } else {
          assert.equal(e.kind, 'unreachable');
          assert.match(e.message, /^cannot reach etcd at http:\/\/127\.0\.0\.1:\d+: connection lost \(ECONNRESET\)/);
          assert.match(e.hint ?? '', /scheme or TLS mismatch/);
        }
        return true;
      });
    } finally {
      c.close();
    }
  });

  test('failover: a dead first endpoint is skipped, in order, every time', T, async () => {
    const dead = `https://127.0.0.1:${await closedPort()}`;
    for (let i = 0; i < 3; i++) {
      const c = await EtcdClient.connect({ endpoints: [dead, server.clientURL], tls });
      try {
        assert.equal(c.endpoint, server.clientURL);
        const list = await c.memberList();
        assert.equal(list.members[0]!.clientURLs[0], server.clientURL);
        assert.equal((await c.healthCheck()).healthy, true);
      } finally {
        c.close();
      }
    }
    // All dead: one line naming each.
    const dead2 = `https://127.0.0.1:${await closedPort()}`;
    await assert.rejects(EtcdClient.connect({ endpoints: [dead, dead2], tls }), (e: unknown) => {
      assert.ok(e instanceof EtcdClientError);
      assert.equal(e.message, `cannot reach etcd at any of 2 endpoints: ${dead} (connection refused); ${dead2} (connection refused)`);
      return true;
    });
    // A lazily created client reports the same from its first request, and healthCheck never throws.
    const lazy = EtcdClient.create({ endpoints: [dead], tls });
    try {
      const h = await lazy.healthCheck();
      assert.equal(h.healthy, false);
      assert.match(h.error ?? '', /cannot reach etcd at .*: connection refused/);
    } finally {
      lazy.close();
    }
  });

  test('a closed client refuses to work', T, async () => {
    const c = await EtcdClient.connect({ endpoints: [server.clientURL], tls });
    c.close();
    await assert.rejects(c.memberList(), /after close/);
  });

  test('snapshot into a stream that applies backpressure', T, async () => {
    const c = await EtcdClient.connect({ endpoints: [server.clientURL], tls });
    try {
      const slow = new PassThrough({ highWaterMark: 1024 });
      let got = 0;
      slow.on('data', (d: Buffer) => {
        got += d.length;
        slow.pause();
        setTimeout(() => slow.resume(), 1);
      });
      const res = await c.snapshot(slow);
      slow.end();
      await finished(slow);
      assert.equal(got, res.bytes);
    } finally {
      c.close();
    }
  });
});

describe('EtcdClient on a 3-member cluster (etcd 3.5.30, TLS)', () => {
  let cluster: EtcdCluster;
  let tls: EtcdTls;

  before(async () => {
    cluster = await startEtcdCluster({ size: 3, tls: true });
    tls = tlsOf(cluster.tls!);
  });
  after(async () => {
    await cluster?.stop();
  });

  test('sticks to the first endpoint that answers', T, async () => {
    const ids = await Promise.all(
      cluster.endpoints.map(async (ep) => {
        const c = await EtcdClient.connect({ endpoints: [ep], tls });
        try {
          return (await c.status()).memberId;
        } finally {
          c.close();
        }
      }),
    );
    for (const order of [[1, 0, 2], [2, 1, 0], [0, 2, 1]]) {
      const c = await EtcdClient.connect({ endpoints: order.map((i) => cluster.endpoints[i]!), tls });
      try {
        for (let k = 0; k < 3; k++) assert.equal((await c.memberList()).memberId, ids[order[0]!]);
      } finally {
        c.close();
      }
    }
  });

  test('moveLeader: found and sent to the leader; refused by a follower', T, async () => {
    const c = await EtcdClient.connect({ endpoints: cluster.endpoints, tls });
    try {
      const { leader } = await c.status();
      const members = (await c.memberList()).members;
      assert.equal(members.length, 3);
      const followers = members.filter((m) => m.id !== leader);
      const target = followers[0]!;
      await assert.rejects(
        c.moveLeader(target.id, { endpoint: followers[1]!.clientURLs[0] }),
        (e: unknown) => e instanceof EtcdClientError && e.etcdMessage === 'etcdserver: not leader',
      );
      await c.moveLeader(target.id);
      await waitFor(
        async () => {
          const leaders = await Promise.all(cluster.endpoints.map(async (ep) => (await c.status(ep)).leader));
          return leaders.every((l) => l === target.id);
        },
        { timeoutMs: 5000, intervalMs: 50, what: 'every member to see the new leader' },
      );
      await c.moveLeader(target.id); // already the leader: no-op
      assert.equal((await c.status()).leader, target.id);
    } finally {
      c.close();
    }
  });

  test('failover mid-life: when the current endpoint dies, requests go to the next one', T, async () => {
    const c = await EtcdClient.connect({ endpoints: cluster.endpoints, tls });
    try {
      const { leader } = await c.status();
      // Stop a follower that is the client's current endpoint, so that quorum and leader stay.
      const members = (await c.memberList()).members;
      const idx = cluster.members.findIndex((m) => members.find((x) => x.clientURLs[0] === m.clientURL)!.id !== leader);
      const order = [idx, ...[0, 1, 2].filter((i) => i !== idx)];
      const d = await EtcdClient.connect({ endpoints: order.map((i) => cluster.endpoints[i]!), tls });
      try {
        assert.equal(d.endpoint, cluster.endpoints[idx]);
        await d.put('etcdadm/failover', '1');
        await cluster.members[idx]!.halt();
        const list = await d.memberList();
        assert.equal(d.endpoint, cluster.endpoints[order[1]!]);
        assert.equal(list.members.length, 3);
        assert.equal(await d.get('etcdadm/failover'), '1');
        const h = await d.healthCheck(cluster.endpoints[idx]);
        assert.equal(h.healthy, false);
        assert.match(h.error ?? '', /connection refused/);
      } finally {
        d.close();
      }
    } finally {
      c.close();
    }
  });
});
