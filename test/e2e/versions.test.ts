/**
 * Today's etcd as first-class versions, end to end: init + 2 joins on 3.6 (newest) and on 3.7 (newest) run healthy,
 * etcd's own log names no unrecognized and no deprecated flag (etcd.env spells every setting as that version does),
 * the production defaults are what etcd says it runs with, and etcdctl.sh runs without warnings. A join without
 * --version installs the version the cluster runs (3.5.30 here, not the default), and a --version that differs is
 * refused before the host is changed. The three clusters are built concurrently.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULTS } from '../../src/config/defaults.js';
import { MIRROR_URL, NetnsLab, ok, oneErrorLine } from '../helpers/lab.js';

const CURRENT: { version: string; hosts: [number, number, number] }[] = [
  { version: '3.6.16', hosts: [1, 2, 3] },
  { version: '3.7.3', hosts: [4, 5, 6] },
];
/** A 3.5.30 cluster of host 7; host 8 joins it without --version, host 9 tries a different one. */
const OLD = { version: '3.5.30', init: 7, join: 8, refused: 9 };
const RELEASE = ['--release-url', MIRROR_URL, '--insecure-release-url'];
let lab: NetnsLab;
let joinWithoutVersion: string;

before(async () => {
  lab = await NetnsLab.up(9);
  await Promise.all([
    ...CURRENT.map(async ({ version, hosts: [a, b, c] }) => {
      ok(await lab.etcdadm(a, ['init', ...RELEASE, '--version', version]), `init host${a}`);
      await lab.join(b, a, [...RELEASE, '--version', version]);
      await lab.join(c, a, RELEASE); // without --version: the cluster's
    }),
    (async () => {
      ok(await lab.etcdadm(OLD.init, ['init', ...RELEASE, '--version', OLD.version]), `init host${OLD.init}`);
      const r = await lab.join(OLD.join, OLD.init, RELEASE);
      joinWithoutVersion = r.stdout + r.stderr;
    })(),
  ]);
});
after(async () => {
  await lab?.down();
});

const etcdLog = async (i: number) => ok(await lab.on(i, ['cat', '/var/log/journal/etcd.service.log'])).stdout;

/** The JSON object of etcd's "starting an etcd server" line in its log on host i. */
async function startupFields(i: number): Promise<Record<string, unknown>> {
  const log = await etcdLog(i);
  const line = log.split('\n').reverse().find((l) => l.includes('"msg":"starting an etcd server"'));
  assert.ok(line, `etcd logged its configuration:\n${log.slice(0, 2000)}`);
  return JSON.parse(line!.slice(line!.indexOf('{'))) as Record<string, unknown>;
}

for (const { version, hosts } of CURRENT) {
  describe(`etcd ${version}: init + 2 joins`, () => {
    it('all three members run that version and the cluster is healthy', async () => {
      const health = ok(await lab.etcdctl(hosts[0], ['endpoint', 'health', '--cluster']));
      assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3, health.stdout + health.stderr);
      const status = JSON.parse(ok(await lab.etcdadm(hosts[2], ['status', '-o', 'json'])).stdout) as { health: string; version: string; members: { version: string }[] };
      assert.equal(status.health, 'healthy');
      assert.equal(status.version, version);
      assert.deepEqual(status.members.map((m) => m.version), [version, version, version]);
      assert.match(ok(await lab.on(hosts[2], ['/opt/bin/etcd', '--version'])).stdout, new RegExp(`etcd Version: ${version.replace(/\./g, '\\.')}`), 'the join without --version installed the cluster\'s version');
    });

    it("etcd's log on every member names no unrecognized and no deprecated flag", async () => {
      for (const h of hosts) {
        const log = await etcdLog(h);
        assert.ok(log.includes('"msg":"starting an etcd server"'), `host${h} has etcd's log`);
        const bad = log.split('\n').filter((l) => /unrecognized|deprecated/i.test(l));
        assert.deepEqual(bad, [], `host${h}: ${bad.join('\n')}`);
      }
    });

    it("runs with the production defaults, as etcd's own startup log says (corruption checks through feature gates)", async () => {
      const f = await startupFields(hosts[1]);
      assert.equal(f['etcd-version'], version);
      assert.equal(f['heartbeat-interval'], '100ms');
      assert.equal(f['election-timeout'], '1s');
      assert.equal(f['corrupt-check-time-interval'], '5m0s');
      assert.equal(f['quota-backend-bytes'], 2147483648);
      assert.deepEqual(String(f['feature-gates']).split(',').sort(), ['CompactHashCheck=true', 'InitialCorruptCheck=true']);
      assert.deepEqual(f['listen-metrics-urls'], ['http://127.0.0.1:2381']);
    });

    it('etcdctl.sh works without a warning (no ETCDCTL_API for etcdctl 3.6+)', async () => {
      const r = ok(await lab.etcdctl(hosts[1], ['put', `/versions/${version}`, 'ok']));
      assert.equal(r.stderr, '');
      assert.equal(ok(await lab.etcdctl(hosts[2], ['get', '--print-value-only', `/versions/${version}`])).stdout.trim(), 'ok');
      assert.doesNotMatch(ok(await lab.on(hosts[1], ['cat', '/etc/etcd/etcdctl.env'])).stdout, /ETCDCTL_API/);
    });

    it('member list and reset work as on 3.5: the reset member leaves, the other two stay healthy', async () => {
      const list = JSON.parse(ok(await lab.etcdadm(hosts[0], ['member', 'list', '-o', 'json'])).stdout) as { members: { name: string }[] };
      const names = list.members.map((m) => m.name).sort();
      assert.deepEqual(names, hosts.map((h) => lab.hostname(h)).sort());
      ok(await lab.etcdadm(hosts[2], ['reset']), `reset host${hosts[2]}`);
      assert.equal((await lab.on(hosts[2], ['test', '-e', '/var/lib/etcd'])).code, 1, 'data dir removed');
      const status = JSON.parse(ok(await lab.etcdadm(hosts[0], ['status', '-o', 'json'])).stdout) as { health: string; members: unknown[] };
      assert.equal(status.health, 'healthy');
      assert.equal(status.members.length, 2);
    });
  });
}

describe(`a join into a ${OLD.version} cluster`, () => {
  it(`without --version installs ${OLD.version}, not the default ${DEFAULTS.etcdVersion}`, async () => {
    assert.notEqual(OLD.version, DEFAULTS.etcdVersion);
    assert.match(joinWithoutVersion, /the cluster runs etcd 3\.5\.30: installing etcd 3\.5\.30/);
    assert.match(ok(await lab.on(OLD.join, ['/opt/bin/etcd', '--version'])).stdout, /etcd Version: 3\.5\.30/);
    const status = JSON.parse(ok(await lab.etcdadm(OLD.join, ['status', '-o', 'json'])).stdout) as { health: string; mixedVersions: boolean; members: unknown[] };
    assert.equal(status.health, 'healthy');
    assert.equal(status.mixedVersions, false);
    assert.equal(status.members.length, 2);
    assert.match(ok(await lab.on(OLD.join, ['cat', '/etc/etcd/etcdctl.env'])).stdout, /^export ETCDCTL_API=3$/m);
  });

  it('with a different --version is refused before the host is changed', async () => {
    await lab.copyCA(OLD.init, OLD.refused);
    const r = await lab.etcdadm(OLD.refused, ['join', `https://${lab.ip(OLD.init)}:2379`, ...RELEASE, '--version', '3.6.16']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(oneErrorLine(r, /mixed-version/), /the cluster runs etcd 3\.5\.30; joining with --version 3\.6\.16 would make it a mixed-version cluster/);
    assert.equal((await lab.on(OLD.refused, ['test', '-e', '/opt/bin/etcd'])).code, 1, 'nothing installed');
    assert.equal((await lab.on(OLD.refused, ['test', '-e', '/etc/etcd/etcd.env'])).code, 1, 'nothing configured');
    const list = ok(await lab.etcdctl(OLD.init, ['member', 'list'])).stdout.trim().split('\n');
    assert.equal(list.length, 2, 'no member added');
  });
});
