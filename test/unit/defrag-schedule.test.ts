/**
 * The rolling defrag on a timer and its one-run-per-cluster guarantee (src/phases/defrag-schedule.ts,
 * src/cluster/lock.ts, the defrag decision of src/phases/maintenance.ts): the schedule from flags over the
 * configuration, the units and what their service runs, the record entry, the configuration fields; the lock's
 * holder, what a run does while another host holds it, and the lock against a stand-in etcd client (taken by exactly
 * one of two hosts, renewed through the members that answer, lost when its lease is gone, released by revoking it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFRAG_LOCK, acquireLock, describeHolder, parseHolder, selfHolder, type LockHolder } from '../../src/cluster/lock.js';
import type { MemberStatus } from '../../src/cluster/status.js';
import { DEFAULT_DOCUMENT_VALUES } from '../../src/config/document.js';
import { ConfigFileError, defaultsDocument, parseConfigText } from '../../src/config/file.js';
import type { EtcdClient } from '../../src/etcd/client.js';
import { EtcdadmError } from '../../src/errors.js';
import { LocalHost } from '../../src/host/local.js';
import { HostRecord } from '../../src/host/record.js';
import { Logger } from '../../src/log/logger.js';
import { DEFRAG_UNITS, defragArgs, defragScheduleRecord, defragUnitFiles, formatThreshold, resolveDefragSchedule } from '../../src/phases/defrag-schedule.js';
import { decideDefrag, lockBusy } from '../../src/phases/maintenance.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

const tmp = mkdtempSync(join(tmpdir(), 'etcdadm-defrag-schedule-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const config = DEFAULT_DOCUMENT_VALUES.defrag;
const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });

const exit2 = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof EtcdadmError && e.exitCode === 2 && message.test(e.message));

describe('defrag --schedule: the schedule, the units, the record', () => {
  it('the interval and threshold from the flags over defrag.every/threshold, normalized; the calendar is the backups\'', () => {
    assert.deepEqual(resolveDefragSchedule({ every: '24h' }, config), { every: '1d', threshold: '20%', onCalendar: '*-*-* 00:00:00 UTC', randomizedDelaySec: 900 });
    assert.deepEqual(resolveDefragSchedule({ every: '1h', threshold: '0.35' }, config), { every: '1h', threshold: '35%', onCalendar: '*-*-* *:00:00 UTC', randomizedDelaySec: 360 });
    assert.equal(resolveDefragSchedule({}, { every: '6h', threshold: '12.5%' }).threshold, '12.5%');
    assert.equal(resolveDefragSchedule({ threshold: '40%' }, { every: '7d', threshold: '12.5%' }).every, '7d');
    assert.equal(formatThreshold(0.2), '20%');
    assert.equal(formatThreshold(0), '0%');
  });

  it('refuses before anything changes (exit 2): no interval, one no calendar repeats at, a bad threshold', () => {
    exit2(() => resolveDefragSchedule({}, config), /needs an interval \(or defrag\.every/);
    exit2(() => resolveDefragSchedule({ every: 'soon' }, config), /invalid --schedule "soon"/);
    exit2(() => resolveDefragSchedule({ every: '7h' }, config), /invalid --schedule "7h": 7h does not divide/);
    exit2(() => resolveDefragSchedule({ every: '1d', threshold: '120%' }, config), /invalid --threshold "120%"/);
    exit2(() => resolveDefragSchedule({}, { every: '5h', threshold: '20%' }), /invalid defrag\.every "5h"/);
    exit2(() => resolveDefragSchedule({ every: '1d' }, { every: '', threshold: 'lots' }), /invalid defrag\.threshold "lots"/);
  });

  it('the service runs the rolling defrag of every member at the threshold, as the timer\'s run (% escaped for systemd)', () => {
    assert.deepEqual(defragArgs('20%'), ['defrag', '--all', '--threshold', '20%', '--scheduled']);
    const spec = resolveDefragSchedule({ every: '1d' }, config);
    const [service, timer] = defragUnitFiles(spec, ['/usr/local/bin/etcdadm'], 'etcd.service');
    assert.equal(service!.path, '/etc/systemd/system/etcdadm-defrag.service');
    assert.equal(timer!.path, DEFRAG_UNITS.timerFile);
    assert.match(service!.text, /^ExecStart=\/usr\/local\/bin\/etcdadm defrag --all --threshold "20%%" --scheduled$/m);
    assert.match(service!.text, /^Type=oneshot$/m);
    assert.match(service!.text, /^After=network-online\.target local-fs\.target etcd\.service$/m);
    assert.doesNotMatch(service!.text.split('\n').find((l) => l.startsWith('Description='))!, /%/, 'no specifier in Description=');
    assert.match(timer!.text, /^OnCalendar=\*-\*-\* 00:00:00 UTC$/m);
    assert.match(timer!.text, /^Persistent=true$/m);
    assert.match(timer!.text, /^Unit=etcdadm-defrag\.service$/m);
  });

  it('the record keeps the timer; an unchanged one keeps installedAt; endDefrag removes it', async () => {
    const plan = planOf({ name: 'etcd-a' }, hostFacts([eth0('10.0.0.1')]));
    const path = join(tmp, 'record.yaml');
    const host = new LocalHost();
    const r = await HostRecord.load(host, path);
    await r.begin({ createdBy: 'init', clusterToken: 't', memberName: 'etcd-a', settings: plan.settings });
    const spec = resolveDefragSchedule({ every: '1d' }, config);
    const first = defragScheduleRecord(spec, ['/usr/local/bin/etcdadm'], undefined, new Date('2026-12-01T00:00:00Z'));
    await r.update({ defrag: first, settings: { ...plan.settings, defrag: { every: '1d', threshold: '20%' } } });
    const loaded = await HostRecord.load(host, path);
    assert.deepEqual(loaded.facts?.defrag, first);
    assert.equal(loaded.layer()?.values.defrag?.every, '1d', 'the settings say it too (config view)');
    assert.equal(defragScheduleRecord(spec, ['/usr/local/bin/etcdadm'], first, new Date('2026-12-02T00:00:00Z')).installedAt, first.installedAt);
    assert.equal(defragScheduleRecord({ ...spec, threshold: '30%' }, ['/usr/local/bin/etcdadm'], first, new Date('2026-12-02T00:00:00Z')).installedAt, '2026-12-02T00:00:00.000Z');
    await loaded.update({ endDefrag: true });
    assert.equal((await HostRecord.load(host, path)).facts?.defrag, undefined);
  });

  it('defrag.every and defrag.threshold in a configuration: checked like backup.every; printed in the defaults', () => {
    const doc = (body: string) => `apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\ndefrag:\n${body}`;
    assert.equal(parseConfigText(doc('  every: 1d\n  threshold: "30%"\n'), 'c.yaml').defrag?.every, '1d');
    assert.throws(() => parseConfigText(doc('  every: 7h\n'), 'c.yaml'), (e: unknown) => e instanceof ConfigFileError && /defrag\.every: 7h does not divide/.test(e.message));
    assert.throws(() => parseConfigText(doc('  threshold: "150%"\n'), 'c.yaml'), (e: unknown) => e instanceof ConfigFileError && /defrag\.threshold: must be a share/.test(e.message));
    assert.throws(() => parseConfigText(doc('  evry: 1d\n'), 'c.yaml'), (e: unknown) => e instanceof ConfigFileError && /did you mean "every"/.test(e.message));
    assert.match(defaultsDocument('InitConfiguration'), /\ndefrag:\n(\s+#.*\n)*\s+every: ""\n(\s+#.*\n)*\s+threshold: 20%\n/);
  });
});

// ------------------------------------------------------------------ one run per cluster

const holder: LockHolder = { host: 'ehost1', member: 'ehost1', pid: 42, since: '2026-12-01T00:00:00.000Z', command: 'defrag' };

function member(name: string, over: Partial<MemberStatus> = {}): MemberStatus {
  return {
    name, id: name, peerURLs: [], clientURLs: [`https://${name}:2379`], role: 'follower', isLearner: false, health: 'healthy', endpoint: `https://${name}:2379`,
    version: '3.5.30', dbSize: 100, dbSizeInUse: 50, raftTerm: 2, raftIndex: 10, raftAppliedIndex: 10, alarms: [], error: null, ...over,
  };
}

describe('defrag: one run per cluster at a time', () => {
  it('the holder: written and read back; a value of another shape shown as it is', () => {
    const me = selfHolder('ehost2', 'etcd-b', 'defrag', new Date('2026-12-01T00:00:00Z'));
    assert.deepEqual(parseHolder(JSON.stringify(me)), me);
    assert.equal(describeHolder(holder), 'ehost1 (pid 42, defrag since 2026-12-01T00:00:00.000Z)');
    assert.equal(describeHolder({ ...holder, member: 'etcd-a' }), 'ehost1 (member etcd-a, pid 42, defrag since 2026-12-01T00:00:00.000Z)');
    assert.equal(parseHolder('someone\n').host, 'someone?');
    assert.equal(parseHolder('').host, '(unknown)');
  });

  it('while another host holds the lock: the timer\'s run skips (exit 0), a run by hand is refused naming it', () => {
    assert.deepEqual(lockBusy(holder, true), { kind: 'skip', message: 'another host (ehost1 (pid 42, defrag since 2026-12-01T00:00:00.000Z)) is running the rolling defrag; skipping' });
    const r = lockBusy(holder, false);
    assert.equal(r.kind, 'refuse');
    assert.match(r.message, /^another host \(ehost1 .*\) is running the rolling defrag: one defragmentation at a time per cluster$/);
    assert.match((r as { hint: string }).hint, /\/etcdadm\/locks\/defrag .* within 60 s/);
  });

  it('the decision: the lock held elsewhere wins over any plan; free, the plan as ever', () => {
    const st = { members: [member('a', { role: 'leader', dbSize: 100, dbSizeInUse: 10 }), member('b', { dbSize: 100, dbSizeInUse: 90 })] };
    assert.deepEqual(decideDefrag({ st, holder }, { threshold: 0.2, force: false }), { kind: 'busy', holder });
    const d = decideDefrag({ st }, { threshold: 0.2, force: false });
    assert.equal(d.kind, 'run');
    assert.deepEqual(d.kind === 'run' && d.steps.map((s) => `${s.name}:${s.action}`), ['b:skip', 'a:defrag']);
    assert.deepEqual(decideDefrag({ st, self: 'b' }, { threshold: 0.2, force: false }).kind, 'run');
  });
});

/** A stand-in etcd: one key space and leases, as the lock uses them, with members that may not answer. */
class FakeEtcd {
  keys = new Map<string, { value: string; lease: bigint }>();
  leases = new Map<bigint, number>();
  next = 1n;
  down = new Set<string>();
  renewedVia: string[] = [];
  readonly endpoints = ['https://a:2379', 'https://b:2379', 'https://c:2379'];
  client(): EtcdClient {
    return {
      endpoints: this.endpoints,
      leaseGrant: async (ttl: number) => {
        const id = this.next++;
        this.leases.set(id, ttl);
        return id;
      },
      leaseRevoke: async (id: bigint) => {
        this.leases.delete(id);
        for (const [k, v] of this.keys) if (v.lease === id) this.keys.delete(k);
      },
      createIfAbsent: async (key: string, value: string, lease: bigint) => {
        const cur = this.keys.get(key);
        if (cur) return { created: false, value: cur.value };
        this.keys.set(key, { value, lease });
        return { created: true };
      },
      leaseKeepAliveOnce: async (id: bigint, endpoint: string) => {
        if (this.down.has(endpoint)) throw new Error(`${endpoint} does not answer`);
        this.renewedVia.push(endpoint);
        return this.leases.get(id) ?? 0;
      },
    } as unknown as EtcdClient;
  }
}

describe('the cluster lock against a stand-in etcd', () => {
  it('two hosts at once: exactly one takes it, the other is told who holds it and its lease is revoked', async () => {
    const etcd = new FakeEtcd();
    const [one, two] = await Promise.all([
      acquireLock(etcd.client(), DEFRAG_LOCK, { ...holder, host: 'ehost1' }, quiet),
      acquireLock(etcd.client(), DEFRAG_LOCK, { ...holder, host: 'ehost2' }, quiet),
    ]);
    assert.deepEqual([one.kind, two.kind].sort(), ['busy', 'held']);
    const busy = (one.kind === 'busy' ? one : two) as { holder: LockHolder };
    const held = (one.kind === 'held' ? one : two) as Extract<typeof one, { kind: 'held' }>;
    assert.equal(busy.holder.host, 'ehost1');
    assert.equal(etcd.leases.size, 1, "the loser's lease is revoked");
    await held.lock.release();
    assert.equal(etcd.keys.size, 0, 'released: the key went with its lease');
    const again = await acquireLock(etcd.client(), DEFRAG_LOCK, { ...holder, host: 'ehost2' }, quiet);
    assert.equal(again.kind, 'held', 'free again after the release');
    if (again.kind === 'held') await again.lock.release();
  });

  it('renewed through the first member that answers; a lease that is gone stops the run before its next member', async () => {
    const etcd = new FakeEtcd();
    const r = await acquireLock(etcd.client(), DEFRAG_LOCK, holder, quiet);
    assert.equal(r.kind, 'held');
    if (r.kind !== 'held') return;
    etcd.down.add('https://a:2379'); // the member being defragmented answers nothing
    assert.equal(await r.lock.renew(), 60);
    assert.deepEqual(etcd.renewedVia, ['https://b:2379']);
    await r.lock.check();
    assert.deepEqual(etcd.renewedVia, ['https://b:2379', 'https://b:2379'], 'the one that answered last first');
    etcd.leases.delete(r.lock.lease); // expired
    await assert.rejects(r.lock.check(), /lost the cluster lock \/etcdadm\/locks\/defrag: its lease [0-9a-f]+ expired or was revoked; stopping before the next member/);
    await r.lock.release();
  });

  it('no member answering: the lock is held until its TTL has passed since the last renewal, then lost', async () => {
    const etcd = new FakeEtcd();
    const r = await acquireLock(etcd.client(), DEFRAG_LOCK, holder, quiet, 1);
    assert.equal(r.kind, 'held');
    if (r.kind !== 'held') return;
    for (const e of etcd.endpoints) etcd.down.add(e);
    assert.ok((await r.lock.renew()) >= 0, 'within its TTL: not lost yet');
    await new Promise((res) => setTimeout(res, 1100));
    await assert.rejects(r.lock.check(), /no member renewed its lease for 1 s/);
    await r.lock.release();
  });
});
