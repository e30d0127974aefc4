import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { EXIT_DEGRADED, EXIT_ERROR, EXIT_HEALTHY, EXIT_UNAVAILABLE, statusExitCode, type ClusterStatus, type MemberStatus } from '../../src/cluster/status.js';
import { resolveMember } from '../../src/cluster/membership.js';
import { formatMemberList, formatStatus, humanBytes, memberListView, renderTable, summaryLine } from '../../src/cli/output.js';
import { compareVersions, parseVersion } from '../../src/config/version.js';
import type { Member } from '../../src/etcd/client.js';
import { EtcdadmError } from '../../src/errors.js';

function member(i: number, over: Partial<MemberStatus> = {}): MemberStatus {
  return {
    name: `eahost${i}`,
    id: ['8e9e05c52164694d', '91bc3c398fb3c146', 'fd422379fda50e48'][i - 1]!,
    peerURLs: [`https://10.88.0.${i}:2380`],
    clientURLs: [`https://10.88.0.${i}:2379`],
    role: i === 1 ? 'leader' : 'follower',
    isLearner: false,
    health: 'healthy',
    endpoint: `https://10.88.0.${i}:2379`,
    version: '3.5.30',
    dbSize: 20480,
    dbSizeInUse: 16384,
    raftTerm: 2,
    raftIndex: 10 + i,
    raftAppliedIndex: 10 + i,
    alarms: [],
    error: null,
    ...over,
  };
}

const healthy: ClusterStatus = {
  clusterId: '8576aad9335a146c',
  version: '3.5.30',
  mixedVersions: false,
  leaderId: '8e9e05c52164694d',
  leaderName: 'eahost1',
  voters: 3,
  learners: 0,
  healthyVoters: 3,
  quorum: 2,
  hasQuorum: true,
  canLose: 1,
  health: 'healthy',
  problems: [],
  members: [member(1), member(2), member(3)],
};

const degraded: ClusterStatus = {
  ...healthy,
  healthyVoters: 2,
  canLose: 0,
  health: 'degraded',
  problems: ['eahost3 is unreachable: cannot reach etcd at https://10.88.0.3:2379: connection refused', 'alarm NOSPACE on eahost2'],
  members: [
    member(1),
    member(2, { alarms: ['NOSPACE'] }),
    member(3, {
      health: 'unreachable',
      endpoint: null,
      version: null,
      dbSize: null,
      dbSizeInUse: null,
      raftTerm: null,
      raftIndex: null,
      raftAppliedIndex: null,
      error: 'cannot reach etcd at https://10.88.0.3:2379: connection refused',
    }),
  ],
};

describe('status formatting', () => {
  it('table: one table for the cluster in etcdctl style, then the summary lines', () => {
    assert.equal(
      formatStatus(healthy, 'table'),
      [
        '+---------+------------------+----------+---------+------------------------+------------------------+---------+---------+----------------+------+-----------+------------+--------+',
        '|  NAME   |        ID        |   ROLE   | HEALTH  |      CLIENT URLS       |       PEER URLS        | VERSION | DB SIZE | DB SIZE IN USE | FREE | RAFT TERM | RAFT INDEX | ALARMS |',
        '+---------+------------------+----------+---------+------------------------+------------------------+---------+---------+----------------+------+-----------+------------+--------+',
        '| eahost1 | 8e9e05c52164694d |   leader | healthy | https://10.88.0.1:2379 | https://10.88.0.1:2380 |  3.5.30 |   20 kB |          16 kB |  20% |         2 |         11 |      - |',
        '| eahost2 | 91bc3c398fb3c146 | follower | healthy | https://10.88.0.2:2379 | https://10.88.0.2:2380 |  3.5.30 |   20 kB |          16 kB |  20% |         2 |         12 |      - |',
        '| eahost3 | fd422379fda50e48 | follower | healthy | https://10.88.0.3:2379 | https://10.88.0.3:2380 |  3.5.30 |   20 kB |          16 kB |  20% |         2 |         13 |      - |',
        '+---------+------------------+----------+---------+------------------------+------------------------+---------+---------+----------------+------+-----------+------------+--------+',
        'cluster 8576aad9335a146c, version 3.5.30, leader eahost1, quorum 2 of 3, can lose 1 member',
        'status: healthy',
      ].join('\n'),
    );
  });

  it('table with what status probed over TLS: the serving certificate columns and the trusted CAs', () => {
    const withCerts: ClusterStatus = {
      ...degraded,
      members: degraded.members.map((m, i) => ({
        ...m,
        servingCert: i === 2 ? null : { expires: '2027-12-02T04:47:39.000Z', issuer: 'etcd-ca' },
        trustedCAs: i === 2 ? [] : ['etcd-ca (AB:CD:EF:01)', 'etcd-ca-2026-12-02 (12:34:56:78)'],
      })),
    };
    const lines = formatStatus(withCerts, 'table').split('\n');
    assert.match(lines[1]!, /\| +CERT EXPIRES +\| CERT CA \| +TRUSTS +\|$/);
    assert.match(lines[3]!, /\| 2027-12-02T04:47:39Z \| etcd-ca \| etcd-ca \(AB:CD:EF:01\),etcd-ca-2026-12-02 \(12:34:56:78\) \|$/);
    assert.match(lines[5]!, /\| +- \| +- \| +- \|$/);
    assert.doesNotMatch(formatStatus(degraded, 'table'), /CERT EXPIRES|TRUSTS/);
  });

  it('table of a degraded cluster: the unreachable member is listed with dashes, problems follow', () => {
    const lines = formatStatus(degraded, 'table').split('\n');
    assert.match(lines[5]!, /^\| eahost3 \| fd422379fda50e48 \| +follower \| unreachable \| https:\/\/10\.88\.0\.3:2379 \| https:\/\/10\.88\.0\.3:2380 \| +- \| +- \| +- \| +- \| +- \| +- \| +- \|$/);
    assert.match(lines[4]!, /\| NOSPACE \|$/);
    assert.deepEqual(lines.slice(7), [
      'cluster 8576aad9335a146c, version 3.5.30, leader eahost1, quorum 2 of 3 (2 healthy), can lose 0 members',
      'status: degraded',
      '  - eahost3 is unreachable: cannot reach etcd at https://10.88.0.3:2379: connection refused',
      '  - alarm NOSPACE on eahost2',
    ]);
    // every table line has the same width
    const widths = new Set(lines.slice(0, 7).map((l) => l.length));
    assert.equal(widths.size, 1);
  });

  it('summary of a cluster without quorum or leader, with a learner', () => {
    const s: ClusterStatus = { ...healthy, leaderId: null, leaderName: null, learners: 1, healthyVoters: 1, hasQuorum: false, canLose: 0, version: null, health: 'unavailable' };
    assert.equal(summaryLine(s), 'cluster 8576aad9335a146c, version unknown, leader none, quorum 2 of 3 (1 healthy), 1 learner, quorum lost');
    assert.equal(summaryLine({ ...healthy, mixedVersions: true, version: '3.5.16' }), 'cluster 8576aad9335a146c, version 3.5.16 (mixed), leader eahost1, quorum 2 of 3, can lose 1 member');
  });

  it('json and yaml round-trip to the same object (nulls kept)', () => {
    for (const s of [healthy, degraded]) {
      assert.deepEqual(JSON.parse(formatStatus(s, 'json')), s);
      assert.deepEqual(parse(formatStatus(s, 'yaml')), s);
    }
    assert.match(formatStatus(degraded, 'yaml'), /^clusterId: 8576aad9335a146c$/m);
    assert.match(formatStatus(degraded, 'json'), /"version": null/);
  });

  it('exit codes: 0 healthy, 3 degraded, 4 unavailable (1 is for errors)', () => {
    assert.deepEqual([EXIT_HEALTHY, EXIT_ERROR, EXIT_DEGRADED, EXIT_UNAVAILABLE], [0, 1, 3, 4]);
    assert.equal(statusExitCode(healthy), 0);
    assert.equal(statusExitCode(degraded), 3);
    assert.equal(statusExitCode({ health: 'unavailable' }), 4);
  });

  it('bytes like etcdctl (go-humanize, SI)', () => {
    assert.deepEqual([0, 9, 10, 999, 1000, 1500, 20480, 82000, 1_000_000, 2_147_483_648].map(humanBytes), [
      '0 B', '9 B', '10 B', '999 B', '1.0 kB', '1.5 kB', '20 kB', '82 kB', '1.0 MB', '2.1 GB',
    ]);
  });

  it('versions compare numerically, with one grammar (at most one leading v)', () => {
    assert.ok(compareVersions('3.5.9', '3.5.30') < 0);
    assert.ok(compareVersions('3.4.23', '3.5.0') < 0);
    assert.equal(compareVersions('3.5.30', '3.5.30'), 0);
    assert.ok(compareVersions('3.6.0-rc.1', '3.6.0') < 0);
    assert.deepEqual(parseVersion('v3.6.16'), { major: 3, minor: 6, patch: 16 });
    for (const bad of ['vv3.5.30', '3.5', '3.5.30.1', ' 3.5.30', '03.5.30']) assert.equal(parseVersion(bad), undefined, bad);
  });

  it('renderTable pads ragged rows', () => {
    assert.equal(renderTable(['A', 'BB'], [['xyz']]), ['+-----+----+', '|  A  | BB |', '+-----+----+', '| xyz |    |', '+-----+----+'].join('\n'));
  });
});

describe('member list formatting and target resolution', () => {
  const members: Member[] = [
    { id: 0x8e9e05c52164694dn, idHex: '8e9e05c52164694d', name: 'eahost1', peerURLs: ['https://10.88.0.1:2380'], clientURLs: ['https://10.88.0.1:2379'], isLearner: false },
    { id: 0x91bc3c398fb3c146n, idHex: '91bc3c398fb3c146', name: '', peerURLs: ['https://10.88.0.4:2380'], clientURLs: [], isLearner: true },
  ];

  it('table like etcdctl member list -w table; json/yaml', () => {
    const view = memberListView({ clusterIdHex: '8576aad9335a146c', members });
    assert.equal(
      formatMemberList(view, 'table'),
      [
        '+------------------+-----------+---------+------------------------+------------------------+------------+',
        '|        ID        |  STATUS   |  NAME   |       PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |',
        '+------------------+-----------+---------+------------------------+------------------------+------------+',
        '| 8e9e05c52164694d |   started | eahost1 | https://10.88.0.1:2380 | https://10.88.0.1:2379 |      false |',
        '| 91bc3c398fb3c146 | unstarted |         | https://10.88.0.4:2380 |                        |       true |',
        '+------------------+-----------+---------+------------------------+------------------------+------------+',
      ].join('\n'),
    );
    assert.deepEqual(JSON.parse(formatMemberList(view, 'json')), view);
    assert.deepEqual(parse(formatMemberList(view, 'yaml')), view);
  });

  it('a target is a name, a hex ID (0x, any case) or a peer URL; anything else is invalid input', () => {
    assert.equal(resolveMember(members, 'eahost1').idHex, '8e9e05c52164694d');
    assert.equal(resolveMember(members, '0x91BC3C398FB3C146').idHex, '91bc3c398fb3c146');
    assert.equal(resolveMember(members, 'https://10.88.0.4:2380/').idHex, '91bc3c398fb3c146');
    assert.throws(
      () => resolveMember(members, 'eahost9'),
      (e: unknown) => e instanceof EtcdadmError && e.exitCode === 2 && /no member is named "eahost9"/.test(e.message),
    );
  });
});
