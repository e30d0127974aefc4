/**
 * The same walkthrough on hosts that boot real systemd as PID 1 (systemd-nspawn): the unit is accepted by systemd,
 * Type=notify start, enable, and a rebooted host's member comes back with its data without anyone running etcdadm.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NspawnLab, ok } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

let lab: NspawnLab;
before(async () => {
  lab = await NspawnLab.up(4);
});
after(async () => {
  await lab?.down();
});

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const url = (i: number) => `https://${lab.ip(i)}:2379`;

async function waitHealthy(i: number, timeoutMs: number): Promise<void> {
  await waitFor(async () => (await lab.etcdctl(i, ['endpoint', 'health'])).code === 0, { timeoutMs, intervalMs: 300, what: `etcd on ${lab.hostname(i)} to be healthy` });
}

describe('real systemd', () => {
  it('init leaves etcd.service active and enabled; two hosts join', async () => {
    ok(await lab.etcdadm(1, ['init', ...R]), 'init');
    assert.equal(ok(await lab.on(1, ['systemctl', 'is-active', 'etcd.service'])).stdout.trim(), 'active');
    assert.equal(ok(await lab.on(1, ['systemctl', 'is-enabled', 'etcd.service'])).stdout.trim(), 'enabled');
    const props = ok(await lab.on(1, ['systemctl', 'show', 'etcd.service', '-p', 'Type,Restart,Nice,LimitNOFILE,IOSchedulingClass'])).stdout;
    for (const p of ['Type=notify', 'Restart=on-failure', 'Nice=-10', 'LimitNOFILE=65536']) assert.ok(props.includes(p), `${p} in\n${props}`);
    for (const i of [2, 3]) {
      await lab.copyCA(1, i);
      ok(await lab.etcdadm(i, ['join', url(1), ...R]), `join ehost${i}`);
    }
    const health = ok(await lab.etcdctl(1, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
    ok(await lab.etcdctl(1, ['put', 'survives', 'reboot']));
  });

  it('a rebooted host comes back healthy with its data, without etcdadm', async () => {
    const idBefore = ok(await lab.etcdadm(1, ['info'])).stdout;
    await lab.reboot(1);
    await waitHealthy(1, 60_000);
    assert.equal(ok(await lab.on(1, ['systemctl', 'is-active', 'etcd.service'])).stdout.trim(), 'active');
    assert.equal(ok(await lab.etcdctl(1, ['get', 'survives', '--print-value-only'])).stdout.trim(), 'reboot');
    assert.equal(JSON.parse(ok(await lab.etcdadm(1, ['info'])).stdout).id, JSON.parse(idBefore).id, 'same member after the reboot');
    const health = ok(await lab.etcdctl(2, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
  });

  it('systemd restarts etcd after a crash (Restart=on-failure)', async () => {
    const pid = ok(await lab.on(2, ['systemctl', 'show', '-p', 'MainPID', '--value', 'etcd.service'])).stdout.trim();
    ok(await lab.on(2, ['kill', '-9', pid]));
    // RestartSec=5s: wait for systemd to start a new etcd, then for it to serve
    const newPid = await waitFor(
      async () => {
        const p = ok(await lab.on(2, ['systemctl', 'show', '-p', 'MainPID', '--value', 'etcd.service'])).stdout.trim();
        return p !== '0' && p !== pid ? p : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'systemd to restart etcd' },
    );
    await waitHealthy(2, 30_000);
    assert.notEqual(newPid, pid);
  });

  it('a cold restart of every member at once (all hosts rebooted together) comes back healthy by itself', async () => {
    await Promise.all([1, 2, 3].map((i) => lab.reboot(i)));
    await waitHealthy(1, 120_000);
    const health = await waitFor(
      async () => {
        const r = await lab.etcdctl(1, ['endpoint', 'health', '--cluster']);
        return (r.stdout + r.stderr).match(/is healthy/g)?.length === 3 ? r : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'all three members healthy after the cold start' },
    );
    assert.ok(health);
    assert.equal(ok(await lab.etcdctl(2, ['get', 'survives', '--print-value-only'])).stdout.trim(), 'reboot');
  });

  it('upgrade apply to 3.7.3 member by member under real systemd: each member comes back active, enabled, on 3.7.3', async () => {
    const plan = JSON.parse(ok(await lab.etcdadm(1, ['upgrade', 'plan', '--version', '3.7.3', '-o', 'json', ...R])).stdout) as { plan: { blockers: unknown[]; steps: { member: string }[] } };
    assert.deepEqual(plan.plan.blockers, []);
    for (const s of plan.plan.steps) {
      const i = Number(/(\d+)$/.exec(s.member)![1]);
      ok(await lab.etcdadm(i, ['upgrade', 'apply', '--version', '3.7.3', ...R], 180_000), `upgrade apply on ${s.member}`);
      assert.equal(ok(await lab.on(i, ['systemctl', 'is-active', 'etcd.service'])).stdout.trim(), 'active');
      assert.equal(ok(await lab.on(i, ['systemctl', 'is-enabled', 'etcd.service'])).stdout.trim(), 'enabled');
    }
    const status = JSON.parse(ok(await lab.etcdadm(2, ['status', '-o', 'json'])).stdout) as { health: string; members: { version: string }[] };
    assert.equal(status.health, 'healthy');
    assert.deepEqual(status.members.map((m) => m.version), ['3.7.3', '3.7.3', '3.7.3']);
    assert.equal(ok(await lab.etcdctl(2, ['get', 'survives', '--print-value-only'])).stdout.trim(), 'reboot');
  });

  it('reset stops and disables the unit, then removes it', async () => {
    ok(await lab.etcdadm(3, ['reset', 'phase', 'remove-member']), 'reset phase remove-member');
    ok(await lab.etcdadm(3, ['reset', 'phase', 'stop']), 'reset phase stop');
    assert.equal((await lab.on(3, ['systemctl', 'is-active', 'etcd.service'])).stdout.trim(), 'inactive');
    assert.equal((await lab.on(3, ['systemctl', 'is-enabled', 'etcd.service'])).stdout.trim(), 'disabled');
    ok(await lab.etcdadm(3, ['reset', 'phase', 'cleanup']), 'reset phase cleanup');
    const unit = await lab.on(3, ['systemctl', 'list-unit-files', '--no-legend', 'etcd.service']);
    assert.equal(unit.stdout.trim(), '', 'no etcd.service unit file any more');
    assert.deepEqual(await lab.etcdProcesses(3), []);
  });

  it('with service.user etcd: etcd runs as etcd, owns its data dir and its own keys (0600); the CA key stays root\'s', async () => {
    const doc = 'apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\nservice:\n  user: etcd\n';
    ok(await lab.sh(4, `printf '${doc}' > /root/etcdadm.yaml`));
    ok(await lab.etcdadm(4, ['init', '--config', '/root/etcdadm.yaml', ...R]), 'init as etcd');
    const pid = ok(await lab.on(4, ['systemctl', 'show', '-p', 'MainPID', '--value', 'etcd.service'])).stdout.trim();
    assert.equal(ok(await lab.on(4, ['ps', '-o', 'user=', '-p', pid])).stdout.trim(), 'etcd');
    assert.equal(ok(await lab.on(4, ['stat', '-c', '%U %a', '/var/lib/etcd'])).stdout.trim(), 'etcd 700');
    const keys = ok(await lab.sh(4, 'stat -c "%n %U:%G %a" /etc/etcd/pki /etc/etcd/pki/*')).stdout.trim().split('\n');
    assert.deepEqual(keys, [
      '/etc/etcd/pki root:etcd 710',
      '/etc/etcd/pki/apiserver-etcd-client.crt root:root 644',
      '/etc/etcd/pki/apiserver-etcd-client.key root:root 600',
      '/etc/etcd/pki/ca.crt root:root 644',
      '/etc/etcd/pki/ca.key root:root 600',
      '/etc/etcd/pki/etcdctl-etcd-client.crt root:root 644',
      '/etc/etcd/pki/etcdctl-etcd-client.key root:root 600',
      '/etc/etcd/pki/peer.crt root:root 644',
      '/etc/etcd/pki/peer.key root:etcd 640',
      '/etc/etcd/pki/server.crt root:root 644',
      '/etc/etcd/pki/server.key root:etcd 640',
    ]);
    ok(await lab.etcdctl(4, ['endpoint', 'health']));
    // the service user can read what etcd needs, and replace nothing: not the CA (a forged one would go into bundles)
    const as = (cmd: string) => lab.on(4, ['setpriv', '--reuid=etcd', '--regid=etcd', '--init-groups', 'sh', '-c', cmd]);
    assert.equal((await as('cat /etc/etcd/pki/server.key /etc/etcd/pki/peer.key /etc/etcd/pki/ca.crt > /dev/null')).code, 0, 'etcd reads its keys and the CA certificate');
    for (const attack of ['cat /etc/etcd/pki/ca.key', 'ls /etc/etcd/pki', 'cp /etc/etcd/pki/ca.crt /etc/etcd/pki/ca.key.new', 'mv /etc/etcd/pki/ca.crt /etc/etcd/pki/x', 'echo forged > /etc/etcd/pki/ca.crt', 'cat /etc/etcd/pki/etcdctl-etcd-client.key'])
      assert.notEqual((await as(attack)).code, 0, `the service user must not: ${attack}`);
  });

  it('reset of a member that runs as etcd leaves nothing of it (its data moved aside: the last member)', async () => {
    const r = ok(await lab.etcdadm(4, ['reset', '--force']), 'reset --force');
    assert.match(r.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\.bak-/);
    assert.deepEqual(await lab.etcdProcesses(4), []);
    const left = ok(await lab.sh(4, 'ls /etc/etcd /etc/systemd/system/etcd.service /var/lib/etcd /opt/bin/etcd 2>&1; true')).stdout;
    assert.equal(left.match(/No such file/g)?.length, 4, left);
    assert.equal(ok(await lab.sh(4, 'stat -c %U /var/lib/etcd.bak-*')).stdout.trim(), 'etcd', 'its data, still its own');
  });
});
