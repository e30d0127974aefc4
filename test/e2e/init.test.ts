/**
 * `etcdadm init` on lab hosts, run exactly as a user runs it, against the local release mirror (real download,
 * SHA-256 verification, extraction, install) and real etcd.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { MIRROR_DIR, mirrorTarball } from '../helpers/etcd-bin.js';
import { MIRROR_URL, NetnsLab, ok } from '../helpers/lab.js';
import { DEFAULTS } from '../../src/config/defaults.js';

/** The default etcd version, and as a regular expression. */
const D = DEFAULTS.etcdVersion;
const DRE = D.replace(/\./g, '\\.');

const INIT_PHASES = ['install', 'certificates', 'snapshot', 'configure', 'start', 'etcdctl', 'health', 'post-init-instructions'];
const LEAVES = ['server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client'];

let lab: NetnsLab;
const fixtures = `/tmp/etcdadm-e2e-fixtures-${process.pid}`;

before(async () => {
  lab = await NetnsLab.up(4);
});
after(async () => {
  await lab?.down();
  rmSync(fixtures, { recursive: true, force: true });
});

async function assertInitialized(i: number, version: string): Promise<void> {
  const health = ok(await lab.etcdctl(i, ['endpoint', 'health']), 'etcdctl.sh endpoint health');
  assert.match(health.stdout + health.stderr, /is healthy/);
  ok(await lab.etcdctl(i, ['put', 'greeting', `hello-from-${i}`]), 'etcdctl put');
  const get = ok(await lab.etcdctl(i, ['get', 'greeting', '--print-value-only']), 'etcdctl get');
  assert.equal(get.stdout.trim(), `hello-from-${i}`);

  const verify = ok(
    await lab.on(i, ['openssl', 'verify', '-CAfile', '/etc/etcd/pki/ca.crt', ...LEAVES.map((l) => `/etc/etcd/pki/${l}.crt`)]),
    'openssl verify',
  );
  for (const l of LEAVES) assert.match(verify.stdout, new RegExp(`${l}.crt: OK`));
  const modes = ok(await lab.sh(i, 'stat -c "%n %a" /etc/etcd/pki /etc/etcd/pki/*.key'), 'stat').stdout.trim().split('\n');
  assert.deepEqual(modes, [
    '/etc/etcd/pki 700',
    '/etc/etcd/pki/apiserver-etcd-client.key 600',
    '/etc/etcd/pki/ca.key 600',
    '/etc/etcd/pki/etcdctl-etcd-client.key 600',
    '/etc/etcd/pki/peer.key 600',
    '/etc/etcd/pki/server.key 600',
  ]);
  const apiserver = ok(await lab.on(i, ['openssl', 'x509', '-noout', '-subject', '-in', '/etc/etcd/pki/apiserver-etcd-client.crt']));
  assert.match(apiserver.stdout, /O ?= ?system:masters/);
  const server = ok(await lab.on(i, ['openssl', 'x509', '-noout', '-ext', 'subjectAltName', '-in', '/etc/etcd/pki/server.crt']));
  for (const san of [`DNS:${lab.hostname(i)}`, 'DNS:localhost', `IP Address:${lab.ip(i)}`, 'IP Address:127.0.0.1']) assert.ok(server.stdout.includes(san), san);

  const env = ok(await lab.on(i, ['cat', '/etc/etcd/etcd.env'])).stdout;
  for (const line of [
    `ETCD_NAME=${lab.hostname(i)}`,
    `ETCD_INITIAL_CLUSTER=${lab.hostname(i)}=https://${lab.ip(i)}:2380`,
    'ETCD_INITIAL_CLUSTER_STATE=new',
    `ETCD_ADVERTISE_CLIENT_URLS=https://${lab.ip(i)}:2379`,
    `ETCD_LISTEN_CLIENT_URLS=https://${lab.ip(i)}:2379,https://127.0.0.1:2379`,
    'ETCD_CLIENT_CERT_AUTH=true',
    'ETCD_PEER_CLIENT_CERT_AUTH=true',
    'ETCD_DATA_DIR=/var/lib/etcd',
  ])
    assert.ok(env.split('\n').includes(line), `etcd.env has ${line}`);
  // etcd itself says which variables it took: every ETCD_* line of etcd.env, and nothing it did not recognize
  const etcdLog = ok(await lab.on(i, ['cat', '/var/log/journal/etcd.service.log'])).stdout;
  assert.doesNotMatch(etcdLog, /unrecognized environment variable/i);
  for (const key of env.split('\n').filter((l) => l.startsWith('ETCD_')).map((l) => l.split('=')[0]!))
    assert.match(etcdLog, new RegExp(`recognized and used environment variable[^\\n]*${key}(=|")`), `etcd ${version} took ${key}`);
  const unit = ok(await lab.on(i, ['cat', '/etc/systemd/system/etcd.service'])).stdout;
  for (const line of ['Type=notify', 'ExecStart=/opt/bin/etcd', 'EnvironmentFile=/etc/etcd/etcd.env', 'Restart=on-failure', 'Nice=-10'])
    assert.ok(unit.split('\n').includes(line), `unit has ${line}`);
  assert.equal(ok(await lab.on(i, ['systemctl', 'is-active', 'etcd.service'])).stdout.trim(), 'active');

  const v = ok(await lab.on(i, ['/opt/bin/etcd', '--version'])).stdout;
  assert.match(v, new RegExp(`etcd Version: ${version.replace(/\./g, '\\.')}`));
  const utl = await lab.on(i, ['test', '-x', '/opt/bin/etcdutl']);
  assert.equal(utl.code === 0, !version.startsWith('3.4'), 'etcdutl present exactly on 3.5');
}

describe('etcdadm init', () => {
  it('lists the phases in etcdadm\'s order', async () => {
    const help = ok(await lab.etcdadm(1, ['init', 'phase', '--help'])).stdout;
    const listed = INIT_PHASES.map((p) => help.indexOf(`\n  ${p} `));
    assert.ok(listed.every((x) => x > 0), help);
    assert.deepEqual([...listed].sort((a, b) => a - b), listed);
  });

  it('initializes the default version, 3.4.23, and the same cluster phase by phase, on three hosts at once', async () => {
    const phaseByPhase = async () => {
      for (const p of INIT_PHASES) ok(await lab.etcdadm(3, ['init', 'phase', p, '--release-url', MIRROR_URL, '--insecure-release-url']), `init phase ${p}`);
    };
    const [r1, r2] = await Promise.all([
      lab.etcdadm(1, ['init', '--release-url', MIRROR_URL, '--insecure-release-url']),
      lab.etcdadm(2, ['init', '--release-url', MIRROR_URL, '--insecure-release-url', '--version', '3.4.23']),
      phaseByPhase(),
    ]);
    ok(r1, 'init on host1');
    ok(r2, 'init --version 3.4.23 on host2');
    assert.equal(r1.stdout.trim(), 'etcdadm join https://10.88.0.1:2379');
    assert.match(r1.stderr, /\[certificates\] Generated server certificate and key\./);
    assert.match(r1.stderr, /\[post-init-instructions\]/);
    await assertInitialized(1, D);
    await assertInitialized(2, '3.4.23');
    await assertInitialized(3, D);

    // phase by phase gives the same files as init: same names, same content but for the host's own values
    const files = 'cd / && find etc/etcd etc/systemd/system/etcd.service opt/bin var/lib/etcd -maxdepth 1 | sort';
    const norm = (s: string, i: number) => s.replaceAll(lab.hostname(i), 'HOST').replaceAll(lab.ip(i), 'IP');
    assert.equal(norm(ok(await lab.sh(3, files)).stdout, 3), norm(ok(await lab.sh(1, files)).stdout, 1));
    for (const f of ['/etc/etcd/etcd.env', '/etc/systemd/system/etcd.service', '/etc/etcd/etcdctl.env', '/opt/bin/etcdctl.sh']) {
      const strip = (s: string) => s.replace(/^ETCD_INITIAL_CLUSTER_TOKEN=.*$/m, '');
      assert.equal(strip(norm(ok(await lab.on(3, ['cat', f])).stdout, 3)), strip(norm(ok(await lab.on(1, ['cat', f])).stdout, 1)), f);
    }
  });

  it('refuses to init again over a running member without --force, changing nothing', async () => {
    const before = ok(await lab.sh(1, 'md5sum /etc/etcd/etcd.env /etc/etcd/pki/*')).stdout;
    const r = await lab.etcdadm(1, ['init', '--release-url', MIRROR_URL, '--insecure-release-url']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /etcd is already running on this host/);
    assert.equal(ok(await lab.sh(1, 'md5sum /etc/etcd/etcd.env /etc/etcd/pki/*')).stdout, before);
    ok(await lab.etcdctl(1, ['endpoint', 'health']));
  });
});

describe('etcdadm init: bad inputs leave nothing behind', () => {
  const H = 4;
  before(() => {
    // a tampered archive (one byte flipped, upstream SHA256SUMS kept) and a corrupt archive with a matching SHA256SUMS
    const t = `${fixtures}/tampered/v${D}`;
    mkdirSync(t, { recursive: true });
    const buf = readFileSync(mirrorTarball(D));
    buf[buf.length >> 1] = buf[buf.length >> 1]! ^ 0xff;
    writeFileSync(`${t}/etcd-v${D}-linux-amd64.tar.gz`, buf);
    copyFileSync(`${MIRROR_DIR}/v${D}/SHA256SUMS`, `${t}/SHA256SUMS`);
    const c = `${fixtures}/corrupt/v${D}`;
    mkdirSync(c, { recursive: true });
    writeFileSync(`${c}/etcd-v${D}-linux-amd64.tar.gz`, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), Buffer.alloc(4096, 7)]));
    execFileSync('bash', ['-c', `cd ${c} && sha256sum etcd-v${D}-linux-amd64.tar.gz > SHA256SUMS`]);
  });

  async function assertFailsCleanly(args: string[], pattern: RegExp): Promise<void> {
    const r = await lab.etcdadm(H, ['init', ...args], 60_000);
    assert.notEqual(r.code, 0, `init ${args.join(' ')} must fail`);
    const errors = r.stderr.split('\n').filter((l) => / ERROR /.test(l));
    assert.equal(errors.length, 1, `one error line, got:\n${r.stderr}`);
    assert.match(errors[0]!, pattern);
    const left = await lab.sh(H, 'find /opt/bin /etc/etcd /etc/systemd/system/etcd.service /var/lib/etcd \\( -type f -o -type l \\) 2>/dev/null');
    assert.equal(left.stdout.trim(), '', `nothing installed or written; found:\n${left.stdout}`);
    assert.deepEqual(await lab.etcdProcesses(H), [], 'no etcd process');
  }

  it('a plain http release URL without --insecure-release-url: refused before anything is fetched (exit 2); with it, a warning', async () => {
    const cache = async () => ok(await lab.sh(H, 'find /var/cache/etcdadm 2>/dev/null | sort')).stdout;
    const cached = await cache();
    await assertFailsCleanly(
      ['--release-url', MIRROR_URL],
      /refusing to download etcd from http:\/\/10\.88\.0\.200 over plain http: the archive and its SHA256SUMS would come over one unauthenticated channel, and etcdadm runs what it installs as root\. Serve the mirror over https:\/\/ or use a file:\/\/ mirror; or accept the risk with --insecure-release-url/,
    );
    assert.equal((await lab.etcdadm(H, ['init', '--release-url', MIRROR_URL])).code, 2);
    assert.equal((await lab.etcdadm(H, ['download', '--release-url', MIRROR_URL])).code, 2, 'download too');
    assert.equal(await cache(), cached, 'nothing fetched into the cache');
    // (another version than the cases below install: a cached archive would spare them the server)
    const r = ok(await lab.etcdadm(H, ['download', '--release-url', MIRROR_URL, '--insecure-release-url', '--version', '3.6.14']), 'download --insecure-release-url');
    assert.match(r.stderr, /WARN.*The release URL http:\/\/10\.88\.0\.200 is plain http \(accepted with --insecure-release-url\): nothing authenticates the archive or its SHA256SUMS/);
  });
  it('unreachable release URL', () => assertFailsCleanly(['--release-url', 'http://10.88.0.200:8081', '--insecure-release-url'], new RegExp(`Cannot reach http://10\\.88\\.0\\.200:8081/v${DRE}/SHA256SUMS: connection refused`)));
  it('a version that does not exist', () => assertFailsCleanly(['--release-url', MIRROR_URL, '--insecure-release-url', '--version', '3.9.99'], /etcd v3\.9\.99 not found at http:\/\/10\.88\.0\.200\/v3\.9\.99\/etcd-v3\.9\.99-linux-amd64\.tar\.gz/));
  it('SHA-256 mismatch', () => assertFailsCleanly(['--release-url', `file://${fixtures}/tampered`], new RegExp(`SHA-256 mismatch for etcd-v${DRE}-linux-amd64\\.tar\\.gz: expected [0-9a-f]{64}, got [0-9a-f]{64}`)));
  it('corrupt archive', () => assertFailsCleanly(['--release-url', `file://${fixtures}/corrupt`], new RegExp(`Cannot extract \\S*etcd-v${DRE}-linux-amd64\\.tar\\.gz: the archive is corrupt`)));
  it('--bind-address not on this host', () => assertFailsCleanly(['--release-url', MIRROR_URL, '--insecure-release-url', '--bind-address', '10.88.0.99'], /10\.88\.0\.99 is not an address of this host/));
  it('an invalid --name', () => assertFailsCleanly(['--release-url', MIRROR_URL, '--insecure-release-url', '--name', 'bad_name!'], /invalid --name/));
  it('port 2379 already taken', async () => {
    const pidFile = `${fixtures}/listener.pid`;
    ok(await lab.sh(H, `setsid python3 -m http.server 2379 --bind ${lab.ip(H)} >/dev/null 2>&1 < /dev/null & echo $! > ${pidFile}; for i in $(seq 50); do (exec 3<>/dev/tcp/${lab.ip(H)}/2379) 2>/dev/null && break; sleep 0.1; done`));
    try {
      await assertFailsCleanly(['--release-url', MIRROR_URL, '--insecure-release-url'], /port 2379 .*already in use/);
    } finally {
      await lab.sh(H, `kill $(cat ${pidFile})`);
    }
  });
  it('an existing data dir without --force', async () => {
    ok(await lab.sh(H, 'mkdir -p /var/lib/etcd/member/snap'));
    try {
      const r = await lab.etcdadm(H, ['init', '--release-url', MIRROR_URL, '--insecure-release-url']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /data dir \/var\/lib\/etcd already holds an etcd member/);
      assert.equal(ok(await lab.sh(H, 'find /opt/bin /etc/etcd \\( -type f -o -type l \\) 2>/dev/null; ls /var/lib/etcd')).stdout.trim(), 'member');
    } finally {
      ok(await lab.sh(H, 'rm -r /var/lib/etcd'));
    }
  });
});

describe('etcdadm init: the advertised address', () => {
  it('is the default-route interface\'s address when there is a default route', async () => {
    // a second interface that carries the default route: its address wins over eth0's (no traffic is sent)
    ok(await lab.sh(4, 'ip link add dv0 type veth peer name dv1 && ip addr add 10.99.0.5/24 dev dv0 && ip link set dv1 up && ip link set dv0 up && ip route add default dev dv0'));
    try {
      const r = ok(await lab.etcdadm(4, ['init', 'phase', 'post-init-instructions']));
      assert.equal(r.stdout.trim(), 'etcdadm join https://10.99.0.5:2379');
    } finally {
      ok(await lab.sh(4, 'ip link del dv0'));
    }
  });
  it('is the first global unicast address without a default route', async () => {
    const r = ok(await lab.etcdadm(4, ['init', 'phase', 'post-init-instructions']));
    assert.equal(r.stdout.trim(), 'etcdadm join https://10.88.0.4:2379');
  });
});

describe('etcdadm download and version', () => {
  it('download fetches a release into the cache, verified, and prints its path', async () => {
    const r = ok(await lab.etcdadm(4, ['download', '--release-url', MIRROR_URL, '--insecure-release-url', '--version', '3.5.16']));
    const path = r.stdout.trim();
    assert.equal(path, '/var/cache/etcdadm/etcd/v3.5.16/etcd-v3.5.16-linux-amd64.tar.gz');
    const sum = ok(await lab.sh(4, `cd /var/cache/etcdadm/etcd/v3.5.16 && sha256sum -c SHA256SUMS`));
    assert.match(sum.stdout, /etcd-v3\.5\.16-linux-amd64\.tar\.gz: OK/);
    const again = ok(await lab.etcdadm(4, ['download', '--release-url', 'http://10.88.0.200:8081', '--insecure-release-url', '--version', '3.5.16']));
    assert.equal(again.stdout.trim(), path, 'a cached, verified archive needs no server');
  });
  it('version prints etcdadm\'s own version: plain, --short, -o json, -o yaml', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(ok(await lab.etcdadm(4, ['version', '--short'])).stdout.trim(), `v${pkg.version}`);
    const json = JSON.parse(ok(await lab.etcdadm(4, ['version', '-o', 'json'])).stdout) as { version: string; gitCommit: string };
    assert.equal(json.version, `v${pkg.version}`);
    assert.match(ok(await lab.etcdadm(4, ['version', '-o', 'yaml'])).stdout, new RegExp(`^version: v${pkg.version.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(ok(await lab.etcdadm(4, ['version'])).stdout, /^etcdadm version: \{"version":"v/);
  });
});
