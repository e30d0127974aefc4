/**
 * The configuration file and the production defaults on lab hosts: defaults fed back give the same files as flags,
 * a custom file builds a 3-host cluster and reset finds everything from the host record, invalid documents are
 * refused with field and line, TLS and the metrics endpoint behave, and a 3-member cluster runs over IPv6 only.
 */
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MIRROR_DIR } from '../helpers/etcd-bin.js';
import { MIRROR_URL, NetnsLab, ok } from '../helpers/lab.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const FILES = ['/etc/etcd/etcd.env', '/etc/systemd/system/etcd.service', '/etc/etcd/etcdctl.env', '/opt/bin/etcdctl.sh'];

describe('configuration file and production defaults (IPv4 lab)', () => {
  let lab: NetnsLab;
  let dir: string;
  before(async () => {
    lab = await NetnsLab.up(6);
    dir = lab.dir; // shared with the hosts: they read the config files from here
  });
  after(async () => {
    await lab?.down();
  });
  const url = (i: number, port = 2379) => `https://${lab.ip(i)}:${port}`;

  it('config print init-defaults, fed back with --config, gives exactly the files flags alone give', async () => {
    const doc = ok(await lab.etcdadm(2, ['config', 'print', 'init-defaults'])).stdout;
    assert.match(doc, /^apiVersion: etcdadm\.io\/v1beta1$/m);
    assert.match(doc, /^kind: InitConfiguration$/m);
    writeFileSync(`${dir}/defaults.yaml`, doc);
    ok(await lab.etcdadm(2, ['config', 'validate', '--config', `${dir}/defaults.yaml`]));
    await Promise.all([lab.etcdadm(1, ['init', ...R]).then((r) => ok(r, 'init with flags')), lab.etcdadm(2, ['init', '--config', `${dir}/defaults.yaml`, ...R]).then((r) => ok(r, 'init --config'))]);
    const norm = (t: string, i: number) => t.replaceAll(lab.hostname(i), 'HOST').replaceAll(lab.ip(i), 'IP').replace(/^ETCD_INITIAL_CLUSTER_TOKEN=.*$/m, '');
    for (const f of FILES) assert.equal(norm(ok(await lab.on(2, ['cat', f])).stdout, 2), norm(ok(await lab.on(1, ['cat', f])).stdout, 1), f);
    // config view shows what this host was set up with: the derived values written out, not the printed defaults
    const view = parse(ok(await lab.etcdadm(2, ['config', 'view'])).stdout) as { kind: string; member: Record<string, unknown> };
    assert.equal(view.kind, 'InitConfiguration');
    assert.equal(view.member.name, 'eahost2');
    assert.deepEqual(view.member.advertiseClientURLs, [`https://${lab.ip(2)}:2379`]);
    assert.deepEqual(view.member.listenClientURLs, [`https://${lab.ip(2)}:2379`, 'https://127.0.0.1:2379']);
    assert.match(doc, /advertiseClientURLs: \[\]/, 'the printed defaults leave them empty');
  });

  it('TLS 1.1 and clients without a certificate are refused; /health on the metrics URL answers on the host', async () => {
    const common = `-connect ${lab.ip(1)}:2379 -CAfile /etc/etcd/pki/ca.crt -cert /etc/etcd/pki/etcdctl-etcd-client.crt -key /etc/etcd/pki/etcdctl-etcd-client.key -cipher DEFAULT:@SECLEVEL=0 </dev/null 2>&1`;
    const tls11 = await lab.sh(1, `openssl s_client -tls1_1 ${common}`);
    assert.notEqual(tls11.code, 0);
    assert.match(tls11.stdout, /alert protocol version/i);
    const tls12 = await lab.sh(1, `openssl s_client -tls1_2 ${common}`);
    assert.match(tls12.stdout, /Protocol\s*:\s*TLSv1\.2/, 'the same client gets TLS 1.2, so the refusal above is the server\'s');
    const noCert = await lab.sh(1, `curl -sS --max-time 5 --cacert /etc/etcd/pki/ca.crt https://${lab.ip(1)}:2379/health`);
    assert.notEqual(noCert.code, 0, `a client without certificate must be refused: ${noCert.stdout}`);
    const withCert = ok(await lab.sh(1, `curl -sS --max-time 5 --cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/etcdctl-etcd-client.crt --key /etc/etcd/pki/etcdctl-etcd-client.key https://${lab.ip(1)}:2379/health`));
    assert.match(withCert.stdout, /"health":"true"/);
    const metrics = ok(await lab.sh(1, 'curl -sS --max-time 5 http://127.0.0.1:2381/health'));
    assert.match(metrics.stdout, /^\{"health":"true"/);
    const fromOutside = await lab.sh(2, `curl -sS --max-time 3 http://${lab.ip(1)}:2381/health`);
    assert.notEqual(fromOutside.code, 0, 'the metrics URL is on the loopback only');
  });

  it('a config file with a custom data dir, ports 12379/12380 and an extraArgs entry builds a 3-host cluster; reset needs no flags', async () => {
    const sections = `member:
  dataDir: /var/lib/etcd-custom
  clientPort: 12379
  peerPort: 12380
  listenMetricsURLs: ["http://127.0.0.1:12381"]
etcd:
  releaseURL: ${MIRROR_URL}
  insecureReleaseURL: true
  extraArgs:
    max-txn-ops: "256"
`;
    writeFileSync(`${dir}/init.yaml`, `apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\n${sections}`);
    writeFileSync(`${dir}/join.yaml`, `apiVersion: etcdadm.io/v1beta1\nkind: JoinConfiguration\n${sections}join:\n  endpoints: ["${url(3, 12379)}"]\n`);
    const init = ok(await lab.etcdadm(3, ['init', '--config', `${dir}/init.yaml`]), 'init --config');
    assert.equal(init.stdout.trim(), `etcdadm join ${url(3, 12379)}`);
    for (const i of [4, 5]) {
      await lab.copyCA(3, i);
      ok(await lab.etcdadm(i, ['join', '--config', `${dir}/join.yaml`]), `join host${i} --config`);
    }
    const env = ok(await lab.on(4, ['cat', '/etc/etcd/etcd.env'])).stdout;
    for (const line of ['ETCD_DATA_DIR=/var/lib/etcd-custom', `ETCD_LISTEN_PEER_URLS=https://${lab.ip(4)}:12380`, 'ETCD_MAX_TXN_OPS=256'])
      assert.ok(env.split('\n').includes(line), line);
    const health = ok(await lab.etcdctl(5, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
    assert.match(health.stdout + health.stderr, /:12379 is healthy/);
    ok(await lab.sh(5, 'test -d /var/lib/etcd-custom/member'));

    const reset = ok(await lab.etcdadm(5, ['reset']), 'reset with no flags');
    assert.match(reset.stderr, /Removed the data dir \/var\/lib\/etcd-custom/);
    const left = ok(await lab.sh(5, 'ls -d /var/lib/etcd-custom /etc/etcd /etc/systemd/system/etcd.service 2>/dev/null; true'));
    assert.equal(left.stdout.trim(), '');
    const members = ok(await lab.etcdctl(3, ['member', 'list'])).stdout.trim().split('\n');
    assert.deepEqual(members.map((l) => l.split(', ')[2]).sort(), ['eahost3', 'eahost4']);
  });

  describe('invalid documents: an error naming field and line, nothing written', () => {
    const H = 6;
    const cases: [string, string, RegExp][] = [
      ['unknown field', 'member:\n  dataDri: /x\n', /bad\.yaml:4: member\.dataDri: unknown field \(did you mean "dataDir"\?\)/],
      ['wrong type', 'member:\n  clientPort: "many"\n', /bad\.yaml:4: member\.clientPort: /],
      ['bad URL', 'member:\n  advertiseClientURLs: ["https://10.0.0.1:notaport"]\n', /bad\.yaml:4: member\.advertiseClientURLs\[0\]: /],
      ['election < 5 x heartbeat', 'etcd:\n  heartbeatInterval: 100\n  electionTimeout: 300\n', /bad\.yaml:5: etcd\.electionTimeout: must be at least 5 × etcd\.heartbeatInterval/],
      ['unknown extraArgs key for the version', 'etcd:\n  version: 3.4.23\n  extraArgs:\n    experimental-memory-mlock: "true"\n', /bad\.yaml:6: etcd\.extraArgs\.experimental-memory-mlock: /],
      ['a version that cannot be parsed', 'etcd:\n  version: three.five\n', /bad\.yaml:4: etcd\.version: /],
    ];
    for (const [what, body, pattern] of cases) {
      it(what, async () => {
        writeFileSync(`${dir}/bad.yaml`, `apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\n${body}`);
        const r = await lab.etcdadm(H, ['init', '--config', `${dir}/bad.yaml`, ...R]);
        assert.equal(r.code, 2, r.stderr);
        const errors = r.stderr.split('\n').filter((l) => / ERROR /.test(l));
        assert.equal(errors.length, 1, r.stderr);
        assert.match(errors[0]!, pattern);
        const v = await lab.etcdadm(H, ['config', 'validate', '--config', `${dir}/bad.yaml`]);
        assert.equal(v.code, 2);
        const left = ok(await lab.sh(H, 'find /opt/bin /etc/etcd /var/lib/etcd /etc/systemd/system/etcd.service \\( -type f -o -type l \\) 2>/dev/null; true'));
        assert.equal(left.stdout.trim(), '');
      });
    }
  });
});

describe('IPv6 only', () => {
  let lab: NetnsLab;
  before(async () => {
    lab = await NetnsLab.up(3, { family: 6 });
  });
  after(async () => {
    await lab?.down();
  });

  it('a 3-member cluster over IPv6 is healthy', async () => {
    const R6 = ['--release-url', `file://${MIRROR_DIR}`];
    const init = ok(await lab.etcdadm(1, ['init', ...R6]), 'init');
    assert.equal(init.stdout.trim(), 'etcdadm join https://[fd00::1]:2379');
    for (const i of [2, 3]) {
      await lab.copyCA(1, i);
      ok(await lab.etcdadm(i, ['join', 'https://[fd00::1]:2379', ...R6]), `join host${i}`);
    }
    const health = ok(await lab.etcdctl(3, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/https:\/\/\[fd00::\d\]:2379 is healthy/g)?.length, 3, health.stdout + health.stderr);
    const san = ok(await lab.on(2, ['openssl', 'x509', '-noout', '-ext', 'subjectAltName', '-in', '/etc/etcd/pki/server.crt'])).stdout;
    assert.match(san, /IP Address:FD00:0:0:0:0:0:0:2/i);
  });
});
