/**
 * The daily certificate renewal on a host that boots real systemd: init with pki.autoRenew in its configuration
 * installs etcdadm-certs-renew.timer, enabled and armed; the timer's service (started by hand, as the timer would)
 * changes nothing while every certificate is outside pki.renewBeforeDays, and renews exactly the one inside it;
 * --unschedule removes the units and the record entry, --schedule puts them back, reset removes them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NspawnLab, ok } from '../helpers/lab.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const SERVICE = 'etcdadm-certs-renew.service';
const TIMER = 'etcdadm-certs-renew.timer';
let lab: NspawnLab;

before(async () => {
  lab = await NspawnLab.up(1);
});
after(async () => {
  await lab?.down();
});

const systemctl = async (...args: string[]) => (await lab.on(1, ['systemctl', ...args])).stdout.trim();
const serials = async () =>
  ok(await lab.sh(1, 'for c in server peer etcdctl-etcd-client apiserver-etcd-client; do echo "$c $(openssl x509 -noout -serial -in /etc/etcd/pki/$c.crt)"; done')).stdout.trim();
const record = async () => ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;

describe('etcdadm certs renew --schedule on real systemd', () => {
  it('init with pki.autoRenew: the timer is enabled, active and armed daily; the service runs certs renew all --if-due', async () => {
    const doc = 'apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\npki:\n  autoRenew: true\n  renewBeforeDays: 30\n';
    ok(await lab.sh(1, `printf '${doc}' > /root/renew.yaml`));
    const r = ok(await lab.etcdadm(1, ['init', '--config', '/root/renew.yaml', ...R]), 'init --config with pki.autoRenew');
    assert.match(r.stderr, /\[cert-renewal\] Every day the certificates that expire within 30 days are renewed/);
    assert.equal(await systemctl('is-enabled', TIMER), 'enabled');
    assert.equal(await systemctl('is-active', TIMER), 'active');
    assert.match(await systemctl('show', TIMER, '-p', 'TimersCalendar'), /OnCalendar=\*-\*-\* 00:00:00 UTC/);
    const next = await systemctl('show', TIMER, '-p', 'NextElapseUSecRealtime', '--timestamp=utc');
    const at = Date.parse((/(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(next)?.[1] ?? '').replace(' ', 'T') + 'Z');
    assert.ok(at > Date.now() && at - Date.now() <= 25 * 3600_000, `next run within a day and the spread: ${next}`);
    assert.match(await systemctl('cat', SERVICE), /ExecStart=\S+ .*certs renew all --if-due/);
    const rec = await record();
    assert.match(rec, /certRenewal:\n\s+onCalendar: "\*-\*-\* 00:00:00 UTC"/);
    assert.match(rec, /autoRenew: true/);
  });

  it('outside renewBeforeDays the service changes nothing; a certificate inside it is renewed, the others stay', async () => {
    const before = await serials();
    ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), 'a run of the timer');
    assert.equal(await serials(), before, 'nothing renewed');
    assert.match(await systemctl('show', SERVICE, '-p', 'Result'), /Result=success/);

    ok(await lab.etcdadm(1, ['certs', 'renew', 'peer', '--validity', '10d']), 'a peer certificate valid for 10 days');
    assert.equal((await lab.etcdadm(1, ['certs', 'check-expiration'])).code, 3, 'check-expiration: one is due');
    const due = await serials();
    ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), 'a run of the timer');
    const afterRun = await serials();
    const line = (text: string, name: string) => text.split('\n').find((l) => l.startsWith(`${name} `));
    assert.notEqual(line(afterRun, 'peer'), line(due, 'peer'), 'the peer certificate was renewed');
    for (const n of ['server', 'etcdctl-etcd-client', 'apiserver-etcd-client']) assert.equal(line(afterRun, n), line(due, n), `${n} stayed`);
    assert.equal((await lab.etcdadm(1, ['certs', 'check-expiration'])).code, 0, 'every certificate is fine again');
    assert.match(ok(await lab.sh(1, `journalctl -u ${SERVICE} --no-pager -o cat | grep -c 'nothing to renew' || true`)).stdout.trim(), /^[1-9]/);
  });

  it('--unschedule removes the units and the record entry; --schedule puts them back; reset removes them', async () => {
    ok(await lab.etcdadm(1, ['certs', 'renew', '--unschedule']));
    assert.equal(await systemctl('list-unit-files', '--no-legend', 'etcdadm-certs-renew.*'), '');
    const rec = await record();
    assert.doesNotMatch(rec, /certRenewal:/);
    assert.match(rec, /autoRenew: false/);
    ok(await lab.etcdadm(1, ['certs', 'renew', '--schedule']));
    assert.equal(await systemctl('is-enabled', TIMER), 'enabled');
    assert.match(await record(), /certRenewal:/);
    const r = ok(await lab.etcdadm(1, ['reset', '--force']));
    assert.match(r.stderr, /Removed \/etc\/systemd\/system\/etcdadm-certs-renew\.timer/);
    assert.equal(await systemctl('list-unit-files', '--no-legend', 'etcdadm-certs-renew.*'), '');
  });
});
