/**
 * The PKI end to end on a temp dir: every key algorithm, file modes, names/usages/SANs (checked with our parser and
 * with `openssl x509 -text`), reuse, the regeneration rules, CAs made by openssl (PKCS#1 RSA, SEC1 EC), the join
 * errors, logging.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdadmError } from '../../src/errors.js';
import { Logger } from '../../src/log/logger.js';
import {
  caFingerprint,
  certificateInfo,
  ensureCA,
  ensureLeafCerts,
  ensurePki,
  KEY_ALGORITHMS,
  keyMatchesCert,
  LEAF_NAMES,
  verifySignedBy,
  type KeyAlgorithm,
  type PkiOutcome,
  type PkiSpec,
} from '../../src/pki/index.js';
import { certFacts } from '../../src/pki/inspect.js';
import * as x509 from '../../src/pki/x509.js';
import { pkiSpec } from '../helpers/pki-spec.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();

const base = mkdtempSync(join(tmpdir(), 'etcdadm-pki-test-'));
after(() => rmSync(base, { recursive: true, force: true }));
let seq = 0;
const newDir = (): string => join(base, `t${seq++}`, 'pki');

const DAY = 86_400_000;
const FILES = ['ca', ...LEAF_NAMES].flatMap((n) => [`${n}.crt`, `${n}.key`]);

function spec(certsDir: string, over: Partial<PkiSpec> = {}): PkiSpec {
  return pkiSpec(certsDir, {
    server: { dnsNames: ['localhost', 'node1.example.com'], ipAddresses: ['127.0.0.1', '::1', '10.0.0.1'] },
    peer: { dnsNames: ['node1.example.com'], ipAddresses: ['10.0.0.1', 'fd00::1'] },
    ...over,
  });
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('debug', 'text', { write: (l) => void lines.push(l), isTTY: false }, 'certs'), lines };
}
const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function opensslVerify(dir: string, leaf: string): void {
  const out = openssl('verify', '-CAfile', join(dir, 'ca.crt'), join(dir, `${leaf}.crt`));
  assert.match(out, /: OK\s*$/, out);
}
function read(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8');
}
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(FILES.map((f) => [f, read(dir, f)]));
}
function byName(outcomes: PkiOutcome[]): Record<string, PkiOutcome> {
  return Object.fromEntries(outcomes.map((o) => [o.file.split('/').pop()!.replace(/\.crt$/, ''), o]));
}
function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('every key algorithm', { concurrency: true }, () => {
  for (const alg of KEY_ALGORITHMS) {
    test(`${alg}: CA and leaves that openssl verifies`, async () => {
      const dir = newDir();
      const out = await ensurePki(HOST, spec(dir, { keyAlgorithm: alg }), quiet, { allowCreate: true });
      assert.equal(mode(dir), 0o700);
      assert.equal(mode(dirname(dir)), 0o755 & ~process.umask()); // a parent made on the way is not private
      assert.deepEqual(out.map((o) => o.action), ['generated', 'generated', 'generated', 'generated', 'generated']);
      const ca = read(dir, 'ca.crt');
      for (const leaf of LEAF_NAMES) {
        opensslVerify(dir, leaf);
        assert.ok(verifySignedBy(read(dir, `${leaf}.crt`), ca), leaf);
        assert.ok(keyMatchesCert(read(dir, `${leaf}.key`), read(dir, `${leaf}.crt`)), leaf);
        assert.match(read(dir, `${leaf}.key`), /^-----BEGIN PRIVATE KEY-----/);
      }
      const text = openssl('x509', '-noout', '-text', '-in', join(dir, 'server.crt'));
      if (alg === 'ecdsa-p256') {
        assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
        assert.match(text, /NIST CURVE: P-256/);
      } else {
        assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
        assert.match(text, new RegExp(`Public-Key: \\(${alg.slice(4)} bit\\)`));
      }
    });
  }
});

describe('a fresh PKI', () => {
  const dir = newDir();
  const now = new Date();
  const { log, lines } = capture();
  let outcomes: PkiOutcome[] = [];

  test('is generated with the right modes', async () => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    outcomes = await ensurePki(HOST, spec(dir, { now }), log, { allowCreate: true });
    assert.deepEqual(
      outcomes.map((o) => [o.file, o.action]),
      ['ca', ...LEAF_NAMES].map((n) => [join(dir, `${n}.crt`), 'generated']),
    );
    assert.equal(mode(dir), 0o700);
    for (const f of FILES) assert.equal(mode(join(dir, f)), f.endsWith('.key') ? 0o600 : 0o644, f);
    assert.deepEqual([...LEAF_NAMES], ['server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client']);
  });

  test('CA: CN etcd-ca, 10 years, critical CA:TRUE, signing usages', () => {
    const info = certificateInfo(read(dir, 'ca.crt'));
    assert.equal(info.subject, 'CN=etcd-ca');
    assert.equal(info.issuer, 'CN=etcd-ca');
    assert.equal(info.isCA, true);
    assert.ok(Math.abs(info.notAfter.getTime() - (now.getTime() + 3650 * DAY)) < 2000);
    assert.ok(info.notBefore.getTime() < now.getTime() - 60_000 && info.notBefore.getTime() > now.getTime() - 3_600_000);
    const text = openssl('x509', '-noout', '-text', '-in', join(dir, 'ca.crt'));
    assert.match(text, /Version: 3 \(0x2\)/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /X509v3 Authority Key Identifier/);
  });

  test('server and peer: CN, usages, SANs (our parser and openssl agree)', () => {
    const server = certificateInfo(read(dir, 'server.crt'));
    assert.equal(server.commonName, 'node1');
    assert.equal(server.issuer, 'CN=etcd-ca');
    assert.deepEqual(server.organization, []);
    assert.deepEqual(server.usages, ['server', 'client']);
    assert.equal(server.isCA, false);
    assert.deepEqual(server.dnsNames, ['localhost', 'node1.example.com']);
    assert.deepEqual(server.ipAddresses, ['127.0.0.1', '::1', '10.0.0.1']);
    assert.ok(Math.abs(server.notAfter.getTime() - (now.getTime() + 365 * DAY)) < 2000);
    const peer = certificateInfo(read(dir, 'peer.crt'));
    assert.equal(peer.commonName, 'node1');
    assert.deepEqual(peer.usages, ['server', 'client']);
    assert.deepEqual(peer.dnsNames, ['node1.example.com']);
    assert.deepEqual(peer.ipAddresses, ['10.0.0.1', 'fd00::1']);

    const text = openssl('x509', '-noout', '-text', '-in', join(dir, 'server.crt'));
    assert.match(text, /Subject: CN = node1/);
    assert.match(text, /Issuer: CN = etcd-ca/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(
      text,
      /DNS:localhost, DNS:node1.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.1/,
    );
    // the leaf's authority key id is the CA's subject key id
    const caText = openssl('x509', '-noout', '-text', '-in', join(dir, 'ca.crt'));
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(caText)?.[1];
    const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    assert.ok(ski && aki && ski === aki, `${ski} vs ${aki}`);
  });

  test('client certificates: CN, O system:masters, clientAuth only, no SANs', () => {
    const etcdctl = certificateInfo(read(dir, 'etcdctl-etcd-client.crt'));
    assert.equal(etcdctl.commonName, 'etcdctl-etcd-client');
    assert.deepEqual(etcdctl.organization, ['system:masters']);
    assert.deepEqual(etcdctl.usages, ['client']);
    assert.deepEqual([...etcdctl.dnsNames, ...etcdctl.ipAddresses], []);
    const api = certificateInfo(read(dir, 'apiserver-etcd-client.crt'));
    assert.equal(api.subject, 'O=system:masters, CN=kube-apiserver-etcd-client');
    assert.deepEqual(api.usages, ['client']);
    const text = openssl('x509', '-noout', '-text', '-in', join(dir, 'apiserver-etcd-client.crt'));
    assert.match(text, /Subject: O = system:masters, CN = kube-apiserver-etcd-client/);
    assert.match(text, /X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\s*\n/);
    assert.doesNotMatch(text, /Subject Alternative Name/);
  });

  test('serials are random, positive and 16 bytes; fingerprints and serials match openssl', () => {
    const serials = new Set<string>();
    for (const n of ['ca', ...LEAF_NAMES]) {
      const pem = read(dir, `${n}.crt`);
      const info = certificateInfo(pem);
      assert.match(info.serialHex, /^[0-7][0-9A-F]{31}$/);
      assert.ok(!/^0/.test(info.serialHex) || info.serialHex.length === 32);
      serials.add(info.serialHex);
      assert.equal(`serial=${info.serialHex}`, openssl('x509', '-noout', '-serial', '-in', join(dir, `${n}.crt`)).trim());
      assert.equal(info.sha256Fingerprint, caFingerprint(pem));
    }
    assert.equal(serials.size, 5);
    const fp = openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', join(dir, 'ca.crt')).trim();
    assert.equal(fp.replace(/^sha256 Fingerprint=/i, ''), caFingerprint(read(dir, 'ca.crt')));
  });

  test('logs each action like kubeadm and never key material', () => {
    const text = lines.join('');
    assert.match(text, /INFO  \[certs\] Generated ca certificate and key\./);
    for (const n of LEAF_NAMES) assert.match(text, new RegExp(`Generated ${n} certificate and key\\.`));
    assert.match(
      text,
      /DEBUG \[certs\] server serving cert is signed for DNS names \[localhost node1\.example\.com\] and IPs \[127\.0\.0\.1 ::1 10\.0\.0\.1\]/,
    );
    assert.match(text, /peer serving cert is signed for DNS names \[node1\.example\.com\] and IPs \[10\.0\.0\.1 fd00::1\]/);
    assert.doesNotMatch(text, /PRIVATE KEY|BEGIN/);
  });

  test('a second run keeps everything, byte for byte', async () => {
    const before = snapshot(dir);
    const { log: log2, lines: lines2 } = capture();
    const out = await ensurePki(HOST, spec(dir), log2, { allowCreate: true });
    assert.deepEqual(out.map((o) => o.action), ['kept', 'kept', 'kept', 'kept', 'kept']);
    assert.deepEqual(snapshot(dir), before);
    const text = lines2.join('');
    assert.match(text, /Using the existing "ca" certificate and key\./);
    for (const n of LEAF_NAMES) assert.match(text, new RegExp(`Using the existing "${n}" certificate and key\\.`));
    // a join (allowCreate false) with the CA present keeps everything too
    const out2 = await ensurePki(HOST, spec(dir), quiet, { allowCreate: false });
    assert.deepEqual(out2.map((o) => o.action), ['kept', 'kept', 'kept', 'kept', 'kept']);
  });

  test('SANs compare by meaning: other spellings, case and subsets keep the certificate', async () => {
    const before = snapshot(dir);
    const s = spec(dir, {
      server: { dnsNames: ['LOCALHOST'], ipAddresses: ['0:0:0:0:0:0:0:1', '::ffff:10.0.0.1'] },
      peer: { dnsNames: [], ipAddresses: ['FD00:0::1'] },
    });
    const out = await ensurePki(HOST, s, quiet, { allowCreate: true });
    assert.deepEqual(out.map((o) => o.action), ['kept', 'kept', 'kept', 'kept', 'kept']);
    assert.deepEqual(snapshot(dir), before);
  });

  test('a missing SAN regenerates that leaf only, with a new key', async () => {
    const before = snapshot(dir);
    const { log: log2, lines: lines2 } = capture();
    const s = spec(dir);
    s.server = { dnsNames: [...s.server.dnsNames, 'etcd.example.com'], ipAddresses: [...s.server.ipAddresses, '2001:db8::5'] };
    const out = byName(await ensurePki(HOST, s, log2, { allowCreate: true }));
    assert.equal(out.server!.action, 'regenerated');
    assert.equal(out.server!.reason, 'it lacks the SANs DNS:etcd.example.com, IP:2001:db8::5');
    for (const n of ['ca', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client']) assert.equal(out[n]!.action, 'kept', n);
    const after = snapshot(dir);
    assert.notEqual(after['server.crt'], before['server.crt']);
    assert.notEqual(after['server.key'], before['server.key']);
    for (const f of FILES.filter((f) => !f.startsWith('server.'))) assert.equal(after[f], before[f], f);
    assert.deepEqual(certificateInfo(after['server.crt']!).ipAddresses, ['127.0.0.1', '::1', '10.0.0.1', '2001:db8::5']);
    opensslVerify(dir, 'server');
    assert.match(
      lines2.join(''),
      /Regenerated server certificate and key: it lacks the SANs DNS:etcd\.example\.com, IP:2001:db8::5\./,
    );
  });

  test('a leaf expiring within renewBeforeDays, or expired, is regenerated; the CA is kept', async () => {
    const t1 = new Date(Date.now() + 340 * DAY); // 25 days left
    const out = byName(await ensurePki(HOST, spec(dir, { now: t1 }), quiet, { allowCreate: true }));
    assert.equal(out.ca!.action, 'kept');
    for (const n of LEAF_NAMES) {
      assert.equal(out[n]!.action, 'regenerated', n);
      assert.match(out[n]!.reason!, /^it expires on .*, within the 30-day renewal window$/);
    }
    // those were made "in the future": back at the real time they are not valid yet
    const out2 = byName(await ensurePki(HOST, spec(dir), quiet, { allowCreate: true }));
    for (const n of LEAF_NAMES) assert.match(out2[n]!.reason!, /^it is not valid before /, n);
    const t2 = new Date(Date.now() + 400 * DAY);
    const out3 = byName(await ensurePki(HOST, spec(dir, { now: t2 }), quiet, { allowCreate: true }));
    for (const n of LEAF_NAMES) assert.match(out3[n]!.reason!, /^it expired on /, n);
    // and 31 days before expiry it is still kept
    const t3 = new Date(t2.getTime() + (365 - 31) * DAY);
    const out4 = byName(await ensurePki(HOST, spec(dir, { now: t3 }), quiet, { allowCreate: true }));
    for (const n of LEAF_NAMES) assert.equal(out4[n]!.action, 'kept', n);
    await ensurePki(HOST, spec(dir), quiet, { allowCreate: true }); // back to now
  });

  test('a leaf signed by another CA is regenerated', async () => {
    const other = newDir();
    await ensurePki(HOST, spec(other), quiet, { allowCreate: true });
    copyFileSync(join(other, 'peer.crt'), join(dir, 'peer.crt'));
    copyFileSync(join(other, 'peer.key'), join(dir, 'peer.key'));
    assert.equal(verifySignedBy(read(dir, 'peer.crt'), read(dir, 'ca.crt')), false);
    const out = byName(await ensurePki(HOST, spec(dir), quiet, { allowCreate: true }));
    assert.deepEqual(out.peer, { file: join(dir, 'peer.crt'), action: 'regenerated', reason: 'it was not signed by the current CA' });
    for (const n of ['ca', 'server', 'etcdctl-etcd-client', 'apiserver-etcd-client']) assert.equal(out[n]!.action, 'kept', n);
    opensslVerify(dir, 'peer');
    assert.ok(verifySignedBy(read(dir, 'peer.crt'), read(dir, 'ca.crt')));
  });

  test('a key that does not match, a missing key, an unreadable certificate: regenerated', async () => {
    copyFileSync(join(dir, 'server.key'), join(dir, 'peer.key'));
    rmSync(join(dir, 'etcdctl-etcd-client.key'));
    writeFileSync(join(dir, 'apiserver-etcd-client.crt'), 'garbage\n');
    const out = byName(await ensurePki(HOST, spec(dir), quiet, { allowCreate: true }));
    assert.equal(out.server!.action, 'kept');
    assert.equal(out.peer!.reason, 'the key does not match the certificate');
    assert.equal(out['etcdctl-etcd-client']!.reason, `${join(dir, 'etcdctl-etcd-client.key')} is missing`);
    assert.match(out['apiserver-etcd-client']!.reason!, /^the certificate is unreadable/);
    for (const n of LEAF_NAMES) opensslVerify(dir, n);
  });

  test('a wrong common name or missing usage regenerates', async () => {
    const out = byName(await ensurePki(HOST, spec(dir, { memberName: 'node2' }), quiet, { allowCreate: true }));
    assert.equal(out.server!.reason, 'its common name is "node1", want "node2"');
    assert.equal(out.peer!.reason, 'its common name is "node1", want "node2"');
    assert.equal(out['etcdctl-etcd-client']!.action, 'kept');
    // a client certificate in place of the server one lacks serverAuth
    copyFileSync(join(dir, 'etcdctl-etcd-client.crt'), join(dir, 'server.crt'));
    copyFileSync(join(dir, 'etcdctl-etcd-client.key'), join(dir, 'server.key'));
    const out2 = byName(
      await ensurePki(HOST, spec(dir, { memberName: 'etcdctl-etcd-client', server: { dnsNames: [], ipAddresses: [] } }), quiet, {
        allowCreate: true,
      }),
    );
    assert.equal(out2.server!.reason, 'it lacks the serverAuth usage');
    await ensurePki(HOST, spec(dir), quiet, { allowCreate: true });
  });

  test('existing keys readable by others are narrowed to 0600', async () => {
    chmodSync(join(dir, 'server.key'), 0o644);
    chmodSync(join(dir, 'ca.key'), 0o640);
    const { log: log2, lines: lines2 } = capture();
    const out = await ensurePki(HOST, spec(dir), log2, { allowCreate: true });
    assert.deepEqual(out.map((o) => o.action), ['kept', 'kept', 'kept', 'kept', 'kept']);
    assert.equal(mode(join(dir, 'server.key')), 0o600);
    assert.equal(mode(join(dir, 'ca.key')), 0o600);
    assert.match(lines2.join(''), /WARN .*Tightened the permissions of .*server\.key from 0644 to 0600/);
  });
});

describe('CAs made by openssl are reused', { concurrency: true }, () => {
  test('RSA CA with a PKCS#1 key (openssl req -x509 -newkey rsa:2048; -traditional) signs ECDSA leaves', async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    // a UTF8String O and CN: the leaves' issuer must be these exact bytes or Go will not chain them
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.pk8'), '-out', join(dir, 'ca.crt'),
      '-days', '3650', '-subj', '/O=Kubernetes Ops/CN=kubernetes-etcd-ca');
    openssl('rsa', '-traditional', '-in', join(dir, 'ca.pk8'), '-out', join(dir, 'ca.key'));
    rmSync(join(dir, 'ca.pk8'));
    assert.match(read(dir, 'ca.key'), /^-----BEGIN RSA PRIVATE KEY-----/);
    const caBefore = read(dir, 'ca.crt');
    const keyBefore = read(dir, 'ca.key');
    const out = await ensurePki(HOST, spec(dir, { keyAlgorithm: 'ecdsa-p256' }), quiet, { allowCreate: false });
    assert.deepEqual(out.map((o) => o.action), ['kept', 'generated', 'generated', 'generated', 'generated']);
    assert.equal(read(dir, 'ca.crt'), caBefore);
    assert.equal(read(dir, 'ca.key'), keyBefore);
    const caRaw = certFacts(new Uint8Array(Buffer.from(caBefore.replace(/-----[^-]+-----|\s/g, ''), 'base64')));
    for (const n of LEAF_NAMES) {
      opensslVerify(dir, n);
      const pem = read(dir, `${n}.crt`);
      const raw = certFacts(new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')));
      assert.deepEqual(Buffer.from(raw.rawIssuer), Buffer.from(caRaw.rawSubject), n);
      assert.equal(certificateInfo(pem).issuer, 'O=Kubernetes Ops, CN=kubernetes-etcd-ca');
    }
    // the trap this guards against: re-encoding the issuer from its string gives other bytes (PrintableString)
    const reencoded = Buffer.from(new x509.Name('O=Kubernetes Ops, CN=kubernetes-etcd-ca').toArrayBuffer());
    assert.notDeepEqual(reencoded, Buffer.from(caRaw.rawSubject));
    const text = openssl('x509', '-noout', '-text', '-in', join(dir, 'server.crt'));
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public Key Algorithm: id-ecPublicKey/);
  });

  test('EC CA with a SEC1 key (BEGIN EC PRIVATE KEY) signs RSA leaves', async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-out', join(dir, 'ca.key')); // with an EC PARAMETERS block
    openssl('req', '-x509', '-new', '-key', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '365', '-subj', '/CN=etcd-ca');
    assert.match(read(dir, 'ca.key'), /-----BEGIN EC PRIVATE KEY-----/);
    const out = await ensurePki(HOST, spec(dir, { keyAlgorithm: 'rsa-2048' }), quiet, { allowCreate: true });
    assert.deepEqual(out.map((o) => o.action), ['kept', 'generated', 'generated', 'generated', 'generated']);
    for (const n of LEAF_NAMES) opensslVerify(dir, n);
    const text = openssl('x509', '-noout', '-text', '-in', join(dir, 'peer.crt'));
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    const out2 = await ensurePki(HOST, spec(dir, { keyAlgorithm: 'rsa-2048' }), quiet, { allowCreate: true });
    assert.deepEqual(out2.map((o) => o.action), ['kept', 'kept', 'kept', 'kept', 'kept']);
  });

  test('EC P-384 CA with a PKCS#8 key', async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', join(dir, 'ca.key'),
      '-out', join(dir, 'ca.crt'), '-days', '365', '-subj', '/CN=p384-ca');
    assert.match(read(dir, 'ca.key'), /^-----BEGIN PRIVATE KEY-----/);
    await ensurePki(HOST, spec(dir), quiet, { allowCreate: true });
    for (const n of LEAF_NAMES) opensslVerify(dir, n);
  });
});

describe('CA errors', () => {
  const oneLine = (err: unknown): string => {
    assert.ok(err instanceof EtcdadmError, String(err));
    return err.oneLine();
  };

  test('join without a CA: names the dir and says what to copy; writes nothing', async () => {
    const dir = newDir();
    const err = await ensurePki(HOST, spec(dir), quiet, { allowCreate: false }).catch((e: unknown) => e);
    const msg = oneLine(err);
    assert.match(msg, new RegExp(`no CA found: ${dir}/ca\\.crt and ${dir}/ca\\.key do not exist`));
    assert.match(msg, new RegExp(`Copy ca\\.crt and ca\\.key from an existing member into ${dir}`));
    assert.match(msg, new RegExp(`rsync -avR ${dir}/ca\\.\\* <this host>:/`));
    assert.equal(existsSync(dir), false);
    await assert.rejects(ensureCA(HOST, spec(dir), quiet, { allowCreate: false }), EtcdadmError);
  });

  test('only ca.crt (or only ca.key) present: names the missing file', async () => {
    const src = newDir();
    await ensurePki(HOST, spec(src), quiet, { allowCreate: true });
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(src, 'ca.crt'), join(dir, 'ca.crt'));
    for (const allowCreate of [true, false]) {
      const msg = oneLine(await ensurePki(HOST, spec(dir), quiet, { allowCreate }).catch((e: unknown) => e));
      assert.match(msg, new RegExp(`^${dir}/ca\\.key is missing while ${dir}/ca\\.crt exists`));
    }
    rmSync(join(dir, 'ca.crt'));
    copyFileSync(join(src, 'ca.key'), join(dir, 'ca.key'));
    const msg = oneLine(await ensurePki(HOST, spec(dir), quiet, { allowCreate: true }).catch((e: unknown) => e));
    assert.match(msg, new RegExp(`^${dir}/ca\\.crt is missing while ${dir}/ca\\.key exists`));
  });

  test('a ca.key of another CA, a non-CA certificate, an expired CA, garbage', async () => {
    const a = newDir();
    const b = newDir();
    await Promise.all([ensurePki(HOST, spec(a), quiet, { allowCreate: true }), ensurePki(HOST, spec(b), quiet, { allowCreate: true })]);
    copyFileSync(join(b, 'ca.key'), join(a, 'ca.key'));
    let msg = oneLine(await ensurePki(HOST, spec(a), quiet, { allowCreate: true }).catch((e: unknown) => e));
    assert.match(msg, new RegExp(`the CA key ${a}/ca\\.key does not match the CA certificate ${a}/ca\\.crt`));

    copyFileSync(join(b, 'server.crt'), join(a, 'ca.crt'));
    copyFileSync(join(b, 'server.key'), join(a, 'ca.key'));
    msg = oneLine(await ensurePki(HOST, spec(a), quiet, { allowCreate: true }).catch((e: unknown) => e));
    assert.match(msg, /ca\.crt is not a CA certificate/);

    msg = oneLine(await ensurePki(HOST, spec(b, { now: new Date(Date.now() + 3651 * DAY) }), quiet, { allowCreate: true }).catch((e: unknown) => e));
    assert.match(msg, /the CA certificate .*ca\.crt expired on /);

    writeFileSync(join(a, 'ca.crt'), 'not a certificate');
    msg = oneLine(await ensurePki(HOST, spec(a), quiet, { allowCreate: true }).catch((e: unknown) => e));
    assert.match(msg, /invalid CA certificate .*ca\.crt: no PEM certificate found/);
  });

  test('a CA close to expiry is used with a warning', async () => {
    const dir = newDir();
    await ensurePki(HOST, spec(dir, { caValidityDays: 400 }), quiet, { allowCreate: true });
    const { log, lines } = capture();
    await ensureCA(HOST, spec(dir, { now: new Date(Date.now() + 380 * DAY) }), log, { allowCreate: true });
    assert.match(lines.join(''), /WARN .*The CA certificate .*ca\.crt expires on .*plan a CA rotation/);
  });
});

describe('spec checks', () => {
  test('invalid SANs and impossible numbers are EtcdadmErrors', async () => {
    const dir = newDir();
    await assert.rejects(
      ensurePki(HOST, spec(dir, { server: { dnsNames: [], ipAddresses: ['10.0.0.300'] } }), quiet, { allowCreate: true }),
      (e: unknown) => e instanceof EtcdadmError && /server certificate: invalid IP address "10\.0\.0\.300"/.test(e.message),
    );
    await assert.rejects(
      ensurePki(HOST, spec(dir, { renewBeforeDays: 365 }), quiet, { allowCreate: true }),
      (e: unknown) => e instanceof EtcdadmError && /renewBeforeDays/.test(e.message),
    );
    await assert.rejects(
      ensurePki(HOST, spec(dir, { keyAlgorithm: 'dsa-1024' as KeyAlgorithm }), quiet, { allowCreate: true }),
      (e: unknown) => e instanceof EtcdadmError && /unknown key algorithm/.test(e.message),
    );
  });

  test('ensureCA + ensureLeafCerts separately do what ensurePki does', async () => {
    const dir = newDir();
    const ca = await ensureCA(HOST, spec(dir), quiet, { allowCreate: true });
    assert.equal(ca.action, 'generated');
    const out = await ensureLeafCerts(HOST, spec(dir), ca, quiet);
    assert.deepEqual(out.map((o) => o.action), ['generated', 'generated', 'generated', 'generated']);
    for (const n of LEAF_NAMES) opensslVerify(dir, n);
    const ca2 = await ensureCA(HOST, spec(dir), quiet, { allowCreate: false });
    assert.equal(ca2.action, 'kept');
    assert.equal(ca2.fingerprint, ca.fingerprint);
    assert.deepEqual((await ensureLeafCerts(HOST, spec(dir), ca2, quiet)).map((o) => o.action), ['kept', 'kept', 'kept', 'kept']);
  });
});
