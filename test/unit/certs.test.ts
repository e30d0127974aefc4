import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CertificateInfo } from '../../src/pki/cert.js';
import { expirationExitCode, expiryOf, residualText } from '../../src/pki/expiry.js';

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
