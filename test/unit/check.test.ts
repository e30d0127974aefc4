/**
 * The doctor's rules (src/cluster/check.ts) and the metrics arithmetic under them (src/cluster/metrics.ts): each
 * threshold on both sides, divergence naming the odd member, and the exit codes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judge, type CheckInput } from '../../src/cluster/check.js';
import { bucketsOf, histogramQuantile, memberMetrics, parseMetrics } from '../../src/cluster/metrics.js';
import type { ClusterStatus, MemberStatus } from '../../src/cluster/status.js';
import { clusterStatus, memberStatus } from '../helpers/status.js';

const MiB = 1024 * 1024;
const member = memberStatus;
const status = clusterStatus;
const now = new Date('2026-12-07T00:00:00Z');
const inDays = (d: number) => new Date(now.getTime() + d * 86_400_000);
const three = () => [member('m1', { role: 'leader' }), member('m2'), member('m3')];
const healthy = (over: Partial<CheckInput> = {}): CheckInput => ({
  status: status(three()),
  quotaBytes: 16 * MiB,
  hashes: ['m1', 'm2', 'm3'].map((name) => ({ name, hash: 42, compactRevision: '7' })),
  hashRevision: '100',
  metrics: ['m1', 'm2', 'm3'].map((name) => ({ name, metrics: { walFsyncP99Ms: 2, walFsyncs: 500, backendCommitP99Ms: 5, backendCommits: 300, peerRttP99Ms: 1, leaderChanges: 1, uptimeSeconds: 600 } })),
  certificates: [{ what: 'server.crt', notAfter: inDays(365) }],
  renewBeforeDays: 30,
  heartbeatMs: 100,
  now,
  ...over,
});
const verdictOf = (input: CheckInput, name: string) => judge(input).checks.find((c) => c.name === name)!;

describe('etcdadm check: the rules', () => {
  it('a healthy cluster: every check ok, exit 0, every check present with a measured value', () => {
    const r = judge(healthy());
    assert.deepEqual(r.checks.map((c) => c.name), ['members', 'version', 'hash', 'db-size', 'fragmentation', 'alarms', 'wal-fsync', 'backend-commit', 'peer-rtt', 'leader-changes', 'certificates', 'learners', 'backup']);
    assert.deepEqual(r.checks.filter((c) => c.verdict !== 'ok').map((c) => c.name), []);
    assert.equal(r.exitCode, 0);
    assert.ok(r.checks.every((c) => c.value.length > 0 && c.fix === undefined));
    assert.equal(verdictOf(healthy(), 'hash').value, 'equal at revision 100 on 3 voting members');
  });

  it('a member stopped: members fails naming it, exit 3; without quorum exit 4', () => {
    const down = status([member('m1', { role: 'leader' }), member('m2'), member('m3', { health: 'unreachable', endpoint: null, version: null, dbSize: null, dbSizeInUse: null })]);
    const c = verdictOf(healthy({ status: down }), 'members');
    assert.equal(c.verdict, 'fail');
    assert.match(c.value, /2\/3 healthy, quorum 2, can lose 1; m3 unreachable/);
    assert.match(c.fix ?? '', /join --replace m3/);
    assert.equal(judge(healthy({ status: down })).exitCode, 3);
    assert.equal(judge(healthy({ status: { ...down, hasQuorum: false } })).exitCode, 4);
  });

  it('db-size: warn above 80 % of the quota, fail above 95 %, with the measured size', () => {
    const at = (share: number) => verdictOf(healthy({ status: status([member('m1', { dbSize: Math.floor(share * 16 * MiB) }), member('m2'), member('m3')]) }), 'db-size');
    assert.equal(at(0.8).verdict, 'ok');
    assert.equal(at(0.81).verdict, 'warn');
    assert.equal(at(0.9).value, 'm1 14.4 MiB of the 16.0 MiB quota (90.0%)');
    assert.equal(at(0.95).verdict, 'warn');
    assert.equal(at(0.96).verdict, 'fail');
    assert.match(at(0.96).fix ?? '', /etcdadm maintain/);
  });

  it("diverged data: the member whose hash differs is named; two members that disagree are a fail without a majority; differing compactions are not compared", () => {
    const diverged = verdictOf(healthy({ hashes: [{ name: 'm1', hash: 1, compactRevision: '7' }, { name: 'm2', hash: 1, compactRevision: '7' }, { name: 'm3', hash: 9, compactRevision: '7' }] }), 'hash');
    assert.equal(diverged.verdict, 'fail');
    assert.match(diverged.value, /^m3 differs from m1, m2 at revision 100/);
    assert.match(diverged.fix ?? '', /data of m3 diverged/);
    const tie = verdictOf(healthy({ hashes: [{ name: 'm1', hash: 1, compactRevision: '7' }, { name: 'm2', hash: 2, compactRevision: '7' }] }), 'hash');
    assert.match(tie.value, /no two members agree/);
    const compacting = verdictOf(healthy({ hashes: [{ name: 'm1', hash: 1, compactRevision: '7' }, { name: 'm2', hash: 2, compactRevision: '9' }] }), 'hash');
    assert.equal(compacting.verdict, 'warn');
  });

  it("fragmentation: the mixin's rule (below half in use and over 100 MB in use) warns; a small fragmented file does not", () => {
    const big = verdictOf(healthy({ quotaBytes: 8192 * MiB, status: status([member('m1', { dbSize: 400 * MiB, dbSizeInUse: 150 * MiB }), member('m2'), member('m3')]) }), 'fragmentation');
    assert.equal(big.verdict, 'warn');
    assert.match(big.fix ?? '', /defrag --all/);
    const small = verdictOf(healthy({ status: status([member('m1', { dbSize: 8 * MiB, dbSizeInUse: 1 * MiB }), member('m2'), member('m3')]) }), 'fragmentation');
    assert.equal(small.verdict, 'ok');
    assert.match(small.value, /m1 87\.5% of 8\.0 MiB/);
  });

  it('alarms: any is a fail, with the fix for NOSPACE', () => {
    const c = verdictOf(healthy({ status: status([member('m1', { alarms: ['NOSPACE'] }), member('m2'), member('m3')]) }), 'alarms');
    assert.deepEqual([c.verdict, c.value], ['fail', 'NOSPACE on m1']);
    assert.match(c.fix ?? '', /maintain/);
  });

  it('slow disk: WAL fsync p99 above 10 ms and backend commit p99 above 25 ms warn with the measured value', () => {
    const slow = healthy();
    slow.metrics[1] = { name: 'm2', metrics: { ...slow.metrics[1]!.metrics!, walFsyncP99Ms: 46.2, backendCommitP99Ms: 25 } };
    const wal = verdictOf(slow, 'wal-fsync');
    assert.equal(wal.verdict, 'warn');
    assert.equal(wal.value, 'WAL fsync p99 above 10 ms: m2 46 ms over 500 fsyncs');
    assert.equal(wal.measured?.m2, 46.2);
    assert.equal(verdictOf(slow, 'backend-commit').verdict, 'ok', '25 ms is not above 25 ms');
    assert.equal(judge(slow).exitCode, 3);
    slow.metrics[1] = { name: 'm2', metrics: { ...slow.metrics[1]!.metrics!, walFsyncs: 99 } };
    assert.equal(verdictOf(slow, 'wal-fsync').verdict, 'ok', '99 fsyncs are too few to judge');
    assert.match(verdictOf(slow, 'wal-fsync').value, /m2 46 ms \(99 only, too few to judge\)/);
  });

  it('peer round trip above the heartbeat interval, and leader changes above 4 per 15 minutes, warn', () => {
    const far = healthy();
    far.metrics[0] = { name: 'm1', metrics: { ...far.metrics[0]!.metrics!, peerRttP99Ms: 150 } };
    assert.equal(verdictOf(far, 'peer-rtt').verdict, 'warn');
    const churn = (n: number, up: number) => {
      const x = healthy();
      x.metrics[2] = { name: 'm3', metrics: { ...x.metrics[2]!.metrics!, leaderChanges: n, uptimeSeconds: up } };
      return verdictOf(x, 'leader-changes').verdict;
    };
    assert.equal(churn(5, 600), 'warn', '5 within 10 minutes');
    assert.equal(churn(4, 600), 'ok');
    assert.equal(churn(5, 86_400), 'ok', '5 in a day');
    assert.equal(churn(200, 86_400), 'ok', '200 in a day: about 2 per 15 minutes');
    assert.equal(churn(500, 86_400), 'warn', '500 in a day: over 5 per 15 minutes');
  });

  it('certificates: warn within the renewal window, fail once expired, naming the certificate', () => {
    const due = verdictOf(healthy({ certificates: [{ what: "m2's serving certificate", notAfter: inDays(10) }, { what: 'ca.crt', notAfter: inDays(3000) }] }), 'certificates');
    assert.equal(due.verdict, 'warn');
    assert.match(due.value, /within the 30-day renewal window: m2's serving certificate in 10 days \(2026-12-17\)/);
    assert.equal(verdictOf(healthy({ certificates: [{ what: 'x', notAfter: inDays(-1) }] }), 'certificates').verdict, 'fail');
  });

  it('learners not promoted warn; mixed versions warn; a failed or stale backup is not ok', () => {
    assert.equal(verdictOf(healthy({ status: status([...three(), member('m4', { isLearner: true, role: 'learner' })]) }), 'learners').verdict, 'warn');
    assert.equal(verdictOf(healthy({ status: status([member('m1', { version: '3.5.30' }), member('m2'), member('m3')]) }), 'version').verdict, 'warn');
    assert.equal(verdictOf(healthy({ backup: { state: 'failed', problem: 'the last backup failed', every: '1h' } }), 'backup').verdict, 'fail');
    assert.equal(verdictOf(healthy({ backup: { state: 'stale', problem: 'old', every: '1h' } }), 'backup').verdict, 'warn');
    assert.equal(verdictOf(healthy({ backup: { state: 'ok', every: '1h', lastSuccess: '2026-12-06T23:30:00Z' } }), 'backup').verdict, 'ok');
  });
});

describe('metrics: parsing and quantiles as Prometheus computes them', () => {
  const text = [
    '# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.',
    '# TYPE etcd_disk_wal_fsync_duration_seconds histogram',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 0',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 50',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} 90',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"} 98',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.016"} 100',
    'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 100',
    'etcd_disk_wal_fsync_duration_seconds_sum 0.3',
    'etcd_disk_wal_fsync_duration_seconds_count 100',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="a",le="0.0001"} 0',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="a",le="0.0002"} 10',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="a",le="+Inf"} 10',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="b",le="0.0001"} 0',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="b",le="0.0002"} 0',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="b",le="0.0512"} 10',
    'etcd_network_peer_round_trip_time_seconds_bucket{To="b",le="+Inf"} 10',
    'etcd_server_leader_changes_seen_total 3',
    'process_start_time_seconds 1.7e+09',
  ].join('\n');
  it('the p99 interpolates within its bucket; +Inf gives the highest finite bound; no observations gives none', () => {
    const b = bucketsOf(parseMetrics(text, ['etcd_disk_wal_fsync_duration_seconds_bucket']).get('etcd_disk_wal_fsync_duration_seconds_bucket')!);
    assert.equal(histogramQuantile(0.99, b), 0.008 + (0.008 * (99 - 98)) / 2);
    assert.equal(histogramQuantile(0.5, b), 0.002);
    assert.equal(histogramQuantile(0.99, [{ le: 0.1, count: 1 }, { le: Infinity, count: 10 }]), 0.1);
    assert.equal(histogramQuantile(0.99, [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }]), undefined);
  });
  it("one member's figures: fsync p99 in ms, the slowest peer's p99, leader changes and uptime", () => {
    const m = memberMetrics(text, 1.7e9 + 120);
    assert.equal(m.walFsyncs, 100);
    assert.equal(m.walFsyncP99Ms, 12);
    assert.equal(m.backendCommitP99Ms, undefined);
    assert.ok(Math.abs(m.peerRttP99Ms! - (0.0002 + (0.0512 - 0.0002) * 0.99) * 1000) < 1e-9, String(m.peerRttP99Ms));
    assert.equal(m.leaderChanges, 3);
    assert.equal(m.uptimeSeconds, 120);
  });
});
