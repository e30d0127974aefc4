import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pruneDecision, snapshotName } from '../../src/snapshot/catalog.js';
import { snapshotTarget } from '../../src/phases/snapshot.js';
import { NO_OPTIONS } from '../../src/run/context.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

describe('snapshot decisions', () => {
  const plan = planOf({ name: 'node-a' }, hostFacts([eth0('10.0.0.5')]));
  const now = new Date('2026-12-01T12:34:56.789Z');
  it('names say whose and when, and sort by time', () => {
    assert.equal(snapshotName('node-a', now), 'etcd-snapshot-node-a-20261201T123456.789Z.db');
    assert.ok(snapshotName('a', new Date('2026-12-01T09:00:00.000Z')) < snapshotName('a', new Date('2026-12-01T10:00:00.000Z')));
  });
  it('the target: the backup dir and the local member by default; --dir, --output, --endpoint; not --dir with --output', () => {
    assert.deepEqual(snapshotTarget(plan, NO_OPTIONS, 'node-a', now), { path: '/var/backups/etcdadm/etcd-snapshot-node-a-20261201T123456.789Z.db', endpoint: plan.member.urls.localClient });
    assert.equal(snapshotTarget(plan, { ...NO_OPTIONS, snapshotTo: { dir: '/srv/b' } }, 'node-a', now).path, '/srv/b/etcd-snapshot-node-a-20261201T123456.789Z.db');
    assert.deepEqual(snapshotTarget(plan, { ...NO_OPTIONS, snapshotTo: { output: '/root/x.db', endpoint: 'https://10.0.0.6:2379' } }, 'node-a', now), { path: '/root/x.db', endpoint: 'https://10.0.0.6:2379' });
    assert.throws(() => snapshotTarget(plan, { ...NO_OPTIONS, snapshotTo: { dir: '/a', output: '/b' } }, 'node-a'), /--dir or --output, not both/);
  });
  it('prune keeps the newest N and never the last one', () => {
    assert.deepEqual(pruneDecision(['n1', 'n2', 'n3', 'n4'], 2), ['n3', 'n4']);
    assert.deepEqual(pruneDecision(['n1'], 1), []);
    assert.deepEqual(pruneDecision(['n1', 'n2'], 0), ['n2']);
    assert.deepEqual(pruneDecision([], 3), []);
  });
});
