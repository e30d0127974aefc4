/**
 * The PKI against a REAL etcd: certificates from ensurePki must be accepted by etcd (Go's crypto/x509 and TLS, which
 * are stricter than `openssl verify` about how the issuer is encoded) for client TLS in both directions, and for peer
 * TLS when a second member joins with a PKI made from the copied CA. A client certificate of another CA is refused.
 * etcd listens on 127.0.0.1 only; processes are killed by PID; temp dirs are removed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '../../src/log/logger.js';
import { ensurePki, type KeyAlgorithm, type PkiSpec } from '../../src/pki/index.js';
import { etcdBinDir } from '../helpers/etcd-bin.js';
import { freePorts } from '../helpers/etcd-server.js';
import { pkiSpec } from '../helpers/pki-spec.js';
import { LocalHost } from '../../src/host/local.js';
import { EtcdClient } from '../../src/etcd/client.js';
import { servedCertificate } from '../../src/etcd/tls-probe.js';
const HOST = new LocalHost();

const base = mkdtempSync(join(tmpdir(), 'etcdadm-pki-etcd-'));
const children = new Set<ChildProcess>();
const killAll = (): void => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
};
process.on('exit', killAll);
after(() => {
  killAll();
  rmSync(base, { recursive: true, force: true });
});
const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });

/** A port below the ephemeral range: free when chosen and still free when etcd binds it (helpers/etcd-server.ts). */
async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

function memberPki(certsDir: string, memberName: string, keyAlgorithm: KeyAlgorithm): PkiSpec {
  const sans = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
  return pkiSpec(certsDir, { memberName, keyAlgorithm, server: sans, peer: sans });
}

interface Member {
  name: string;
  pki: string;
  clientURL: string;
  peerURL: string;
  proc: ChildProcess;
  output: () => string;
}

interface Run {
  code: number;
  out: string;
}

function run(bin: string, args: string[], timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: timeoutMs, env: { ...process.env, ETCDCTL_API: '3' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

interface CtlOptions {
  /** Client certificate base name in `certDir`; default etcdctl-etcd-client. */
  client?: string;
  /** Where the client certificate is; default the member's PKI. */
  certDir?: string;
  /** Where the trusted CA is; default the member's PKI. */
  caDir?: string;
  /** etcdctl --command-timeout in seconds; default 3. */
  timeout?: number;
}

function etcdctl(version: string, m: Pick<Member, 'clientURL' | 'pki'>, args: string[], o: CtlOptions = {}): Promise<Run> {
  const certDir = o.certDir ?? m.pki;
  const client = o.client ?? 'etcdctl-etcd-client';
  const t = o.timeout ?? 3;
  return run(join(etcdBinDir(version), 'etcdctl'), [
    `--endpoints=${m.clientURL}`,
    `--cacert=${join(o.caDir ?? m.pki, 'ca.crt')}`,
    `--cert=${join(certDir, `${client}.crt`)}`,
    `--key=${join(certDir, `${client}.key`)}`,
    `--dial-timeout=${t}s`,
    `--command-timeout=${t}s`,
    ...args,
  ]);
}

async function startMember(
  version: string,
  dir: string,
  name: string,
  cluster: { initial: string; state: 'new' | 'existing' } | undefined,
  ports?: { client: number; peer: number },
): Promise<Member> {
  const pki = join(dir, 'pki');
  const client = ports?.client ?? (await freePort());
  const peer = ports?.peer ?? (await freePort());
  const clientURL = `https://127.0.0.1:${client}`;
  const peerURL = `https://127.0.0.1:${peer}`;
  const args = [
    `--name=${name}`,
    `--data-dir=${join(dir, 'data')}`,
    `--listen-client-urls=${clientURL}`,
    `--advertise-client-urls=${clientURL}`,
    `--listen-peer-urls=${peerURL}`,
    `--initial-advertise-peer-urls=${peerURL}`,
    `--initial-cluster=${cluster?.initial ?? `${name}=${peerURL}`}`,
    `--initial-cluster-state=${cluster?.state ?? 'new'}`,
    '--initial-cluster-token=pki-test',
    '--heartbeat-interval=50',
    '--election-timeout=500',
    '--client-cert-auth',
    `--trusted-ca-file=${join(pki, 'ca.crt')}`,
    `--cert-file=${join(pki, 'server.crt')}`,
    `--key-file=${join(pki, 'server.key')}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${join(pki, 'ca.crt')}`,
    `--peer-cert-file=${join(pki, 'peer.crt')}`,
    `--peer-key-file=${join(pki, 'peer.key')}`,
  ];
  const proc = spawn(join(etcdBinDir(version), 'etcd'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => void (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => void (output += d.toString()));
  return { name, pki, clientURL, peerURL, proc, output: () => output };
}

async function waitHealthy(version: string, m: Member, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Run = { code: -1, out: '' };
  while (Date.now() < deadline) {
    if (m.proc.exitCode !== null) break;
    last = await etcdctl(version, m, ['endpoint', 'health'], { timeout: 1 });
    if (last.code === 0) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.fail(`etcd ${m.name} not healthy: ${last.out}\n--- etcd output ---\n${m.output().slice(-4000)}`);
}

async function waitFor(cond: () => boolean, what: string, m: Member, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n--- etcd output ---\n${m.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(m: Member): Promise<void> {
  if (m.proc.exitCode !== null || !m.proc.pid) return;
  const exited = new Promise<void>((r) => m.proc.once('exit', () => r()));
  process.kill(m.proc.pid, 'SIGKILL');
  await exited;
  children.delete(m.proc);
}

/**
 * A PKI made by ensurePki, or one around a CA made by openssl with a PKCS#1 key and a UTF8String subject (openssl's
 * default string_mask utf8only) or, with `printable`, a PrintableString one (string_mask default).
 */
async function makePki(dir: string, alg: KeyAlgorithm, opensslCA: boolean, printable = false): Promise<void> {
  const pki = join(dir, 'pki');
  if (opensslCA) {
    mkdirSync(pki, { recursive: true });
    const sh = (args: string[]): Promise<Run> => run('openssl', args, 20_000);
    let r = await sh(['genrsa', '-traditional', '-out', join(pki, 'ca.key'), '2048']);
    assert.equal(r.code, 0, r.out);
    const config: string[] = [];
    if (printable) {
      writeFileSync(join(dir, 'openssl.cnf'), '[req]\ndistinguished_name = dn\nstring_mask = default\n[dn]\n');
      config.push('-config', join(dir, 'openssl.cnf'), '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature');
    }
    r = await sh(['req', '-x509', '-new', '-key', join(pki, 'ca.key'), '-out', join(pki, 'ca.crt'), '-days', '3650',
      '-subj', '/O=Kubernetes Ops/CN=kubernetes-etcd-ca', ...config]);
    assert.equal(r.code, 0, r.out);
    r = await sh(['asn1parse', '-in', join(pki, 'ca.crt')]);
    assert.match(r.out, printable ? /PRINTABLESTRING +:kubernetes-etcd-ca/ : /UTF8STRING +:kubernetes-etcd-ca/);
  }
  await ensurePki(HOST, memberPki(pki, 'node1', alg), quiet, { allowCreate: !opensslCA });
}

const cases: { title: string; version: string; alg: KeyAlgorithm; opensslCA: boolean; printable?: boolean; join: boolean }[] = [
  { title: 'ECDSA PKI, etcd 3.5.30, second member joins over peer TLS', version: '3.5.30', alg: 'ecdsa-p256', opensslCA: false, join: true },
  { title: 'ECDSA PKI, etcd 3.4.23', version: '3.4.23', alg: 'ecdsa-p256', opensslCA: false, join: false },
  { title: 'RSA-2048 PKI, etcd 3.5.30', version: '3.5.30', alg: 'rsa-2048', opensslCA: false, join: false },
  { title: 'openssl RSA CA (PKCS#1, UTF8String subject) + ECDSA leaves, etcd 3.5.30', version: '3.5.30', alg: 'ecdsa-p256', opensslCA: true, join: false },
  { title: 'openssl RSA CA (PKCS#1, PrintableString subject) + RSA leaves, etcd 3.4.23', version: '3.4.23', alg: 'rsa-2048', opensslCA: true, printable: true, join: false },
];

describe('certificates from ensurePki work with a real etcd', () => {
  // another CA's client certificate, for the must-be-rejected checks
  const otherDir = join(base, 'other');
  const otherReady = ensurePki(HOST, memberPki(join(otherDir, 'pki'), 'intruder', 'ecdsa-p256'), quiet, { allowCreate: true });

  for (const c of cases) {
    test(c.title, async () => {
      await otherReady;
      const dir = join(base, `${c.version}-${c.alg}-${c.opensslCA ? 'openssl' : 'own'}${c.printable ? '-printable' : ''}`);
      await makePki(dir, c.alg, c.opensslCA, c.printable);
      const m1 = await startMember(c.version, dir, 'node1', undefined);
      const members = [m1];
      try {
        await waitHealthy(c.version, m1);

        let r = await etcdctl(c.version, m1, ['put', 'pki-key', 'pki-value']);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /^OK/);
        r = await etcdctl(c.version, m1, ['get', 'pki-key']);
        assert.equal(r.code, 0, r.out);
        assert.equal(r.out.trim(), 'pki-key\npki-value');
        r = await etcdctl(c.version, m1, ['endpoint', 'health']);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /is healthy/);
        // the kube-apiserver client certificate is accepted too
        r = await etcdctl(c.version, m1, ['get', 'pki-key', '--print-value-only'], { client: 'apiserver-etcd-client' });
        assert.equal(r.code, 0, r.out);
        assert.equal(r.out.trim(), 'pki-value');

        // the certificate the client's own connection was shown is the one a new handshake sees (status reads it
        // from there instead of connecting again); a port it never connected to: nothing to read
        {
          const pem = (f: string) => readFileSync(join(dir, 'pki', f));
          const tls = { ca: pem('ca.crt'), cert: pem('etcdctl-etcd-client.crt'), key: pem('etcdctl-etcd-client.key') };
          const client = await EtcdClient.connect({ endpoints: [m1.clientURL], tls });
          try {
            await client.status(m1.clientURL);
            const own = client.servedCertificate(m1.clientURL);
            const fresh = await servedCertificate(m1.clientURL, tls);
            assert.ok(own, 'read from the open connection');
            assert.deepEqual(own, fresh);
            assert.equal(own.subjectCN, 'node1');
            assert.equal(client.servedCertificate(m1.peerURL), undefined, 'the peer port: never connected');
          } finally {
            client.close();
          }
        }

        // a client certificate from another CA is refused by etcd (Go) for exactly that reason
        assert.doesNotMatch(m1.output(), /unknown authority/);
        r = await etcdctl(c.version, m1, ['get', 'pki-key'], { certDir: join(otherDir, 'pki'), timeout: 1 });
        assert.notEqual(r.code, 0, `expected a refusal, got: ${r.out}`);
        assert.doesNotMatch(r.out, /pki-value/);
        await waitFor(() => /certificate signed by unknown authority/.test(m1.output()), 'etcd to log the refusal', m1);
        // and a client trusting only another CA refuses the server
        r = await etcdctl(c.version, m1, ['get', 'pki-key'], { caDir: join(otherDir, 'pki'), timeout: 1 });
        assert.notEqual(r.code, 0, `expected a refusal, got: ${r.out}`);
        assert.doesNotMatch(r.out, /pki-value/);

        if (c.join) {
          // join: copy the CA like the operator would, make node2's PKI without creating a CA, add it over peer TLS
          const dir2 = join(base, `${c.version}-node2`);
          mkdirSync(join(dir2, 'pki'), { recursive: true, mode: 0o700 });
          for (const f of ['ca.crt', 'ca.key']) copyFileSync(join(dir, 'pki', f), join(dir2, 'pki', f));
          const out = await ensurePki(HOST, memberPki(join(dir2, 'pki'), 'node2', c.alg), quiet, { allowCreate: false });
          assert.deepEqual(out.map((o) => o.action), ['kept', 'generated', 'generated', 'generated', 'generated']);
          const ports = { client: await freePort(), peer: await freePort() };
          const peerURL = `https://127.0.0.1:${ports.peer}`;
          r = await etcdctl(c.version, m1, ['member', 'add', 'node2', `--peer-urls=${peerURL}`]);
          assert.equal(r.code, 0, r.out);
          const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(r.out)?.[1];
          assert.ok(initial, r.out);
          const m2 = await startMember(c.version, dir2, 'node2', { initial, state: 'existing' }, ports);
          members.push(m2);
          await waitHealthy(c.version, m2);
          // data written on node1 is read from node2: replication went over peer mTLS
          r = await etcdctl(c.version, m2, ['get', 'pki-key', '--print-value-only', '--consistency=l']);
          assert.equal(r.code, 0, r.out);
          assert.equal(r.out.trim(), 'pki-value');
          r = await etcdctl(c.version, m2, ['endpoint', 'health', '--cluster']);
          assert.equal(r.code, 0, r.out);
          assert.equal((r.out.match(/is healthy/g) ?? []).length, 2, r.out);
        }
      } finally {
        for (const m of members.reverse()) await stop(m);
      }
    });
  }
});
