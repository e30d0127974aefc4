import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolvePlan } from '../../src/config/plan/index.js';
import { EtcdadmError } from '../../src/errors.js';
import { LocalHost } from '../../src/host/local.js';
import { HostRecord, RecordError } from '../../src/host/record.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'etcdadm-record-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const host = new LocalHost();
const facts = hostFacts([eth0('10.0.0.1')]);
const plan = planOf({ name: 'etcd-a', dataDir: '/srv/etcd' }, facts);

async function written(name: string): Promise<string> {
  const path = join(dir, name);
  const r = await HostRecord.load(host, path);
  await r.begin({ createdBy: 'join', clusterToken: 'etcd-1', memberName: plan.member.name, settings: plan.settings });
  await r.update({ memberId: 'abc', addCreatedDirs: ['/srv/etcd'] });
  return path;
}

describe('the host record', () => {
  it("round-trips the plan's facts and settings, written 0600; its settings resolve to the same plan", async () => {
    const path = await written('ok.yaml');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const r = await HostRecord.load(host, path);
    assert.equal(r.facts?.memberId, 'abc');
    assert.equal(r.facts?.complete, false);
    assert.equal(r.created('/srv/etcd'), true);
    assert.equal(r.created('/srv'), false);
    // the recorded settings resolve like a file, on a host whose addresses have changed since
    const again = resolvePlan([r.layer()!], hostFacts([eth0('192.0.2.9')], [], 'renamed-host'));
    assert.deepEqual(again.member, plan.member);
    assert.deepEqual(again.settings, plan.settings);
  });
  it('begin drops the facts of an earlier cluster but keeps the directories etcdadm created', async () => {
    const path = await written('begin.yaml');
    const r = await HostRecord.load(host, path);
    await r.begin({ createdBy: 'init', clusterToken: 'etcd-2', memberName: 'etcd-a', settings: plan.settings });
    const back = await HostRecord.load(host, path);
    assert.equal(back.facts?.memberId, undefined);
    assert.equal(back.facts?.clusterToken, 'etcd-2');
    assert.equal(back.created('/srv/etcd'), true);
  });
  it('a hand-edited record that no longer validates is reported, naming the field', async () => {
    const path = await written('edited.yaml');
    writeFileSync(path, readFileSync(path, 'utf8').replace('heartbeatInterval: 100', 'heartbeatInterval: 900'));
    await assert.rejects(HostRecord.load(host, path), (e: unknown) => e instanceof RecordError && /settings\.etcd\.(electionTimeout|heartbeatInterval)/.test(e.message));
  });
  it('a corrupt or foreign file is always the same one-line error, never treated as absent', async () => {
    const yaml = join(dir, 'broken.yaml');
    writeFileSync(yaml, 'apiVersion: [unclosed\n');
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'kind: Something\n');
    for (const p of [yaml, other])
      await assert.rejects(HostRecord.load(host, p), (e: unknown) => e instanceof EtcdadmError && e.oneLine().startsWith(`the host record ${p} is unusable: `) && !e.oneLine().includes('\n'));
    const missing = await HostRecord.load(host, join(dir, 'missing.yaml'));
    assert.equal(missing.exists, false);
  });
  it('a record of the earlier layout (top-level paths and URLs) resolves to its member', async () => {
    const path = join(dir, 'legacy.yaml');
    writeFileSync(
      path,
      [
        'apiVersion: etcdadm.io/v1alpha1',
        'kind: HostState',
        'createdBy: init',
        'complete: true',
        'clusterToken: etcd-0',
        'memberName: old-a',
        'etcdVersion: 3.4.23',
        'dataDir: /srv/old',
        'certsDir: /etc/etcd/pki',
        'installDir: /opt/bin',
        'initSystem: systemd',
        'urls:',
        '  listenClient: [https://10.0.0.7:2379, https://127.0.0.1:2379]',
        '  advertiseClient: [https://10.0.0.7:2379]',
        '  listenPeer: [https://10.0.0.7:2380]',
        '  advertisePeer: [https://10.0.0.7:2380]',
        '',
      ].join('\n'),
    );
    const r = await HostRecord.load(host, path);
    const p = resolvePlan([r.layer()!], facts);
    assert.equal(p.member.name, 'old-a');
    assert.equal(p.member.dataDir, '/srv/old');
    assert.equal(p.release.version, '3.4.23');
    assert.deepEqual(p.member.urls.advertisePeer, ['https://10.0.0.7:2380']);
  });
});
