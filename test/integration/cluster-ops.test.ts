/**
 * Operating a cluster (src/cluster/): status, and membership changes under the quorum guard, against a REAL
 * 3-member etcd 3.5.30 cluster with TLS on 127.0.0.1; then the "answer lost" paths against a fake client.
 *
 * Two real clusters, each its own story, so that a failure in one cannot break the other:
 *   3 members: healthy (1 leader, 2 followers, can lose 1) → a follower halted (degraded, exit 3) → removing a
 *   healthy member refused with the numbers → removing the dead one allowed → one of two refused;
 *   2 members: a learner added (one change at a time), started and promoted → the leader removed (leadership moves
 *   first).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClusterHandle } from '../../src/cluster/handle.js';
import { addMember, promoteMember, removeMember } from '../../src/cluster/membership.js';
import { clusterStatus, EXIT_DEGRADED, EXIT_HEALTHY, memberListAnyView, statusExitCode, type ClusterStatus } from '../../src/cluster/status.js';
import { formatStatus } from '../../src/cli/output.js';
import { EtcdClient, EtcdClientError, type EtcdStatus, type EtcdTls, type Member, type MemberListResult } from '../../src/etcd/client.js';
import { EtcdadmError } from '../../src/errors.js';
import { Logger, type LogSink } from '../../src/log/logger.js';
import { waitFor } from '../helpers/wait.js';
import { allocateMember, freePorts, startEtcd, startEtcdCluster, type EtcdCluster, type EtcdServer } from '../helpers/etcd-server.js';

const T = { timeout: 30_000 };

function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink: LogSink = { write: (l) => void lines.push(l), isTTY: false };
  return { log: new Logger('debug', 'text', sink), lines };
}

/** A real cluster of `size` members with TLS, a client on all of them, and the client's TLS material. */
async function realCluster(size: number): Promise<{ cluster: EtcdCluster; client: EtcdClient; tls: EtcdTls }> {
  const cluster = await startEtcdCluster({ size, tls: true, version: '3.5.30' });
  const f = cluster.tls!;
  const tls = { ca: f.ca, cert: f.cert, key: f.key, caFile: f.caFile, certFile: f.clientCertFile };
  TLS = tls;
  const client = EtcdClient.create({ endpoints: cluster.endpoints, tls, dialTimeoutMs: 1000, requestTimeoutMs: 3000 });
  return { cluster, client, tls };
}

/** A cluster handle around `client`, as the commands have one. */
function handle(client: EtcdClient, tls?: EtcdTls): ClusterHandle {
  return new ClusterHandle(client, { tls: tls ?? TLS!, log: captureLog().log });
}
let TLS: EtcdTls | undefined;

function byName(st: ClusterStatus, name: string) {
  const m = st.members.find((x) => x.name === name);
  assert.ok(m, `member ${name} in ${JSON.stringify(st.members.map((x) => x.name))}`);
  return m;
}

describe('cluster operations on a real 3-member etcd 3.5.30 cluster with TLS', () => {
  let cluster: EtcdCluster;
  let client: EtcdClient;
  let tls: EtcdTls;
  const { log } = captureLog();
  // chosen in the first test: the leader, the follower that is halted, the follower that stays
  let leaderName = '';
  let dead: EtcdServer;
  let survivor: EtcdServer;

  before(async () => {
    ({ cluster, client, tls } = await realCluster(3));
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  test('status: 1 leader and 2 followers, all healthy, quorum 2 of 3, can lose 1 member', T, async () => {
    const st = await waitFor(
      async () => {
        const s = await clusterStatus(client, undefined, { tls });
        return s.health === 'healthy' ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a healthy cluster' },
    );
    assert.deepEqual(st.members.map((m) => m.role).sort(), ['follower', 'follower', 'leader']);
    assert.ok(st.members.every((m) => m.health === 'healthy' && m.version === '3.5.30' && m.dbSize !== null && m.raftIndex !== null));
    assert.deepEqual([st.voters, st.quorum, st.healthyVoters, st.canLose, st.hasQuorum], [3, 2, 3, 1, true]);
    assert.equal(st.version, '3.5.30');
    assert.equal(statusExitCode(st), EXIT_HEALTHY);
    leaderName = st.leaderName!;
    assert.equal(st.members.find((m) => m.role === 'leader')!.name, leaderName);
    const table = formatStatus(st, 'table');
    assert.match(table, new RegExp(`cluster ${st.clusterId}, version 3\\.5\\.30, leader ${leaderName}, quorum 2 of 3, can lose 1 member`));
    assert.match(table, /^status: healthy$/m);
  });

  test('a halted member is listed as unreachable, the others still listed; exit code degraded', T, async () => {
    // a follower (as of now: the leader may have changed since) is halted
    leaderName = (await clusterStatus(client, undefined, { tls })).leaderName!;
    const followers = cluster.members.filter((m) => m.name !== leaderName);
    dead = followers[0]!;
    survivor = followers[1]!;
    await dead.halt();
    const st = await waitFor(
      async () => {
        const s = await clusterStatus(client, undefined, { tls });
        return s.members.filter((m) => m.health === 'healthy').length === 2 ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the 2 other members to be healthy' },
    );
    assert.equal(st.members.length, 3);
    const d = byName(st, dead.name);
    assert.equal(d.health, 'unreachable');
    assert.equal(d.endpoint, null);
    assert.deepEqual(d.clientURLs, [dead.clientURL]);
    assert.match(d.error ?? '', /connection refused/);
    assert.equal(byName(st, leaderName).health, 'healthy');
    assert.equal(byName(st, survivor.name).health, 'healthy');
    assert.equal(st.leaderName, leaderName);
    assert.deepEqual([st.health, st.healthyVoters, st.canLose, st.hasQuorum], ['degraded', 2, 0, true]);
    assert.equal(statusExitCode(st), EXIT_DEGRADED);
    assert.match(formatStatus(st, 'table'), /quorum 2 of 3 \(2 healthy\), can lose 0 members/);
  });

  test('removing a healthy member while one is down is refused by the quorum guard, with the numbers', T, async () => {
    await assert.rejects(
      removeMember(handle(client), survivor.name, { log }),
      (err: unknown) =>
        err instanceof EtcdadmError &&
        err.message === `refusing to remove ${survivor.name}: removing ${survivor.name} would leave 2 voting members of which 1 is healthy; quorum of 2 needs 2`,
    );
    assert.equal((await memberListAnyView(client)).members.length, 3);
  });

  test('removing the dead member is allowed: back to 2 healthy members', T, async () => {
    const r = await removeMember(handle(client), dead.name, { log, deadlineMs: 20_000 });
    assert.equal(r.removed.name, dead.name);
    assert.equal(r.leaderMovedTo, undefined);
    assert.deepEqual(r.members.map((m) => m.name).sort(), [leaderName, survivor.name].sort());
    await dead.stop();
    const st = await waitFor(
      async () => {
        const s = await clusterStatus(client, undefined, { tls });
        return s.health === 'healthy' ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a healthy 2-member cluster' },
    );
    assert.deepEqual([st.members.length, st.health, st.voters, st.quorum, st.canLose], [2, 'healthy', 2, 2, 0]);
  });

  test('removing one of two members is refused as unsafe', T, async () => {
    await assert.rejects(removeMember(handle(client), survivor.name, { log }), /a 2-member cluster loses quorum safety when one is removed/);
  });

});

describe('learners and the leader, on a real 2-member etcd 3.5.30 cluster with TLS (its own, so that nothing above can break it)', () => {
  let cluster: EtcdCluster;
  let client: EtcdClient;
  let tls: EtcdTls;
  let learner: EtcdServer | undefined;
  const { log, lines } = captureLog();

  before(async () => {
    ({ cluster, client, tls } = await realCluster(2));
    await waitFor(async () => (await clusterStatus(client, undefined, { tls })).health === 'healthy', { timeoutMs: 15_000, intervalMs: 200, what: 'a healthy cluster' });
  });
  after(async () => {
    client?.close();
    await learner?.stop();
    await cluster?.stop();
  });

  test('a learner is added (one change at a time), started, and promoted', T, async () => {
    const alloc = await allocateMember(true);
    const added = await addMember(handle(client), [alloc.peerURL], { log, learner: true });
    assert.equal(added.member.isLearner, true);
    assert.equal(added.existed, false);
    // the same add again is a no-op; another add waits for this change to finish
    assert.equal((await addMember(handle(client), [alloc.peerURL], { log, learner: true })).existed, true);
    const other = await allocateMember(true);
    await assert.rejects(addMember(handle(client), [other.peerURL], { log, learner: true }), /one membership change at a time/);
    // an added, unstarted member shows, and makes the cluster degraded (quorum unchanged: learners do not count)
    const pending = await clusterStatus(client, undefined, { tls });
    const p = pending.members.find((m) => m.id === added.member.idHex)!;
    assert.deepEqual([p.role, p.health, pending.health, pending.quorum, pending.learners], ['unstarted', 'unreachable', 'degraded', 2, 1]);

    const initialCluster = added.members.map((m) => `${m.id === added.member.id ? 'etcd-3' : m.name}=${m.peerURLs[0]}`).join(',');
    learner = await startEtcd({ tls: cluster.tls, name: 'etcd-3', ports: alloc.ports, initialCluster, initialClusterState: 'existing' });
    const st = await waitFor(
      async () => {
        const s = await clusterStatus(client, undefined, { tls });
        return s.members.find((m) => m.name === 'etcd-3')?.health === 'healthy' ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the learner to serve' },
    );
    assert.equal(byName(st, 'etcd-3').role, 'learner');

    const promoted = await promoteMember(handle(client), 'etcd-3', { log, deadlineMs: 20_000 });
    assert.equal(promoted.isLearner, false);
    const after = await waitFor(
      async () => {
        const s = await clusterStatus(client, undefined, { tls });
        return s.health === 'healthy' && s.voters === 3 ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: '3 healthy voters' },
    );
    assert.deepEqual([after.voters, after.learners, after.canLose], [3, 0, 1]);
  });

  test('removing the leader moves leadership first, then removes it through another member', T, async () => {
    const before = await clusterStatus(client, undefined, { tls });
    const leader = before.leaderName!;
    const r = await removeMember(handle(client), leader, { log, deadlineMs: 20_000 });
    assert.ok(r.leaderMovedTo, 'leadership was moved');
    assert.notEqual(r.leaderMovedTo.name, leader);
    assert.ok(lines.some((l) => l.includes(`${leader} is the leader; moving leadership to ${r.leaderMovedTo!.name}`)));
    assert.equal(r.members.length, 2);
    assert.ok(!r.members.some((m) => m.name === leader));
    const st = await waitFor(
      async () => {
        const s = await clusterStatus(client, undefined, { tls });
        return s.health === 'healthy' ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a healthy 2-member cluster' },
    );
    assert.equal(st.members.length, 2);
    assert.equal(st.leaderName, r.leaderMovedTo.name);
  });
});

// ------------------------------------------------------------------ lost answers (fake client, no etcd)

/**
 * A fake cluster (3 voters m1..m3, learner m4) whose change RPCs apply the change and then lose the answer (or fail
 * as scripted). Its URLs are closed ports on 127.0.0.1: the only real request, GET /health of the learner, is refused.
 */
async function fakeCluster(opts: { loseAnswer: boolean; unhealthyFirst?: number }) {
  const ports = await freePorts(4);
  const url = (i: number): string => `https://127.0.0.1:${ports[i - 1]}`;
  const mk = (i: number, learner = false): Member => ({
    id: BigInt(i),
    idHex: i.toString(16),
    name: `m${i}`,
    peerURLs: [`https://127.0.0.2:${2380 + i}`],
    clientURLs: [url(i)],
    isLearner: learner,
  });
  let members: Member[] = [mk(1), mk(2), mk(3), mk(4, true)];
  let unhealthy = opts.unhealthyFirst ?? 0;
  const calls: string[] = [];
  const lost = (op: string): EtcdClientError =>
    new EtcdClientError(`cannot reach etcd at ${url(2)}: connection lost (ECONNRESET)`, { kind: 'unreachable', endpoint: op });
  const refuseUnhealthy = (op: string): void => {
    if (unhealthy > 0) {
      unhealthy--;
      calls.push(`${op}:unhealthy`);
      throw new EtcdClientError(`etcd ${op} failed: etcdserver: unhealthy cluster`, { kind: 'server', etcdMessage: 'etcdserver: unhealthy cluster' });
    }
  };
  const list = (): MemberListResult => ({ clusterId: 9n, clusterIdHex: '9', memberId: 1n, memberIdHex: '1', members: [...members] });
  const fake = {
    endpoints: [url(1)],
    endpoint: url(1),
    async memberList() {
      return list();
    },
    async status(url: string): Promise<EtcdStatus> {
      const m = members.find((x) => x.clientURLs.includes(url));
      if (!m) throw new EtcdClientError(`cannot reach etcd at ${url}: connection refused`, { kind: 'unreachable', endpoint: url });
      return {
        endpoint: url, memberId: m.id, memberIdHex: m.idHex, clusterId: 9n, version: '3.5.30', dbSize: 1, dbSizeInUse: 1,
        leader: 1n, leaderHex: '1', raftIndex: 5n, raftTerm: 2n, raftAppliedIndex: 5n, errors: [], isLearner: m.isLearner, storageVersion: '', downgrade: null,
      };
    },
    async healthCheck(url: string) {
      return { healthy: true, endpoint: url, tookMs: 1 };
    },
    async alarms() {
      return [];
    },
    async moveLeader() {
      throw new Error('not used');
    },
    async memberRemove(id: bigint) {
      refuseUnhealthy('MemberRemove');
      calls.push('MemberRemove');
      members = members.filter((m) => m.id !== id);
      if (opts.loseAnswer) throw lost('MemberRemove');
      return list();
    },
    async memberAdd(peerURLs: string[], isLearner: boolean) {
      refuseUnhealthy('MemberAdd');
      calls.push('MemberAdd');
      const m: Member = { id: 99n, idHex: '63', name: '', peerURLs, clientURLs: [], isLearner };
      members = [...members, m];
      if (opts.loseAnswer) throw lost('MemberAdd');
      return { ...list(), member: m };
    },
    async memberPromote(id: bigint) {
      refuseUnhealthy('MemberPromote');
      calls.push('MemberPromote');
      members = members.map((m) => (m.id === id ? { ...m, isLearner: false } : m));
      if (opts.loseAnswer) throw lost('MemberPromote');
      return list();
    },
    withEndpoints(endpoints: string[]) {
      calls.push(`via ${endpoints.join(',')}`);
      return fake;
    },
    close() {},
  };
  return { client: fake as unknown as EtcdClient, calls, members: () => members, url };
}

describe('membership changes whose answer was lost (fake client)', () => {
  const { log } = captureLog();

  test('a removal that went through counts as done; it is sent through the other members first', async () => {
    const f = await fakeCluster({ loseAnswer: true });
    // m4 is a learner: removing m2 keeps 2 of 2 healthy voters
    const r = await removeMember(handle(f.client), 'm2', { log });
    assert.equal(r.removed.name, 'm2');
    assert.deepEqual(r.members.map((m) => m.name), ['m1', 'm3', 'm4']);
    // healthy voters, then the (unhealthy) learner, the target last
    assert.equal(f.calls[0], `via ${[1, 3, 4, 2].map(f.url).join(',')}`);
  });

  test('"unhealthy cluster" is retried with backoff', async () => {
    const f = await fakeCluster({ loseAnswer: false, unhealthyFirst: 2 });
    await removeMember(handle(f.client), '0x3', { log, deadlineMs: 10_000 });
    assert.deepEqual(f.calls.slice(1), ['MemberRemove:unhealthy', 'MemberRemove:unhealthy', 'MemberRemove']);
  });

  test('an add whose answer was lost returns the member found by its peer URL', async () => {
    const f = await fakeCluster({ loseAnswer: true });
    // the learner m4 must go first: one change at a time
    await assert.rejects(addMember(handle(f.client), ['https://127.0.0.2:2399'], { log, learner: true }), /m4 \(4\) is still a learner/);
    await removeMember(handle(f.client), 'm4', { log });
    const r = await addMember(handle(f.client), ['https://127.0.0.2:2399'], { log, learner: true });
    assert.equal(r.member.idHex, '63');
    assert.equal(r.existed, false);
  });

  test('a promotion whose answer was lost returns the promoted member', async () => {
    const f = await fakeCluster({ loseAnswer: true });
    const m = await promoteMember(handle(f.client), 'm4', { log });
    assert.equal(m.isLearner, false);
  });

  test('a lost answer for a change that did NOT happen is still an error', async () => {
    const f = await fakeCluster({ loseAnswer: false });
    const c = f.client as unknown as { memberRemove: (id: bigint) => Promise<MemberListResult> };
    c.memberRemove = async () => {
      throw new EtcdClientError(`cannot reach etcd at ${f.url(1)}: connection lost (ECONNRESET)`, { kind: 'unreachable' });
    };
    await assert.rejects(removeMember(handle(f.client), 'm2', { log }), /connection lost/);
    assert.equal(f.members().length, 4);
  });
});
