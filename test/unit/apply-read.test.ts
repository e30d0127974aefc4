/**
 * The read commands with `-f cluster.yaml` (src/apply/read.ts), their pure parts: which host's answer is shown, the
 * one line when none answers, every host's certificates merged with check-expiration's exit codes, and where a
 * snapshot copied from a host goes on this machine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseAnswer, localSnapshotPath, mergeExpirations, noAnswer, snapshotDestination, type Attempt } from '../../src/apply/read.js';
import type { CertExpiry, ExpirationReport, ExpiryState } from '../../src/pki/expiry.js';

const STATUS = { accept: [0, 3], fallback: [4] };
const ran = (host: string, code: number, value?: unknown, why = `exit ${code}`): Attempt => ({ host, code, ...(value !== undefined ? { value } : {}), why });
const down = (host: string, hint?: string): Attempt => ({ host, unreachable: `SSH to root@${host}:22 failed: connection refused`, ...(hint ? { hint } : {}) });

const cert = (name: string, state: ExpiryState): CertExpiry => ({ name, path: `/etc/etcd/pki/${name}.crt`, expires: '2030-01-01T00:00:00.000Z', residualSeconds: 1000, authority: 'ca', serial: '01', subject: `CN=${name}`, sans: [], state });
const report = (...states: ExpiryState[]): ExpirationReport => ({
  certsDir: '/etc/etcd/pki',
  renewBeforeDays: 30,
  certificates: states.map((s, i) => cert(i === 0 ? 'ca' : `leaf${i}`, s)),
  trustedCAs: [],
  rotation: 'none',
});

describe('read commands with -f: the host whose answer is shown', () => {
  it('the first host that answers, in the file order; unreachable hosts and failures before it are passed over', () => {
    const attempts = [down('ehost1'), ran('ehost2', 1, undefined, 'no member answers'), ran('ehost3', 3, { health: 'degraded' })];
    assert.equal(chooseAnswer(attempts, STATUS, false)?.host, 'ehost3');
    assert.equal(chooseAnswer([ran('ehost1', 0, { a: 1 }), ran('ehost2', 0, { a: 2 })], STATUS, false)?.host, 'ehost1');
  });

  it('an accepted exit code without output is no answer', () => {
    assert.equal(chooseAnswer([ran('ehost1', 0)], STATUS, true), undefined);
  });

  it('an unavailable cluster (status 4 with its output) is shown only once every host was asked and none did better', () => {
    const first = [ran('ehost1', 4, { health: 'unavailable' })];
    assert.equal(chooseAnswer(first, STATUS, false), undefined, 'ask the next host first');
    assert.equal(chooseAnswer(first, STATUS, true)?.host, 'ehost1');
    assert.equal(chooseAnswer([...first, ran('ehost2', 0, { health: 'healthy' })], STATUS, true)?.host, 'ehost2');
    assert.equal(chooseAnswer(first, { accept: [0, 3] }, true), undefined, 'upgrade plan has no fallback');
  });

  it('none answers: one line naming every host and why, the first hint, the fallback exit code when a host gave one', () => {
    const e = noAnswer([down('ehost1', 'run etcdadm apply -f with this file first'), ran('ehost2', 4, undefined, 'no etcd member answers')], STATUS, 'etcdadm status -o json', 'cluster.yaml');
    assert.equal(e.message, 'no host of cluster.yaml answers etcdadm status -o json (ehost1: SSH to root@ehost1:22 failed: connection refused; ehost2: no etcd member answers)');
    assert.equal(e.hint, 'run etcdadm apply -f with this file first');
    assert.equal(e.exitCode, 4);
    assert.equal(noAnswer([down('ehost1')], { accept: [0, 3] }, 'etcdadm upgrade plan -o json', 'c.yaml').exitCode, 1);
    assert.match(noAnswer([], STATUS, 'x', 'c.yaml').message, /\(it names no host\)$/);
  });
});

describe('certs check-expiration -f: every host merged', () => {
  it("each host's report under its name, in the file's order; exit 0 when all are fine", () => {
    const m = mergeExpirations([ran('ehost1', 0, report('ok', 'ok')), ran('ehost2', 0, report('ok', 'ok'))]);
    assert.deepEqual(Object.keys(m.hosts), ['ehost1', 'ehost2']);
    assert.deepEqual(m.hosts.ehost2, report('ok', 'ok'));
    assert.deepEqual(m.unchecked, []);
    assert.equal(m.exitCode, 0);
  });

  it('the worst across hosts: 3 when one host has a certificate due, 4 when one has an expired or missing one', () => {
    assert.equal(mergeExpirations([ran('a', 0, report('ok')), ran('b', 3, report('ok', 'renew'))]).exitCode, 3);
    assert.equal(mergeExpirations([ran('a', 4, report('ok', 'missing')), ran('b', 3, report('renew'))]).exitCode, 4);
    assert.equal(mergeExpirations([ran('a', 4, report('expired'))]).hosts.a?.certificates[0]?.state, 'expired', 'exit 4 still carries the report');
  });

  it('a host that could not be checked is listed with why, and makes the exit 1 unless a certificate is expired or missing (4)', () => {
    const m = mergeExpirations([ran('a', 3, report('renew')), down('b'), ran('c', 2, undefined, 'there is no certificates directory /etc/etcd/pki')]);
    assert.deepEqual(Object.keys(m.hosts), ['a']);
    assert.deepEqual(m.unchecked, [
      { host: 'b', why: 'SSH to root@b:22 failed: connection refused' },
      { host: 'c', why: 'there is no certificates directory /etc/etcd/pki' },
    ]);
    assert.equal(m.exitCode, 1);
    assert.equal(mergeExpirations([ran('a', 4, report('missing')), down('b')]).exitCode, 4);
  });

  it('output that is not a report is not one', () => {
    assert.deepEqual(Object.keys(mergeExpirations([ran('a', 0, { something: 'else' })]).hosts), []);
  });
});

describe('snapshot save -f: where the copy goes on this machine', () => {
  const remote = '/var/backups/etcdadm/.operator-Ab12Cd/etcd-snapshot-ehost1-20261201T120000.000Z.db';

  it("by default the working directory, under the name the host's etcdadm gave it (the local command's pattern)", () => {
    assert.equal(localSnapshotPath(snapshotDestination({}, '/home/op'), remote), '/home/op/etcd-snapshot-ehost1-20261201T120000.000Z.db');
  });

  it('--dir (relative to the working directory) and --output (the file itself)', () => {
    assert.equal(localSnapshotPath(snapshotDestination({ dir: 'backups' }, '/home/op'), remote), '/home/op/backups/etcd-snapshot-ehost1-20261201T120000.000Z.db');
    assert.deepEqual(snapshotDestination({ output: '/srv/before-upgrade.db' }, '/home/op'), { dir: '/srv', output: '/srv/before-upgrade.db' });
    assert.equal(localSnapshotPath(snapshotDestination({ output: 'x.db' }, '/home/op'), remote), '/home/op/x.db');
  });

  it('--dir and --output together: exit 2', () => {
    assert.throws(() => snapshotDestination({ dir: 'a', output: 'b' }, '/'), (e: Error & { exitCode?: number }) => e.exitCode === 2 && /--dir or --output, not both/.test(e.message));
  });

  it('a name the host gives that is not a snapshot name is refused (never a hidden file or another kind of name)', () => {
    for (const bad of ['/tmp/x/.bashrc', '/tmp/x/etcd-snapshot-..-20261201T120000.000Z.db', '/tmp/x/snapshot.db', '/tmp/x/']) {
      assert.throws(() => localSnapshotPath({ dir: '/home/op' }, bad), /not a snapshot file name/, bad);
    }
  });
});

describe('certs check-expiration -f: one table', () => {
  it("a HOST column first, each host's rows, then each host's trusted CAs and CA rotation; without hosts the local table as it was", async () => {
    const { expirationTable } = await import('../../src/cli/commands/certs.js');
    const withCA = { ...report('ok', 'ok'), trustedCAs: [{ ca: 'etcd-ca-1a2b', fingerprint: 'ff', expires: '2035-01-01T00:00:00.000Z', signing: true }] };
    const lines = expirationTable([{ host: 'ehost1', report: withCA }, { host: 'ehost2', report: withCA }], false).split('\n');
    assert.match(lines[1]!, /^\|\s+HOST\s+\|\s+CERTIFICATE\s+\|\s+EXPIRES\s+\|/);
    assert.equal(lines.filter((l) => /^\|\s+ehost\d \|\s+(ca|leaf1) \|/.test(l)).length, 4);
    assert.deepEqual(lines.slice(-4), [
      'ehost1: Trusted CAs (/etc/etcd/pki/ca.crt): etcd-ca-1a2b [signs]',
      'ehost1: CA rotation: none under way',
      'ehost2: Trusted CAs (/etc/etcd/pki/ca.crt): etcd-ca-1a2b [signs]',
      'ehost2: CA rotation: none under way',
    ]);
    const one = expirationTable([{ report: withCA }], true).split('\n');
    assert.match(one[1]!, /^\|\s+CERTIFICATE\s+\|.*\|\s+SANS\s+\|$/);
    assert.deepEqual(one.slice(-2), ['Trusted CAs (/etc/etcd/pki/ca.crt): etcd-ca-1a2b [signs]', 'CA rotation: none under way']);
  });
});

describe("apply's release cache on the operator's machine", () => {
  it('per user: $XDG_CACHE_HOME when it is an absolute path, else ~/.cache', async () => {
    const { operatorCacheDir } = await import('../../src/apply/release.js');
    assert.equal(operatorCacheDir({ XDG_CACHE_HOME: '/srv/cache' }, '/home/ops'), '/srv/cache/etcdadm/etcd');
    assert.equal(operatorCacheDir({ XDG_CACHE_HOME: 'relative' }, '/home/ops'), '/home/ops/.cache/etcdadm/etcd', 'a relative one is ignored, as the XDG spec says');
    assert.equal(operatorCacheDir({}, '/root'), '/root/.cache/etcdadm/etcd');
  });
});
