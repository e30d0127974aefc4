/**
 * `etcdadm certs check-expiration` on a fresh member, as monitoring calls it: the CA and the 4 leaves, about 365
 * days left on the leaves, the dates `openssl x509 -enddate` reads, exit 0; a missing leaf gives exit 4, a leaf
 * another CA signed shows as such; a certs dir that does not exist is one line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, ok, oneErrorLine } from '../helpers/lab.js';

let lab: NetnsLab;
before(async () => {
  lab = await NetnsLab.up(1);
  ok(await lab.etcdadm(1, ['init', '--release-url', MIRROR_URL, '--insecure-release-url']), 'init');
});
after(async () => {
  await lab?.down();
});

interface Report {
  certsDir: string;
  trustedCAs: { ca: string; fingerprint: string; signing: boolean }[];
  rotation: string;
  renewBeforeDays: number;
  certificates: { name: string; path: string; expires: string; residualSeconds: number; authority: string; state: string; sans: string[] }[];
}

describe('etcdadm certs check-expiration', () => {
  it('a fresh member: the CA and 4 leaves, ~365 days left, the dates openssl reads, exit 0', async () => {
    const r = ok(await lab.etcdadm(1, ['certs', 'check-expiration', '-o', 'json']));
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.certsDir, '/etc/etcd/pki');
    assert.deepEqual(rep.certificates.map((c) => c.name), ['ca', 'server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client']);
    for (const c of rep.certificates) {
      const end = ok(await lab.on(1, ['openssl', 'x509', '-enddate', '-noout', '-in', c.path])).stdout.trim().replace(/^notAfter=/, '');
      assert.equal(new Date(c.expires).getTime(), new Date(end).getTime(), `${c.name}: ${c.expires} vs openssl ${end}`);
      assert.equal(c.state, 'ok');
      const days = c.residualSeconds / 86400;
      if (c.name === 'ca') assert.ok(days > 3640 && days <= 3650, `ca: ${days} days`);
      else {
        assert.ok(days > 364 && days <= 365, `${c.name}: ${days} days`);
        assert.match(c.authority, /^etcd-ca \([0-9A-F:]{11}\)$/);
      }
    }
    assert.ok(rep.certificates.find((c) => c.name === 'server')!.sans.includes('10.88.0.1'));
    const table = ok(await lab.etcdadm(1, ['certs', 'check-expiration'])).stdout;
    assert.match(table, /CERTIFICATE\s+\|\s+EXPIRES\s+\|\s+RESIDUAL TIME\s+\|\s+CERTIFICATE AUTHORITY/);
    assert.match(table, /\|\s+server \|\s+\S+ \|\s+36[45]d \|\s+etcd-ca \([0-9A-F:]{11}\) \|\s+ok \|/);
    assert.match(table, /\nTrusted CAs \(\/etc\/etcd\/pki\/ca\.crt\): etcd-ca \([0-9A-F:]{11}\) \[signs\]\nCA rotation: none under way/);
    assert.match(ok(await lab.etcdadm(1, ['certs', 'check-expiration', '-o', 'wide'])).stdout, /SANS[\s\S]*10\.88\.0\.1/);
  });

  it('a missing leaf: exit 4; a leaf another CA signed: shown as unknown authority', async () => {
    ok(await lab.sh(1, 'mv /etc/etcd/pki/peer.crt /root/peer.crt.saved'));
    try {
      const r = await lab.etcdadm(1, ['certs', 'check-expiration', '-o', 'json']);
      assert.equal(r.code, 4, r.stderr);
      assert.equal((JSON.parse(r.stdout) as Report).certificates.find((c) => c.name === 'peer')!.state, 'missing');
    } finally {
      ok(await lab.sh(1, 'mv /root/peer.crt.saved /etc/etcd/pki/peer.crt'));
    }
    ok(await lab.sh(1, 'cp -p /etc/etcd/pki/apiserver-etcd-client.crt /root/api.saved && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /root/other.key -subj /CN=other -days 400 -out /etc/etcd/pki/apiserver-etcd-client.crt 2>/dev/null'));
    try {
      const rep = JSON.parse((await lab.etcdadm(1, ['certs', 'check-expiration', '-o', 'json'])).stdout) as Report;
      assert.equal(rep.certificates.find((c) => c.name === 'apiserver-etcd-client')!.authority, 'unknown');
    } finally {
      ok(await lab.sh(1, 'cp -p /root/api.saved /etc/etcd/pki/apiserver-etcd-client.crt'));
    }
    assert.equal((await lab.etcdadm(1, ['certs', 'check-expiration'])).code, 0);
  });

  it('a certs dir that does not exist: one line, exit 2', async () => {
    const r = await lab.etcdadm(1, ['certs', 'check-expiration', '--certs-dir', '/etc/nowhere']);
    assert.equal(r.code, 2);
    oneErrorLine(r, /there is no certificates directory \/etc\/nowhere/);
  });
});
