import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CertificateInfo } from '../../src/pki/cert.js';
import { expirationExitCode, expiryOf, residualText } from '../../src/pki/expiry.js';
import { copyFileSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reloadAfterRenewal, reloadsLeafCerts } from '../../src/cluster/cert-reload.js';
import { certRenewalRecord, certRenewUnitFiles, CERT_RENEW_UNITS, RENEW_ON_CALENDAR } from '../../src/phases/certs.js';
import { ensurePki, leafRequests, certificateInfo } from '../../src/pki/index.js';
import { checkRenewal, checkValidity, dueLeaves, loadRenewingCA, prepareRenewal, renewNames } from '../../src/pki/renew.js';
import { checkBundle, makeBundle, parseBundle, renderBundle } from '../../src/pki/bundle.js';
import { caLabel, fingerprintOf, pemBlocks, rotationState, trustText } from '../../src/pki/rotation.js';
import { Logger } from '../../src/log/logger.js';
import { pkiSpec } from '../helpers/pki-spec.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();
const now = new Date('2026-12-01T00:00:00Z');
const info = (notAfter: string): CertificateInfo => ({
  subject: 'CN=x', issuer: 'CN=etcd-ca', commonName: 'x', organization: [], notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date(notAfter),
  dnsNames: ['node-a'], ipAddresses: ['10.0.0.5'], serialHex: 'AB', sha256Fingerprint: '', isCA: false, usages: ['server'],
});

describe('certs check-expiration decisions', () => {
  it('ok, inside the renewal window, expired, missing; the authority column', () => {
    const ok = expiryOf({ name: 'server', path: '/p/server.crt', info: info('2027-11-30T00:00:00Z'), signedByCa: true }, now, 30);
    assert.equal(ok.state, 'ok');
    assert.equal(ok.authority, 'ca');
    assert.equal(ok.residualSeconds, 364 * 86400);
    assert.deepEqual(ok.sans, ['node-a', '10.0.0.5']);
    assert.equal(expiryOf({ name: 'peer', path: '', info: info('2026-12-20T00:00:00Z'), signedByCa: true }, now, 30).state, 'renew');
    assert.equal(expiryOf({ name: 'peer', path: '', info: info('2026-11-30T23:59:59Z'), signedByCa: true }, now, 30).state, 'expired');
    assert.equal(expiryOf({ name: 'peer', path: '', problem: 'missing' }, now, 30).state, 'missing');
    const foreign = expiryOf({ name: 'peer', path: '', info: info('2027-11-30T00:00:00Z'), signedByCa: false }, now, 30);
    assert.equal(foreign.authority, 'unknown');
    assert.match(foreign.problem ?? '', /not signed by the ca\.crt/);
    assert.equal(expiryOf({ name: 'ca', path: '', info: info('2036-11-30T00:00:00Z') }, now, 30).authority, '');
  });
  it('exit codes: 0 fine, 3 due for renewal, 4 expired or missing (the worst wins)', () => {
    const r = (notAfter: string) => expiryOf({ name: 'server', path: '', info: info(notAfter), signedByCa: true }, now, 30);
    assert.equal(expirationExitCode([r('2027-11-30T00:00:00Z')]), 0);
    assert.equal(expirationExitCode([r('2027-11-30T00:00:00Z'), r('2026-12-10T00:00:00Z')]), 3);
    assert.equal(expirationExitCode([r('2026-12-10T00:00:00Z'), r('2026-11-01T00:00:00Z')]), 4);
    assert.equal(expirationExitCode([expiryOf({ name: 'peer', path: '', problem: 'missing' }, now, 30)]), 4);
  });
  it("residual time as kubeadm prints it", () => {
    assert.equal(residualText(364 * 86400 + 5), '364d');
    assert.equal(residualText(5 * 3600), '5h');
    assert.equal(residualText(90), '1m');
    assert.equal(residualText(0), '<invalid>');
  });
});


const DAY = 86_400_000;

describe('certs renew decisions', () => {
  it('names: all is the four leaves; one leaf; anything else exit 2', () => {
    assert.deepEqual(renewNames('all'), ['server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client']);
    assert.deepEqual(renewNames('peer'), ['peer']);
    assert.throws(() => renewNames('ca'), (e: Error & { exitCode?: number }) => e.exitCode === 2 && /unknown certificate "ca"/.test(e.message));
  });

  it('validity: the default days, a duration, not a duration, not positive, beyond the CA', () => {
    const ca = new Date(now.getTime() + 1000 * DAY);
    assert.deepEqual(checkValidity(undefined, 365, ca, now), { ms: 365 * DAY });
    assert.deepEqual(checkValidity('90d12h', 365, ca, now), { ms: 90 * DAY + 12 * 3_600_000 });
    assert.match((checkValidity('a year', 365, ca, now) as { problem: string }).problem, /is not a duration/);
    assert.match((checkValidity('0s', 365, ca, now) as { problem: string }).problem, /must be positive/);
    assert.match((checkValidity('1001d', 365, ca, now) as { problem: string }).problem, /ends after the CA, which expires on .* \(1000 days from now\)/);
    assert.deepEqual(checkValidity('1000d', 365, ca, now), { ms: 1000 * DAY });
  });

  it('reload: nothing when etcd presents the new files; restart when down or not serving; graceful when stale or the trust changed', () => {
    const w = { version: '3.5.30', active: true, serving: true, stale: [] as ('server' | 'peer')[] };
    assert.equal(reloadAfterRenewal(w).kind, 'none');
    assert.match(reloadAfterRenewal(w).why, /reads its certificate files at every new TLS connection/);
    assert.equal(reloadAfterRenewal({ ...w, active: false }).kind, 'restart');
    assert.equal(reloadAfterRenewal({ ...w, serving: false }).kind, 'restart');
    assert.equal(reloadAfterRenewal({ ...w, stale: ['peer'] }).kind, 'graceful-restart');
    assert.equal(reloadAfterRenewal({ ...w, trustChanged: true }).kind, 'graceful-restart');
    assert.equal(reloadsLeafCerts('3.4.23'), true);
    assert.equal(reloadsLeafCerts('3.3.27'), false);
    assert.equal(reloadsLeafCerts(undefined), false);
  });

  it('the timer units: daily, spread, the service runs certs renew all --if-due; the record keeps its install time', () => {
    const [svc, timer] = certRenewUnitFiles(['/usr/bin/node', '/opt/etcdadm/main.js'], 30, 'etcd.service');
    assert.equal(svc!.path, CERT_RENEW_UNITS.serviceFile);
    assert.match(svc!.text, /^ExecStart=\/usr\/bin\/node \/opt\/etcdadm\/main\.js certs renew all --if-due$/m);
    assert.match(svc!.text, /^After=.* etcd\.service$/m);
    assert.match(timer!.text, new RegExp(`^OnCalendar=${RENEW_ON_CALENDAR.replace(/\*/g, '\\*')}$`, 'm'));
    assert.match(timer!.text, /^Persistent=true$/m);
    const first = certRenewalRecord(['/e'], undefined, now);
    assert.equal(first.installedAt, now.toISOString());
    assert.equal(certRenewalRecord(['/e'], first, new Date(now.getTime() + DAY)).installedAt, now.toISOString());
    assert.notEqual(certRenewalRecord(['/f'], first, new Date(now.getTime() + DAY)).installedAt, now.toISOString());
  });

  it('a renewal keeps subject, SANs and usages, signs with the CA, refuses a foreign CA; --if-due picks what is due', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-renew-unit-'));
    const other = mkdtempSync(join(tmpdir(), 'etcdadm-renew-other-'));
    try {
      const spec = pkiSpec(dir, { memberName: 'node-a', server: { dnsNames: ['node-a'], ipAddresses: ['10.0.0.5'] } });
      const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });
      await ensurePki(HOST, spec, quiet, { allowCreate: true });
      const input = { host: HOST, certsDir: dir, names: ['server' as const], defaultDays: 365, keyAlgorithm: 'ecdsa-p256' as const, requests: leafRequests(spec) };
      const old = certificateInfo(readFileSync(join(dir, 'server.crt'), 'utf8'));
      const r = await prepareRenewal({ ...input, validity: '90d' });
      assert.equal(r.leaves.length, 1);
      const neu = certificateInfo(r.leaves[0]!.certPem);
      assert.equal(neu.subject, old.subject);
      assert.deepEqual([neu.dnsNames, neu.ipAddresses, neu.usages], [old.dnsNames, old.ipAddresses, old.usages]);
      assert.notEqual(neu.serialHex, old.serialHex);
      assert.ok(Math.abs(neu.notAfter.getTime() - Date.now() - 90 * DAY) < 5000);
      // nothing is written by prepareRenewal
      assert.equal(certificateInfo(readFileSync(join(dir, 'server.crt'), 'utf8')).serialHex, old.serialHex);

      const checked = await checkRenewal({ ...input, names: ['server', 'peer'] });
      assert.deepEqual(dueLeaves(checked, ['server', 'peer'], 30), []);
      assert.deepEqual(dueLeaves(checked, ['server', 'peer'], 365), ['server', 'peer']);

      await ensurePki(HOST, pkiSpec(other, { memberName: 'x' }), quiet, { allowCreate: true });
      for (const f of ['ca.crt', 'ca.key']) copyFileSync(join(other, f), join(dir, f));
      await assert.rejects(prepareRenewal(input), /ca\.crt did not sign .*server\.crt/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('certificate bundles', () => {
  it('made for a member: checked for name, address, CA, and refused with ca.key inside or for another member', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-bundle-unit-'));
    const other = mkdtempSync(join(tmpdir(), 'etcdadm-bundle-other-'));
    try {
      const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });
      await ensurePki(HOST, pkiSpec(dir), quiet, { allowCreate: true });
      await ensurePki(HOST, pkiSpec(other), quiet, { allowCreate: true });
      const ca = await loadRenewingCA(HOST, dir, undefined, new Date());
      const sans = { dnsNames: ['host2', 'localhost'], ipAddresses: ['10.0.0.2', '127.0.0.1'] };
      const requests = leafRequests({ memberName: 'host2', server: sans, peer: sans });
      const b = await makeBundle(ca, { name: 'host2', address: '10.0.0.2' }, requests, { keyAlgorithm: 'ecdsa-p256', validityDays: 30 });
      const text = renderBundle(b);
      assert.doesNotMatch(text, /ca\.key/);
      const back = parseBundle(text, 'b.yaml');
      assert.deepEqual(back.member, { name: 'host2', address: '10.0.0.2' });
      checkBundle(back, 'b.yaml', { name: 'host2', address: '10.0.0.2', requests, localCa: readFileSync(join(dir, 'ca.crt'), 'utf8') });
      assert.throws(() => checkBundle(back, 'b.yaml', { name: 'host3', address: '10.0.0.2', requests }), /made for member host2 \(10\.0\.0\.2\), but this host's member is host3/);
      assert.throws(() => checkBundle(back, 'b.yaml', { name: 'host2', address: '10.0.0.9', requests }), /this host's member is host2 \(10\.0\.0\.9\)/);
      assert.throws(() => checkBundle(back, 'b.yaml', { name: 'host2', address: '10.0.0.2', requests, localCa: readFileSync(join(other, 'ca.crt'), 'utf8') }), /is not the CA this host already has/);
      const more = leafRequests({ memberName: 'host2', server: { ...sans, dnsNames: [...sans.dnsNames, 'extra.example'] }, peer: sans });
      assert.throws(() => checkBundle(back, 'b.yaml', { name: 'host2', address: '10.0.0.2', requests: more }), /the server certificate in b\.yaml cannot serve this member: it lacks the SAN DNS:extra\.example/);
      const withKey = text.replace('files:\n', `files:\n  ca.key: |\n    x\n`);
      assert.throws(() => parseBundle(withKey, 'b.yaml'), /it holds ca\.key/);
      assert.throws(() => parseBundle('kind: Other\n', 'b.yaml'), /b\.yaml is not an etcdadm certificate bundle: kind is not CertificateBundle/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('CA rotation states (from the certs dir alone)', () => {
  it('none → preparing → prepared → issued → none; the trust text puts the signing CA first, once', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'etcdadm-rot-a-')), mkdtempSync(join(tmpdir(), 'etcdadm-rot-b-'))];
    try {
      const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });
      for (const d of dirs) await ensurePki(HOST, pkiSpec(d), quiet, { allowCreate: true });
      const [oldCa, newCa] = dirs.map((d) => readFileSync(join(d, 'ca.crt'), 'utf8')) as [string, string];
      assert.equal(rotationState({ trust: oldCa, newCert: undefined, oldCert: undefined }), 'none');
      assert.equal(rotationState({ trust: oldCa, newCert: newCa, oldCert: undefined }), 'preparing');
      const prepared = trustText([oldCa, newCa, oldCa]);
      assert.equal(pemBlocks(prepared).length, 2);
      assert.equal(rotationState({ trust: prepared, newCert: newCa, oldCert: undefined }), 'prepared');
      const issued = trustText([newCa, oldCa]);
      assert.equal(fingerprintOf(pemBlocks(issued)[0]!), fingerprintOf(newCa));
      assert.equal(rotationState({ trust: issued, newCert: undefined, oldCert: oldCa }), 'issued');
      assert.equal(rotationState({ trust: trustText([newCa]), newCert: undefined, oldCert: undefined }), 'none');
      assert.match(caLabel(newCa), /^etcd-ca \([0-9A-F:]{11}\)$/);
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});
