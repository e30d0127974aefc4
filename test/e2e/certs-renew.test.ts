/**
 * The certificates of a 3-member cluster of lab hosts over their life, run with the CLI as an operator runs it:
 * - `certs renew server`, then `peer`, on each member while a client writes every 50 ms: no write fails after
 *   retries of at most 2 s, a new `openssl s_client` connection sees the renewed serial on the client and the peer
 *   port, the SANs are the same, no member restarts, the cluster stays healthy; `status` shows each member's
 *   earliest serving-certificate expiry as seen over TLS;
 * - a cluster whose leaf certificates have all expired (crafted with notAfter in the past, etcd restarted) is not
 *   healthy; `certs renew all` on each host brings it back with every key intact;
 * - with etcd stopped, `certs renew server` starts it with the new certificate;
 * - `join --certs-bundle`: the new host holds no ca.key, 3 healthy members; bundles for another name or address
 *   are refused before anything is written; renew there says where to renew; `certs import` renews;
 * - `certs rotate-ca prepare|issue|finish` on the 3 hosts (one without ca.key) under writers: no failed write,
 *   issue and finish refused while the cluster is not ready, every certificate of the new CA at the end and the
 *   old CA in no file;
 * - bad inputs, each one error line and nothing written: a foreign ca.crt, a ca.key that does not match ca.crt, a
 *   --validity that is not a duration, not positive or outlives the CA, a missing certs dir, an unknown name.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { issueCertificate, leafRequests } from '../../src/pki/index.js';
import { loadRenewingCA, prepareRenewal } from '../../src/pki/renew.js';
import { LEAF_NAMES } from '../../src/pki/store.js';
import { MIRROR_URL, NetnsLab, ok, oneErrorLine } from '../helpers/lab.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();

const HOSTS = [1, 2, 3];
let lab: NetnsLab;
before(async () => {
  lab = await NetnsLab.up(3);
  ok(await lab.etcdadm(1, ['init', '--release-url', MIRROR_URL, '--insecure-release-url']), 'init');
  await lab.join(2, 1, ['--release-url', MIRROR_URL, '--insecure-release-url']);
  await lab.join(3, 1, ['--release-url', MIRROR_URL, '--insecure-release-url']);
});
after(async () => {
  await lab?.down();
});

/** The serial the member's `port` presents to a new TLS connection, read by openssl s_client on the host. */
async function servedSerial(h: number, port: number): Promise<string> {
  const pki = '/etc/etcd/pki';
  const client = port === 2380 ? 'peer' : 'etcdctl-etcd-client';
  const r = ok(await lab.sh(h, `openssl s_client -connect ${lab.ip(h)}:${port} -CAfile ${pki}/ca.crt -cert ${pki}/${client}.crt -key ${pki}/${client}.key </dev/null 2>/dev/null | openssl x509 -noout -serial`));
  return r.stdout.trim().replace(/^serial=/, '');
}

async function fileSerial(h: number, name: string): Promise<string> {
  return ok(await lab.on(h, ['openssl', 'x509', '-noout', '-serial', '-in', `/etc/etcd/pki/${name}.crt`])).stdout.trim().replace(/^serial=/, '');
}

async function sans(h: number, name: string): Promise<string> {
  return ok(await lab.on(h, ['openssl', 'x509', '-noout', '-ext', 'subjectAltName', '-in', `/etc/etcd/pki/${name}.crt`])).stdout.trim();
}

async function clusterHealthy(h: number): Promise<boolean> {
  const r = await lab.etcdctl(h, ['endpoint', 'health', '--cluster']);
  return r.code === 0 && ((r.stdout + r.stderr).match(/is healthy/g)?.length ?? 0) === HOSTS.length;
}

/** sha256 of every file in the certs dir (or `missing`): to prove a refused command wrote nothing. */
async function pkiDigest(h: number): Promise<string> {
  return ok(await lab.sh(h, 'cd /etc/etcd/pki 2>/dev/null && sha256sum * | sort || echo missing')).stdout;
}

describe('etcdadm certs renew', () => {
  it('server and peer on each member under a writer: no failed write, new serials on new connections, same SANs, no restart', async () => {
    const client = await labClient(HOSTS.map((h) => `https://${lab.ip(h)}:2379`), await lab.clientPem(1));
    const writer = new BackgroundWriter(client, 'renew');
    let report;
    try {
      await writer.moreWrites(10);
      for (const h of HOSTS) {
        const pids = await lab.etcdPids(h);
        for (const [name, port] of [['server', 2379], ['peer', 2380]] as const) {
          const before = { serial: await servedSerial(h, port), sans: await sans(h, name) };
          assert.equal(before.serial, await fileSerial(h, name));
          const r = ok(await lab.etcdadm(h, ['certs', 'renew', name]), `renew ${name} on host${h}`);
          assert.match(r.stderr, /\[reload\] No restart: etcd 3\.\d+\.\d+ reads its certificate files at every new TLS connection/);
          assert.match(r.stderr, /\[verify\] Member eahost\d is healthy/);
          const renewed = await fileSerial(h, name);
          assert.notEqual(renewed, before.serial, `${name} on host${h} has a new serial`);
          assert.equal(await servedSerial(h, port), renewed, `a new connection to host${h}:${port} sees the renewed ${name} certificate`);
          assert.equal(await sans(h, name), before.sans, `${name} SANs unchanged`);
          await writer.moreWrites(5);
        }
        assert.deepEqual(await lab.etcdPids(h), pids, `etcd on host${h} was not restarted`);
      }
      assert.ok(await clusterHealthy(1));
      // status: each member's earliest serving-certificate expiry, as a TLS connection sees it
      const st = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as { members: { name: string; servingCert: { expires: string; issuer: string } | null }[] };
      for (const h of HOSTS) {
        const end = async (n: string) => Date.parse(ok(await lab.on(h, ['openssl', 'x509', '-noout', '-enddate', '-in', `/etc/etcd/pki/${n}.crt`])).stdout.trim().replace(/^notAfter=/, ''));
        const m = st.members.find((x) => x.name === `eahost${h}`)!;
        assert.equal(Date.parse(m.servingCert!.expires), Math.min(await end('server'), await end('peer')), `eahost${h}: status shows the earliest serving certificate expiry`);
        assert.equal(m.servingCert!.issuer, 'etcd-ca');
      }
      assert.match(ok(await lab.etcdadm(1, ['status'])).stdout, /CERT EXPIRES\s+\|\s+CERT CA\s+\|/);
    } finally {
      report = await writer.stop();
      client.close();
    }
    assert.deepEqual(report.failed, [], 'no write failed after retries');
    assert.ok(report.maxRetryMs <= 2000, `a write took ${report.maxRetryMs} ms with retries`);
    assert.ok(report.acknowledged.length >= 40, `${report.acknowledged.length} writes`);
  });

  it('a cluster whose leaf certificates expired is not healthy; certs renew all on each host makes it healthy, every key intact', async () => {
    for (let i = 0; i < 20; i++) ok(await lab.etcdctl(1, ['put', `expired/k${i}`, `v${i}`]));
    // every host's leaves re-signed by the cluster CA with notAfter in the past (the same names and SANs)
    const local = mkdtempSync(join(tmpdir(), 'etcdadm-expired-'));
    try {
      for (const h of HOSTS) {
        const dir = join(local, `host${h}`);
        mkdirSync(dir);
        for (const f of ['ca.crt', 'ca.key', ...LEAF_NAMES.map((n) => `${n}.crt`)]) writeFileSync(join(dir, f), ok(await lab.on(h, ['cat', `/etc/etcd/pki/${f}`])).stdout);
        const caNotBefore = new Date(ok(await lab.on(h, ['openssl', 'x509', '-noout', '-startdate', '-in', '/etc/etcd/pki/ca.crt'])).stdout.trim().replace(/^notBefore=/, ''));
        // as if renewed when the CA was made, for one minute: expired minutes ago
        const r = await prepareRenewal({ host: HOST,  certsDir: dir, names: LEAF_NAMES, validity: '1m', defaultDays: 365, keyAlgorithm: 'ecdsa-p256', requests: leafRequests({ memberName: `eahost${h}`, server: { dnsNames: [], ipAddresses: [] }, peer: { dnsNames: [], ipAddresses: [] } }), now: caNotBefore });
        const script = r.leaves
          .map((l) => `(umask 077; echo ${Buffer.from(l.keyPem).toString('base64')} | base64 -d > ${l.paths.keyPath.replace(dir, '/etc/etcd/pki')}) && echo ${Buffer.from(l.certPem).toString('base64')} | base64 -d > ${l.paths.certPath.replace(dir, '/etc/etcd/pki')}`)
          .join(' && ');
        ok(await lab.sh(h, script), `expired certificates on host${h}`);
        assert.match(ok(await lab.sh(h, 'openssl x509 -checkend 0 -noout -in /etc/etcd/pki/server.crt || true')).stdout, /will expire/);
      }
      await Promise.all(HOSTS.map(async (h) => ok(await lab.on(h, ['systemctl', 'restart', 'etcd.service']), `restart etcd on host${h}`)));
      assert.equal(await clusterHealthy(1), false, 'the cluster with expired certificates is not healthy');
      assert.equal((await lab.etcdadm(1, ['certs', 'check-expiration'])).code, 4);

      for (const h of HOSTS) {
        const r = ok(await lab.etcdadm(h, ['certs', 'renew', 'all']), `renew all on host${h}`);
        // the first host's member cannot serve alone: it is restarted; a later one may serve by itself as soon as
        // its new files let it reach the members that renewed before it (etcd reads them at each handshake)
        if (h === 1) assert.match(r.stderr, /\[reload\] etcd runs but does not serve .*it is restarted/);
        else assert.match(r.stderr, /\[reload\] (etcd runs but does not serve|No restart: etcd 3\.\d+\.\d+ reads its certificate files)/);
        if (h === 1) assert.match(r.stderr, /\[verify\] .*the cluster has no quorum yet.*run 'etcdadm certs renew all' on the other members/);
      }
      let healthy = false;
      for (let i = 0; i < 50 && !healthy; i++) {
        healthy = await clusterHealthy(1);
        if (!healthy) await new Promise((res) => setTimeout(res, 200));
      }
      assert.ok(healthy, 'the cluster is healthy again');
      for (const h of HOSTS) assert.equal((await lab.etcdadm(h, ['certs', 'check-expiration'])).code, 0, `host${h}: every certificate is fine`);
      const got = ok(await lab.etcdctl(2, ['get', 'expired/', '--prefix', '--keys-only'])).stdout.split('\n').filter(Boolean);
      assert.equal(got.length, 20, 'every key is intact');
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });

  it('etcd down: certs renew server writes the new certificate and starts etcd, healthy', async () => {
    ok(await lab.on(2, ['systemctl', 'stop', 'etcd.service']));
    assert.deepEqual(await lab.etcdPids(2), []);
    const r = ok(await lab.etcdadm(2, ['certs', 'renew', 'server']), 'renew server with etcd down');
    assert.match(r.stderr, /\[reload\] etcd is not running: it is started with the new certificates/);
    assert.match(r.stderr, /\[verify\] Member eahost2 is healthy/);
    assert.equal(await servedSerial(2, 2379), await fileSerial(2, 'server'));
    assert.ok(await clusterHealthy(1));
  });

  it('join with a certs bundle: no ca.key on the new host, 3 healthy members; a bundle for another name is refused first; renew there says where to go; certs import renews', async () => {
    const copy = async (from: number, path: string, to: number) => {
      const b64 = ok(await lab.on(from, ['base64', '-w0', path])).stdout.trim();
      ok(await lab.sh(to, `(umask 077; echo ${b64} | base64 -d > ${path})`));
    };
    ok(await lab.etcdadm(1, ['certs', 'bundle', '--name', 'eahost4', '--address', '10.88.0.3', '--output', '/root/wrong.bundle']));
    const made = ok(await lab.etcdadm(1, ['certs', 'bundle', '--name', 'eahost3', '--address', '10.88.0.3', '--output', '/root/eahost3.bundle']));
    assert.match(made.stderr, /\[bundle\] Wrote \/root\/eahost3\.bundle \(0600\)/);
    assert.equal(ok(await lab.on(1, ['stat', '-c', '%a', '/root/eahost3.bundle'])).stdout.trim(), '600');
    const text = ok(await lab.on(1, ['cat', '/root/eahost3.bundle'])).stdout;
    assert.equal(text.match(/BEGIN PRIVATE KEY/g)?.length, 4, 'four leaf keys');
    assert.doesNotMatch(text, /ca\.key/);
    const doc = parse(text) as { kind: string; member: { name: string; address: string }; files: Record<string, string> };
    assert.deepEqual([doc.kind, doc.member], ['CertificateBundle', { name: 'eahost3', address: '10.88.0.3' }]);
    assert.equal(doc.files['ca.crt'], ok(await lab.on(1, ['cat', '/etc/etcd/pki/ca.crt'])).stdout, 'the cluster ca.crt');
    assert.equal(Object.keys(doc.files).length, 9);

    ok(await lab.etcdadm(3, ['reset']), 'reset host3');
    ok(await lab.sh(3, 'rm -rf /etc/etcd/pki'));
    for (const f of ['/root/wrong.bundle', '/root/eahost3.bundle']) await copy(1, f, 3);

    const wrong = await lab.etcdadm(3, ['join', '--certs-bundle', '/root/wrong.bundle', 'https://10.88.0.1:2379', '--release-url', MIRROR_URL, '--insecure-release-url']);
    assert.equal(wrong.code, 2, wrong.stderr);
    oneErrorLine(wrong, /\/root\/wrong\.bundle was made for member eahost4 \(10\.88\.0\.3\), but this host's member is eahost3 \(10\.88\.0\.3\)/);
    assert.equal((await lab.sh(3, 'ls /etc/etcd/pki 2>&1; true')).stdout.includes('No such file'), true, 'no certificate was written');
    assert.deepEqual(await lab.etcdPids(3), []);
    assert.equal(ok(await lab.etcdctl(1, ['member', 'list'])).stdout.trim().split('\n').length, 2);

    ok(await lab.etcdadm(1, ['certs', 'bundle', '--name', 'eahost3', '--address', '10.88.0.9', '--output', '/root/elsewhere.bundle']));
    await copy(1, '/root/elsewhere.bundle', 3);
    const elsewhere = await lab.etcdadm(3, ['join', '--certs-bundle', '/root/elsewhere.bundle', 'https://10.88.0.1:2379', '--release-url', MIRROR_URL, '--insecure-release-url']);
    assert.equal(elsewhere.code, 2, elsewhere.stderr);
    oneErrorLine(elsewhere, /was made for member eahost3 \(10\.88\.0\.9\), but this host's member is eahost3 \(10\.88\.0\.3\)/);
    assert.equal((await lab.sh(3, 'ls /etc/etcd/pki 2>&1; true')).stdout.includes('No such file'), true, 'no certificate was written');

    const j = ok(await lab.etcdadm(3, ['join', '--certs-bundle', '/root/eahost3.bundle', 'https://10.88.0.1:2379', '--release-url', MIRROR_URL, '--insecure-release-url']), 'join --certs-bundle');
    assert.match(j.stderr, /\[certificates\] Wrote the certificates of \/root\/eahost3\.bundle/);
    assert.match((await lab.sh(3, 'ls /etc/etcd/pki/ca.key 2>&1; true')).stdout, /No such file/);
    assert.ok(await clusterHealthy(3), 'three healthy members');

    const renew = await lab.etcdadm(3, ['certs', 'renew', 'all']);
    assert.equal(renew.code, 2);
    oneErrorLine(renew, /this host holds no CA key \(\/etc\/etcd\/pki\/ca\.key\)/);
    assert.match(renew.stderr, /etcdadm certs bundle --name eahost3 --address 10\.88\.0\.3 .*etcdadm certs import/);

    ok(await lab.etcdadm(1, ['certs', 'bundle', '--name', 'eahost3', '--address', '10.88.0.3', '--output', '/root/eahost3.bundle']));
    await copy(1, '/root/eahost3.bundle', 3);
    const before = await servedSerial(3, 2379);
    const pids = await lab.etcdPids(3);
    const pkiState = async () => ok(await lab.sh(3, 'cd /etc/etcd/pki && sha256sum * && stat -c "%n %a %U:%G" * .')).stdout;
    const pkiBefore = await pkiState();
    const dry = ok(await lab.etcdadm(3, ['certs', 'import', '/root/eahost3.bundle', '--dry-run']), 'certs import --dry-run');
    assert.match(dry.stderr, /\[certificates\] would write \/etc\/etcd\/pki\/server\.crt/);
    assert.match(dry.stderr, /Dry run: nothing was changed/);
    assert.equal(await pkiState(), pkiBefore, 'certs import --dry-run changed no file');
    assert.deepEqual(await lab.etcdPids(3), pids, 'and restarted nothing');
    const imp = ok(await lab.etcdadm(3, ['certs', 'import', '/root/eahost3.bundle']), 'certs import');
    assert.match(imp.stderr, /\[reload\] No restart/);
    const now = await fileSerial(3, 'server');
    assert.notEqual(now, before);
    assert.equal(await servedSerial(3, 2379), now, 'a new connection sees the imported server certificate');
    assert.deepEqual(await lab.etcdPids(3), pids);
    assert.ok(await clusterHealthy(3));
  });

  it('CA rotation on 3 hosts (one joined with a bundle) under writers: no failed write; every certificate of the new CA, the old CA in no trust file', { timeout: 600_000 }, async () => {
    const copyFile = async (from: number, path: string, to: number) => {
      const b64 = ok(await lab.on(from, ['base64', '-w0', path])).stdout.trim();
      ok(await lab.sh(to, `(umask 077; echo ${b64} | base64 -d > ${path})`));
    };
    const cat = async (h: number, f: string) => ok(await lab.on(h, ['cat', f])).stdout;
    const oldCa = await cat(1, '/etc/etcd/pki/ca.crt');
    const endpoints = HOSTS.map((h) => `https://${lab.ip(h)}:2379`);
    // a client of the old CA writes until every member trusts the new one; then one of the new CA takes over
    const clientA = await labClient(endpoints, await lab.clientPem(1));
    const writerA = new BackgroundWriter(clientA, 'rotate-a');
    let writerB: BackgroundWriter | undefined;
    let clientB: Awaited<ReturnType<typeof labClient>> | undefined;
    const reports = [];
    // a client set up before the rotation with copies of ca.crt and the apiserver-etcd-client pair, its files updated
    // exactly when the runbook says; after every step on every member it connects afresh (a new etcdctl process) to
    // every member, as a restarted kube-apiserver would
    ok(await lab.sh(1, 'mkdir -p /root/client && cp /etc/etcd/pki/ca.crt /root/client/ca.crt && cp /etc/etcd/pki/apiserver-etcd-client.crt /root/client/client.crt && cp /etc/etcd/pki/apiserver-etcd-client.key /root/client/client.key'));
    const freshClient = async (step: string) => {
      for (const h of HOSTS) {
        const r = await lab.on(1, ['/opt/bin/etcdctl', '--cacert', '/root/client/ca.crt', '--cert', '/root/client/client.crt', '--key', '/root/client/client.key', `--endpoints=https://${lab.ip(h)}:2379`, 'endpoint', 'health']);
        assert.equal(r.code, 0, `after ${step}: a new client connection to host${h}: ${r.stderr}`);
      }
    };
    try {
      await writerA.moreWrites(5);
      await freshClient('nothing yet');
      ok(await lab.etcdadm(1, ['certs', 'rotate-ca', 'prepare']), 'prepare on host1');
      await freshClient('prepare on host1');
      const newCa = await cat(1, '/etc/etcd/pki/ca-new.crt');
      assert.notEqual(newCa, oldCa);
      await copyFile(1, '/etc/etcd/pki/ca-new.crt', 2);
      await copyFile(1, '/etc/etcd/pki/ca-new.key', 2);
      ok(await lab.etcdadm(2, ['certs', 'rotate-ca', 'prepare']), 'prepare on host2');
      await freshClient('prepare on host2');
      const early = await lab.etcdadm(1, ['certs', 'rotate-ca', 'issue', '--clients-trust-new-ca']);
      assert.equal(early.code, 2);
      oneErrorLine(early, /not every member trusts the new CA .*eahost3/);
      await copyFile(1, '/etc/etcd/pki/ca-new.crt', 3); // a bundle host gets the certificate only
      const prepared = ok(await lab.etcdadm(3, ['certs', 'rotate-ca', 'prepare']), 'prepare on host3');
      await freshClient('prepare on host3');
      assert.equal(prepared.stdout.trim(), '/etc/etcd/pki/ca.crt', 'prepare names the file to hand to the clients');
      assert.match(prepared.stderr, /before any member runs issue: give every client of the cluster .*\/etc\/etcd\/pki\/ca\.crt as it is now/);
      // the runbook's client step: the clients trust old and new now
      ok(await lab.sh(1, 'cp /etc/etcd/pki/ca.crt /root/client/ca.crt'));
      await freshClient('the clients trust the file prepare wrote');
      const unacknowledged = await lab.etcdadm(1, ['certs', 'rotate-ca', 'issue']);
      assert.equal(unacknowledged.code, 2);
      oneErrorLine(unacknowledged, /rotate-ca issue makes this member present certificates of the new CA: a client that does not trust it yet fails/);
      const st = JSON.parse(ok(await lab.etcdadm(2, ['certs', 'check-expiration', '-o', 'json'])).stdout) as { rotation: string; trustedCAs: { signing: boolean }[] };
      assert.deepEqual([st.rotation, st.trustedCAs.length], ['prepared', 2]);
      type StatusJson = { members: { name: string; trustedCAs?: string[]; servingCert: { issuer: string } | null }[] };
      const during = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as StatusJson;
      for (const m of during.members) assert.equal(m.trustedCAs?.length, 2, `status: ${m.name} trusts the old and the new CA`);
      await writerA.moreWrites(5);

      // a client of the new CA (signed here with the new CA's key), trusting both CAs for the servers
      const dir = mkdtempSync(join(tmpdir(), 'etcdadm-rotate-'));
      try {
        writeFileSync(join(dir, 'ca.crt'), newCa);
        writeFileSync(join(dir, 'ca.key'), await cat(1, '/etc/etcd/pki/ca-new.key'));
        const ca = await loadRenewingCA(HOST, dir, undefined, new Date());
        const issued = await issueCertificate(ca, leafRequests({ memberName: 'x', server: { dnsNames: [], ipAddresses: [] }, peer: { dnsNames: [], ipAddresses: [] } })['etcdctl-etcd-client'], { keyAlgorithm: 'ecdsa-p256', validityDays: 1 });
        clientB = await labClient(endpoints, { ca: oldCa + newCa, cert: issued.certPem, key: issued.keyPem });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      writerB = new BackgroundWriter(clientB, 'rotate-b');
      await writerB.moreWrites(5);
      reports.push(await writerA.stop());

      // issue --dry-run: the files it would write, the restart; no file changes, etcd keeps its PID
      const pki1 = async () => ok(await lab.sh(1, 'cd /etc/etcd/pki && sha256sum * && stat -c "%n %a %U:%G" *')).stdout;
      const [pkiBefore, pidsBefore] = [await pki1(), await lab.etcdPids(1)];
      const dryIssue = ok(await lab.etcdadm(1, ['certs', 'rotate-ca', 'issue', '--clients-trust-new-ca', '--dry-run']), 'issue --dry-run');
      assert.match(dryIssue.stderr, /would write \/etc\/etcd\/pki\/server\.crt/);
      assert.match(dryIssue.stderr, /Dry run: nothing was changed/);
      assert.equal(await pki1(), pkiBefore, 'issue --dry-run changed no file');
      assert.deepEqual(await lab.etcdPids(1), pidsBefore, 'issue --dry-run restarted nothing');
      ok(await lab.etcdadm(1, ['certs', 'rotate-ca', 'issue', '--clients-trust-new-ca']), 'issue on host1');
      await freshClient('issue on host1');
      const tooEarly = await lab.etcdadm(1, ['certs', 'rotate-ca', 'finish']);
      assert.equal(tooEarly.code, 2);
      oneErrorLine(tooEarly, /not every member presents certificates of the new CA/);
      ok(await lab.etcdadm(2, ['certs', 'rotate-ca', 'issue', '--clients-trust-new-ca']), 'issue on host2');
      await freshClient('issue on host2');
      const bundleHost = await lab.etcdadm(3, ['certs', 'rotate-ca', 'issue', '--clients-trust-new-ca']);
      assert.equal(bundleHost.code, 2);
      assert.match(bundleHost.stderr, /etcdadm certs bundle --name eahost3 --address 10\.88\.0\.3/);
      ok(await lab.etcdadm(1, ['certs', 'bundle', '--name', 'eahost3', '--address', '10.88.0.3', '--output', '/root/eahost3.bundle']));
      await copyFile(1, '/root/eahost3.bundle', 3);
      ok(await lab.etcdadm(3, ['certs', 'import', '/root/eahost3.bundle']), 'import on host3');
      await freshClient('import on host3');
      // the runbook's second client step: client certificates of the new CA
      ok(await lab.sh(1, 'cp /etc/etcd/pki/apiserver-etcd-client.crt /root/client/client.crt && cp /etc/etcd/pki/apiserver-etcd-client.key /root/client/client.key'));
      await freshClient('the clients use certificates of the new CA');
      await writerB.moreWrites(5);
      const [finishBefore, finishPids] = [await pki1(), await lab.etcdPids(1)];
      const dryFinish = ok(await lab.etcdadm(1, ['certs', 'rotate-ca', 'finish', '--dry-run']), 'finish --dry-run');
      assert.match(dryFinish.stderr, /would write \/etc\/etcd\/pki\/ca\.crt/);
      assert.equal(await pki1(), finishBefore, 'finish --dry-run changed no file');
      assert.deepEqual(await lab.etcdPids(1), finishPids, 'finish --dry-run restarted nothing');
      for (const h of HOSTS) {
        ok(await lab.etcdadm(h, ['certs', 'rotate-ca', 'finish']), `finish on host${h}`);
        await freshClient(`finish on host${h}`);
      }
      await writerB.moreWrites(5);
      assert.ok(await clusterHealthy(1));
      const done = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as StatusJson;
      for (const m of done.members) {
        assert.deepEqual(m.trustedCAs, [done.members[0]!.trustedCAs![0]], `status: ${m.name} trusts the new CA`);
        assert.match(m.servingCert!.issuer, /^etcd-ca-\d{4}-\d\d-\d\d$/, `status: ${m.name} serves a certificate of the new CA`);
      }

      for (const h of HOSTS) {
        assert.equal(await cat(h, '/etc/etcd/pki/ca.crt'), newCa, `host${h}: ca.crt is the new CA alone`);
        assert.equal((await lab.sh(h, 'ls /etc/etcd/pki/ca-new.* /etc/etcd/pki/ca-old.* 2>/dev/null | wc -l')).stdout.trim(), '0');
        for (const n of LEAF_NAMES) ok(await lab.sh(h, `openssl verify -CAfile /etc/etcd/pki/ca.crt /etc/etcd/pki/${n}.crt`), `host${h}: ${n} signed by the new CA`);
        const r = JSON.parse(ok(await lab.etcdadm(h, ['certs', 'check-expiration', '-o', 'json'])).stdout) as { rotation: string };
        assert.equal(r.rotation, 'none');
        // nothing on the host trusts the old CA any more
        assert.equal((await lab.sh(h, `grep -rlF '${oldCa.split('\n')[1]}' /etc/etcd || true`)).stdout.trim(), '', `host${h}: the old CA is in no file`);
      }
    } finally {
      if (writerB) reports.push(await writerB.stop());
      else reports.push(await writerA.stop());
      clientA.close();
      clientB?.close();
    }
    for (const r of reports) {
      assert.deepEqual(r.failed, [], 'no write failed after retries');
      assert.ok(r.maxRetryMs <= 2000, `a write took ${r.maxRetryMs} ms`);
    }
  });

  describe('bad input: one line, nothing written', () => {
    const h = 2;
    const refused = async (args: string[], pattern: RegExp, code = 2) => {
      const before = await pkiDigest(h);
      const r = await lab.etcdadm(h, ['certs', 'renew', ...args]);
      assert.equal(r.code, code, r.stderr);
      oneErrorLine(r, pattern);
      assert.equal(await pkiDigest(h), before, 'nothing was written');
    };
    const withSaved = async (fn: () => Promise<void>) => {
      ok(await lab.sh(h, 'cp -a /etc/etcd/pki /root/pki.saved'));
      try {
        await fn();
      } finally {
        ok(await lab.sh(h, 'rm -rf /etc/etcd/pki && mv /root/pki.saved /etc/etcd/pki'));
      }
    };

    it('a foreign ca.crt (with its own key): refused', () =>
      withSaved(async () => {
        ok(await lab.sh(h, 'cd /etc/etcd/pki && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -subj /CN=other-ca -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out ca.crt 2>/dev/null'));
        await refused(['all'], /\/etc\/etcd\/pki\/ca\.crt did not sign \/etc\/etcd\/pki\/server\.crt .*it is not the CA of this member's certificates/);
      }));

    it('a ca.key that does not match ca.crt: refused', () =>
      withSaved(async () => {
        ok(await lab.sh(h, 'cd /etc/etcd/pki && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null'));
        await refused(['server'], /the CA key \/etc\/etcd\/pki\/ca\.key does not match the CA certificate \/etc\/etcd\/pki\/ca\.crt/, 1);
      }));

    it('a --validity that is not a duration, not positive, or outlives the CA: refused', async () => {
      await refused(['server', '--validity', 'a year'], /--validity "a year" is not a duration such as 365d, 8760h or 90d12h/);
      await refused(['server', '--validity', '0d'], /--validity "0d" must be positive/);
      await refused(['server', '--validity', '4000d'], /--validity "4000d" ends after the CA, which expires on \S+ \(\d+ days from now\)/);
    });

    it('a missing certs dir: refused', async () => {
      ok(await lab.sh(h, 'mv /etc/etcd/pki /root/pki.away'));
      try {
        await refused(['all'], /there is no certificates directory \/etc\/etcd\/pki/);
      } finally {
        ok(await lab.sh(h, 'mv /root/pki.away /etc/etcd/pki'));
      }
    });

    it('an unknown certificate name: refused', async () => {
      await refused(['ca'], /certs renew: unknown certificate "ca"/);
    });
  });
});
