import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveMemberPlan } from '../../src/config/resolve.js';
import { EtcdadmError } from '../../src/errors.js';
import { readState, stateFromPlan, writeState } from '../../src/host/state.js';

const dir = mkdtempSync(join(tmpdir(), 'etcdadm-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const plan = resolveMemberPlan(
  { name: 'etcd-a', dataDir: '/srv/etcd' },
  { hostname: 'h', addresses: [{ iface: 'eth0', address: '10.0.0.1', family: 4, internal: false }], defaultRouteIfaces: [], cpus: 1 },
);

describe('the host record', () => {
  it('round-trips the plan\'s facts and settings, written 0600', async () => {
    const path = join(dir, 'ok.yaml');
    await writeState(path, stateFromPlan(plan, { createdBy: 'init', clusterToken: 'etcd-1', memberId: 'abc', complete: true }));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const s = await readState(path);
    assert.equal(s?.dataDir, '/srv/etcd');
    assert.equal(s?.memberId, 'abc');
    assert.equal(s?.complete, true);
    assert.deepEqual(s?.settings, plan.settings);
  });
  it('a hand-edited record that no longer validates is reported, naming the field', async () => {
    const path = join(dir, 'edited.yaml');
    await writeState(path, stateFromPlan(plan, { createdBy: 'join', clusterToken: 'etcd-1' }));
    writeFileSync(path, readFileSync(path, 'utf8').replace('heartbeatInterval: 100', 'heartbeatInterval: 900'));
    await assert.rejects(readState(path), (e: unknown) => e instanceof EtcdadmError && /settings\.etcd\.electionTimeout|settings\.etcd\.heartbeatInterval/.test(e.message));
  });
  it('a file that is not a record is refused', async () => {
    const path = join(dir, 'other.yaml');
    writeFileSync(path, 'kind: Something\n');
    await assert.rejects(readState(path), /not an etcdadm host state document/);
    assert.equal(await readState(join(dir, 'missing.yaml')), undefined);
  });
});
