/** The PKI's pure helpers: IP spelling, keys, certificate facts (against openssl's view), signature checks. */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  caFingerprint,
  canonicalIp,
  certificateInfo,
  createCA,
  generateKey,
  issueCertificate,
  KEY_ALGORITHMS,
  keyMatchesCert,
  loadCertificate,
  parsePrivateKey,
  verifySignedBy,
  type PkiSpec,
} from '../../src/pki/index.js';
import { encodeSan } from '../../src/pki/cert.js';
import { decodeSan, parseDer } from '../../src/pki/inspect.js';
import { bytesToIp, ipToBytes } from '../../src/pki/ip.js';
import { pkiSpec } from '../helpers/pki-spec.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();

const base = mkdtempSync(join(tmpdir(), 'etcdadm-pki-helpers-'));
after(() => rmSync(base, { recursive: true, force: true }));
const openssl = (...args: string[]): string =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const spec = (certsDir: string): PkiSpec => pkiSpec(certsDir, { memberName: 'm', server: { dnsNames: [], ipAddresses: [] }, peer: { dnsNames: [], ipAddresses: [] } });

describe('IP addresses', () => {
  test('canonical spelling', () => {
    const cases: [string, string | undefined][] = [
      ['10.0.0.1', '10.0.0.1'],
      ['::1', '::1'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['[::1]', '::1'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::ffff:10.1.2.3', '10.1.2.3'],
      ['64:ff9b::10.1.2.3', '64:ff9b::a01:203'],
      ['fe80::1%eth0', undefined],
      ['1.2.3', undefined],
      ['256.0.0.1', undefined],
      ['1::2::3', undefined],
      ['1:2:3:4:5:6:7:8:9', undefined],
      ['node1', undefined],
      ['', undefined],
    ];
    for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
  });

  test('bytes round trip', () => {
    assert.deepEqual(Array.from(ipToBytes('10.0.0.1')!), [10, 0, 0, 1]);
    assert.equal(ipToBytes('::1')!.length, 16);
    assert.equal(bytesToIp(ipToBytes('fd00::abcd:1')!), 'fd00::abcd:1');
  });
});

describe('DER', () => {
  test('long lengths encode and decode', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 70000]) {
      const der = new Uint8Array(encodeSan(['d'.repeat(n)], []));
      const t = parseDer(der); // throws unless the element spans exactly the whole encoding
      assert.equal(t.valueBeforeDecodeView.length, der.length);
      assert.equal(decodeSan(der).dnsNames[0]!.length, n);
    }
    assert.throws(() => parseDer(Uint8Array.of(0x30, 0x05, 0x00)), /truncated/);
  });

  test('IP SANs are the raw 4- and 16-byte addresses', () => {
    const der = Buffer.from(encodeSan([], [ipToBytes('10.1.2.3')!, ipToBytes('2001:db8::1')!, ipToBytes('::ffff:10.1.2.4')!]));
    assert.equal(der.toString('hex'), '301e' + '87040a010203' + '871020010db8000000000000000000000001' + '87040a010204');
    assert.deepEqual(decodeSan(der).ipAddresses, ['10.1.2.3', '2001:db8::1', '10.1.2.4']);
  });
});

describe('keys', () => {
  test('generateKey makes PKCS#8 keys of each algorithm', async () => {
    for (const alg of KEY_ALGORITHMS.filter((a) => a !== 'rsa-4096')) {
      const k = await generateKey(alg);
      assert.match(k.pem, /^-----BEGIN PRIVATE KEY-----\n/);
      const parsed = createPrivateKey(k.pem);
      if (alg === 'ecdsa-p256') assert.equal(parsed.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      else assert.equal(parsed.asymmetricKeyDetails?.modulusLength, Number(alg.slice(4)));
    }
  });

  test('parsePrivateKey accepts PKCS#1, SEC1 and PKCS#8 and rejects encrypted keys', () => {
    const pkcs1 = openssl('genrsa', '-traditional', '2048');
    assert.match(pkcs1, /BEGIN RSA PRIVATE KEY/);
    assert.equal(parsePrivateKey(pkcs1).asymmetricKeyType, 'rsa');
    const sec1 = openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout');
    assert.match(sec1, /BEGIN EC PRIVATE KEY/);
    assert.equal(parsePrivateKey(sec1).asymmetricKeyType, 'ec');
    const enc = execFileSync('openssl', ['pkcs8', '-topk8', '-passout', 'pass:secret'], { input: sec1, encoding: 'utf8' });
    assert.throws(() => parsePrivateKey(enc), /encrypted/);
    assert.throws(() => parsePrivateKey('hello'), /no PEM private key/);
  });
});

describe('certificates', () => {
  test('certificateInfo, keyMatchesCert, verifySignedBy, caFingerprint', async () => {
    const dirA = join(base, 'a');
    const dirB = join(base, 'b');
    await Promise.all([HOST.mkdir(dirA, 0o700), HOST.mkdir(dirB, 0o700)]);
    const [caA, caB] = await Promise.all([createCA(HOST, spec(dirA)), createCA(HOST, spec(dirB))]);
    const leaf = await issueCertificate(
      caA,
      { commonName: 'x', organization: ['o1', 'o2'], dnsNames: ['a.example', 'A.example'], ipAddresses: ['::1', '::1', '127.0.0.1'], usages: ['server'] },
      { keyAlgorithm: 'rsa-2048', validityDays: 10 },
    );
    const info = certificateInfo(leaf.certPem);
    assert.equal(info.subject, 'O=o1, O=o2, CN=x');
    assert.deepEqual(info.organization, ['o1', 'o2']);
    assert.deepEqual(info.dnsNames, ['a.example']); // de-duplicated case-insensitively
    assert.deepEqual(info.ipAddresses, ['::1', '127.0.0.1']);
    assert.deepEqual(info.usages, ['server']);
    assert.ok(keyMatchesCert(leaf.keyPem, leaf.certPem));
    assert.equal(keyMatchesCert(leaf.keyPem, caA.certPem), false);
    assert.equal(keyMatchesCert('garbage', leaf.certPem), false);
    assert.ok(verifySignedBy(leaf.certPem, caA.certPem));
    assert.equal(verifySignedBy(leaf.certPem, caB.certPem), false);
    assert.equal(verifySignedBy('garbage', caA.certPem), false);
    // a bundle: the first certificate counts
    assert.equal(caFingerprint(caA.certPem + caB.certPem), caA.fingerprint);
    assert.equal(caFingerprint(caA.certPem), new X509Certificate(caA.certPem).fingerprint256);
    assert.equal(loadCertificate(leaf.certPem).subjectName.getField('CN')[0], 'x');
    assert.throws(() => loadCertificate('nope'), /no PEM certificate/);
  });

  test('certificateInfo reads openssl-made certificates like openssl does (v1, GeneralizedTime, UTF8 names)', () => {
    const key = join(base, 'k.pem');
    const crt = join(base, 'c.pem');
    openssl('req', '-utf8', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '20000',
      '-subj', '/C=DE/O=Müller & Söhne/CN=ünïcode', '-addext', 'subjectAltName=DNS:x.example,IP:10.1.2.3,IP:2001:db8::1',
      '-addext', 'extendedKeyUsage=clientAuth');
    const pem = readFileSync(crt, 'utf8');
    const info = certificateInfo(pem);
    assert.equal(info.subject, 'C=DE, O=Müller & Söhne, CN=ünïcode');
    assert.equal(info.commonName, 'ünïcode');
    assert.deepEqual(info.dnsNames, ['x.example']);
    assert.deepEqual(info.ipAddresses, ['10.1.2.3', '2001:db8::1']);
    assert.deepEqual(info.usages, ['client']);
    assert.equal(info.isCA, true); // openssl req -x509 adds CA:TRUE
    assert.ok(info.notAfter.getUTCFullYear() > 2050); // GeneralizedTime
    const x = new X509Certificate(pem);
    assert.equal(info.notAfter.getTime(), new Date(x.validTo).getTime());
    assert.equal(info.notBefore.getTime(), new Date(x.validFrom).getTime());
    assert.equal(`serial=${info.serialHex}`, openssl('x509', '-noout', '-serial', '-in', crt).trim());

    // version 1: no extensions at all
    const v1 = join(base, 'v1.pem');
    const csr = openssl('req', '-new', '-key', key, '-subj', '/CN=v1');
    execFileSync('openssl', ['x509', '-req', '-signkey', key, '-days', '1', '-out', v1], { input: csr });
    const v1Info = certificateInfo(readFileSync(v1, 'utf8'));
    assert.equal(v1Info.commonName, 'v1');
    assert.equal(v1Info.isCA, false);
    assert.deepEqual(v1Info.usages, []);
  });
});
