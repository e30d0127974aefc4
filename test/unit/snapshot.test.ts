import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pruneDecision, snapshotName } from '../../src/snapshot/catalog.js';
import { snapshotTarget } from '../../src/phases/snapshot.js';
import { DEFAULT_BUMP_REVISION, parseBumpRevision, restoreInvocation } from '../../src/snapshot/restore.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

describe('snapshot decisions', () => {
  const plan = planOf({ name: 'node-a' }, hostFacts([eth0('10.0.0.5')]));
  const now = new Date('2026-12-01T12:34:56.789Z');
  it('names say whose and when, and sort by time', () => {
    assert.equal(snapshotName('node-a', now), 'etcd-snapshot-node-a-20261201T123456.789Z.db');
    assert.ok(snapshotName('a', new Date('2026-12-01T09:00:00.000Z')) < snapshotName('a', new Date('2026-12-01T10:00:00.000Z')));
  });
  it('the target: the backup dir and the local member by default; --dir, --output, --endpoint; not --dir with --output', () => {
    assert.deepEqual(snapshotTarget(plan, {}, 'node-a', now), { path: '/var/backups/etcdadm/etcd-snapshot-node-a-20261201T123456.789Z.db', endpoint: plan.member.urls.localClient });
    assert.equal(snapshotTarget(plan, { dir: '/srv/b' }, 'node-a', now).path, '/srv/b/etcd-snapshot-node-a-20261201T123456.789Z.db');
    assert.deepEqual(snapshotTarget(plan, { output: '/root/x.db', endpoint: 'https://10.0.0.6:2379' }, 'node-a', now), { path: '/root/x.db', endpoint: 'https://10.0.0.6:2379' });
    assert.throws(() => snapshotTarget(plan, { dir: '/a', output: '/b' }, 'node-a'), /--dir or --output, not both/);
  });
  it('prune keeps the newest N and never the last one', () => {
    assert.deepEqual(pruneDecision(['n1', 'n2', 'n3', 'n4'], 2), ['n3', 'n4']);
    assert.deepEqual(pruneDecision(['n1'], 1), []);
    assert.deepEqual(pruneDecision(['n1', 'n2'], 0), ['n2']);
    assert.deepEqual(pruneDecision([], 3), []);
  });
});

describe('restore (init --snapshot)', () => {
  const base = { file: '/s.db', name: 'a', initialCluster: 'a=https://10.0.0.5:2380', token: 'tok', peerUrls: ['https://10.0.0.5:2380'], dataDir: '/var/lib/.etcd.restore-1/data' };
  it('--bump-revision: the default, 0, and refusals of what is not a whole number in range', () => {
    assert.equal(parseBumpRevision(undefined), DEFAULT_BUMP_REVISION);
    assert.equal(parseBumpRevision('0'), 0);
    assert.equal(parseBumpRevision(' 42 '), 42);
    for (const bad of ['-1', '1.5', 'lots', '', String(2n ** 62n + 1n)]) assert.throws(() => parseBumpRevision(bad), /invalid --bump-revision/, bad);
  });
  it('etcdutl that can bump: --bump-revision N --mark-compacted after the member flags', () => {
    const r = restoreInvocation({ ...base, etcdutl: true, supportsBump: true, bumpRevision: 1000 });
    assert.deepEqual(r.args, ['snapshot', 'restore', '/s.db', '--name', 'a', '--initial-cluster', 'a=https://10.0.0.5:2380', '--initial-cluster-token', 'tok', '--initial-advertise-peer-urls', 'https://10.0.0.5:2380', '--data-dir', '/var/lib/.etcd.restore-1/data', '--bump-revision', '1000', '--mark-compacted']);
    assert.deepEqual(r.env, {});
    assert.equal(r.bumped, 1000);
    assert.equal(r.warning, undefined);
  });
  it('0 restores the revisions as they are; a tool without the flags restores without and says what to restart', () => {
    const zero = restoreInvocation({ ...base, etcdutl: true, supportsBump: true, bumpRevision: 0 });
    assert.ok(!zero.args.includes('--bump-revision') && !zero.args.includes('--mark-compacted'));
    assert.equal(zero.bumped, 0);
    const old = restoreInvocation({ ...base, etcdutl: false, supportsBump: false, bumpRevision: DEFAULT_BUMP_REVISION });
    assert.ok(!old.args.includes('--bump-revision'));
    assert.deepEqual(old.env, { ETCDCTL_API: '3' });
    assert.match(old.warning ?? '', /cannot bump the revision.*restart every client that watches/);
  });
});
