/**
 * TLS and the production defaults end to end, per etcd version, read back from etcd itself (its handshakes, its
 * startup log, its peers' behaviour), never from etcdadm's env file: TLS 1.1 and a CBC-only client are refused; a
 * peer whose certificate comes from another CA cannot join the raft; the raft timing, compaction and corruption
 * checks are what etcd says it runs with; peer certificates with different CNs work (no CN allow-list).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, ok } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

/** The versions, each with its hosts: two members and a foreign host. */
const VERSIONS: { version: string; hosts: [number, number, number] }[] = [
  { version: '3.4.23', hosts: [1, 2, 3] },
  { version: '3.5.30', hosts: [4, 5, 6] },
];
let lab: NetnsLab;
const url = (i: number, port = 2379) => `https://${lab.ip(i)}:${port}`;
const R = (v: string) => ['--release-url', MIRROR_URL, '--insecure-release-url', '--version', v];

before(async () => {
  lab = await NetnsLab.up(6);
  await Promise.all(
    VERSIONS.map(async ({ version, hosts: [a, b, x] }) => {
      ok(await lab.etcdadm(a, ['init', ...R(version)]), `init host${a}`);
      await lab.join(b, a, R(version));
      ok(await lab.etcdadm(x, ['init', ...R(version)]), `init host${x}, a cluster with a CA of its own`);
    }),
  );
});
after(async () => {
  await lab?.down();
});

/** The JSON object of etcd's "starting an etcd server" line in its log on host i. */
async function startupFields(i: number): Promise<Record<string, unknown>> {
  const log = ok(await lab.on(i, ['cat', '/var/log/journal/etcd.service.log'])).stdout;
  const line = log.split('\n').reverse().find((l) => l.includes('"msg":"starting an etcd server"'));
  assert.ok(line, `etcd logged its configuration:\n${log.slice(0, 2000)}`);
  return JSON.parse(line!.slice(line!.indexOf('{'))) as Record<string, unknown>;
}

for (const { version, hosts } of VERSIONS) {
  const [a, b, x] = hosts;
  describe(`etcd ${version}`, () => {
    it('refuses TLS 1.1 and a client offering only CBC suites; the same client gets in with TLS 1.2 and AEAD', async () => {
      const s = (opts: string) =>
        lab.sh(a, `openssl s_client -connect ${lab.ip(a)}:2379 -CAfile /etc/etcd/pki/ca.crt -cert /etc/etcd/pki/etcdctl-etcd-client.crt -key /etc/etcd/pki/etcdctl-etcd-client.key ${opts} </dev/null 2>&1`);
      const tls11 = await s('-tls1_1 -cipher DEFAULT:@SECLEVEL=0');
      assert.notEqual(tls11.code, 0, tls11.stdout);
      assert.match(tls11.stdout, /alert (protocol version|handshake failure)|no shared cipher/i);
      const cbc = await s('-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA');
      assert.notEqual(cbc.code, 0, cbc.stdout);
      assert.match(cbc.stdout, /alert handshake failure|no shared cipher/i);
      const good = await s('-tls1_2');
      assert.match(good.stdout, /Protocol\s*:\s*TLSv1\.2/);
      assert.match(good.stdout, /Cipher\s*:\s*ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)/);
    });

    it("runs with the production defaults, as etcd's own startup log says", async () => {
      const f = await startupFields(a);
      assert.equal(f['etcd-version'], version);
      assert.equal(f['heartbeat-interval'], '100ms');
      assert.equal(f['election-timeout'], '1s');
      assert.equal(f['auto-compaction-retention'], '0s', 'compaction off');
      assert.equal(f['initial-corrupt-check'], true);
      assert.equal(f['corrupt-check-time-interval'], '5m0s');
      assert.equal(f['quota-backend-bytes'], 2147483648);
      if (version.startsWith('3.5')) assert.equal(f['compact-check-time-enabled'], true, 'the compact hash check');
      assert.deepEqual(f['listen-metrics-urls'], ['http://127.0.0.1:2381']);
    });

    it('accepts peers with different certificate CNs (no CN allow-list): the members are named differently and the cluster is healthy', async () => {
      const cn = async (i: number) => ok(await lab.sh(i, 'openssl x509 -noout -subject -in /etc/etcd/pki/peer.crt')).stdout.trim();
      assert.notEqual(await cn(a), await cn(b));
      const health = ok(await lab.etcdctl(a, ['endpoint', 'health', '--cluster']));
      assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 2);
    });

    it('a peer whose certificate another CA signed cannot join the raft', async () => {
      // add host x as a learner (the manual way), then start its etcd with its own CA's peer certificate
      const add = ok(await lab.etcdadm(a, ['member', 'add', url(x, 2380), '--learner', '--name', lab.hostname(x)]), 'member add');
      const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)![1]!;
      const id = /Member ([0-9a-f]+) added/.exec(add.stdout)![1]!;
      ok(
        await lab.sh(
          x,
          `systemctl stop etcd.service && mv /var/lib/etcd /var/lib/etcd.own && sed -i -e 's#^ETCD_INITIAL_CLUSTER=.*#ETCD_INITIAL_CLUSTER=${initial}#' -e 's#^ETCD_INITIAL_CLUSTER_STATE=.*#ETCD_INITIAL_CLUSTER_STATE=existing#' /etc/etcd/etcd.env && : > /var/log/journal/etcd.service.log && (systemctl start etcd.service || true)`,
        ),
      );
      try {
        // the members refuse its peer connections: it never starts as a member of the cluster
        await waitFor(async () => /rejected connection|unknown certificate authority|certificate signed by unknown authority/.test(ok(await lab.on(a, ['cat', '/var/log/journal/etcd.service.log'])).stdout.slice(-200_000)), {
          timeoutMs: 30_000,
          intervalMs: 500,
          what: `host${a}'s etcd to reject the foreign peer`,
        });
        const list = ok(await lab.etcdctl(a, ['member', 'list'])).stdout;
        const row = list.split('\n').find((l) => l.startsWith(id))!;
        assert.match(row, /, unstarted, , /, `still unstarted: ${row}`);
        const health = ok(await lab.etcdctl(a, ['endpoint', 'health', '--cluster']));
        assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 2, 'the cluster is unharmed');
      } finally {
        await lab.sh(x, 'systemctl stop etcd.service');
        ok(await lab.etcdadm(a, ['member', 'remove', id]), 'remove the added member');
      }
    });
  });
}
