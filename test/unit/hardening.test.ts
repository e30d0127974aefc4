/**
 * What comes from a cluster is checked like the operator's own input before it reaches a file, and every renderer
 * refuses control characters and escapes for its file's own syntax (systemd: % and $; sh: quoting of paths and URLs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initialCluster, memberDataProblem, peerUrlProblem } from '../../src/config/urls.js';
import type { Member } from '../../src/etcd/client.js';
import { decideMembership, type MembershipWorld } from '../../src/phases/join.js';
import { envValue, execWord, parseEnvFile, renderEnvFile, renderEtcdctlEnv, renderEtcdctlWrapper, renderOneshotService, shellWord } from '../../src/service/render.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

const host = hostFacts([eth0('10.0.0.3')], ['eth0'], 'node-c');
const plan = planOf({ endpoints: ['https://10.0.0.1:2379'] }, host);
const m = (id: number, name: string, peer = `https://10.0.0.${id}:2380`): Member => ({ id: BigInt(id), idHex: id.toString(16), name, peerURLs: [peer], clientURLs: [], isLearner: false });
const world = (members: Member[]): MembershipWorld => ({ clusterIdHex: 'c1', members, dataHasMember: false, record: undefined, recordedDataDir: undefined });

describe('names and URLs from the cluster', () => {
  it('a member name holding a newline (or "=", or anything but a DNS name) is refused before the join changes anything', () => {
    for (const name of ['rogue\nETCD_LISTEN_CLIENT_HTTP_URLS', 'a=b', 'x y', 'UPPER_case']) {
      const d = decideMembership(plan, world([m(1, 'node-a'), m(2, name)]), { force: false });
      assert.equal(d.kind, 'refuse', name);
      assert.match((d as { message: string }).message, /^the cluster's member 2 is named ".*", which must be a DNS name.*: it cannot go into etcd\.env$/);
    }
    assert.equal(decideMembership(plan, world([m(1, 'node-a'), m(2, 'node-b')]), { force: false }).kind, 'add');
  });

  it('a peer URL that is not scheme://host:port, or holds a comma or a newline, is refused', () => {
    for (const u of ['https://10.0.0.2:2380,evil=https://1.2.3.4:2380', 'https://10.0.0.2:2380\nX=1', 'https://10.0.0.2:2380/path', 'ftp://10.0.0.2:2380', 'https://u:p@10.0.0.2:2380', 'https://10.0.0.2'])
      assert.ok(peerUrlProblem(u), u);
    assert.equal(peerUrlProblem('https://[fd00::2]:2380'), undefined);
    assert.match(memberDataProblem({ name: 'node-b', peerURLs: ['https://10.0.0.2:2380,x=y'], id: '2' })!.message, /member 2 has the peer URL .*a comma/);
    assert.throws(() => initialCluster([{ name: 'a\nb', peerURLs: ['https://10.0.0.1:2380'] }]), /cannot go into etcd\.env/);
    assert.equal(initialCluster([{ name: '8e9e05c52164694d', peerURLs: ['https://10.0.0.1:2380'] }]), '8e9e05c52164694d=https://10.0.0.1:2380', "an unstarted member's hex ID");
  });
});

describe('renderers', () => {
  it('etcd.env: a control character in any value is refused; quotes and backslashes are written in systemd\'s quoting and read back', () => {
    assert.throws(() => renderEnvFile(plan, { initialCluster: 'node-c=https://10.0.0.3:2380', state: 'new', token: 'etcd-1\nETCD_X=1' }), /refusing to write ETCD_INITIAL_CLUSTER_TOKEN in etcd\.env: its value ".*" holds a control character/);
    assert.equal(envValue('K', 'https://10.0.0.1:2380'), 'https://10.0.0.1:2380');
    assert.equal(envValue('K', 'a "b" \\c'), '"a \\"b\\" \\\\c"');
    assert.equal(parseEnvFile(`K=${envValue('K', 'a "b" \\c')}\n`).get('K'), 'a "b" \\c');
  });

  it('unit words: % and $ escaped, control characters refused', () => {
    assert.equal(execWord('/opt/bin/etcd'), '/opt/bin/etcd');
    assert.equal(execWord('/opt/my%bin/et$cd'), '"/opt/my%%bin/et$$cd"');
    assert.throws(() => execWord('/opt/bin/etcd\nExecStartPre=/bin/sh'), /control character/);
    assert.match(renderOneshotService({ description: 'x', argv: ['/usr/bin/etcdadm', 'backup', 'run'] }), /^ExecStart=\/usr\/bin\/etcdadm backup run$/m);
  });

  it('etcdctl.env and etcdctl.sh: paths and URLs quoted for sh; sh reads them back exactly', () => {
    assert.equal(shellWord('x', '/etc/etcd/pki/ca.crt'), '/etc/etcd/pki/ca.crt');
    assert.equal(shellWord('x', "/tmp/it's $HOME"), "'/tmp/it'\\''s $HOME'");
    const odd = planOf({ endpoints: ['https://10.0.0.1:2379'], certsDir: "/etc/etcd/p ki's $x", installDir: '/opt/b$in' }, host);
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-render-'));
    try {
      writeFileSync(join(dir, 'env'), renderEtcdctlEnv(odd));
      const cacert = execFileSync('sh', ['-c', `. ${join(dir, 'env')}; printf %s "$ETCDCTL_CACERT"`], { encoding: 'utf8' });
      assert.equal(cacert, "/etc/etcd/p ki's $x/ca.crt");
      writeFileSync(join(dir, 'wrapper'), renderEtcdctlWrapper(odd));
      execFileSync('sh', ['-n', join(dir, 'wrapper')]);
      assert.match(renderEtcdctlWrapper(odd), /exec '\/opt\/b\$in\/etcdctl' --endpoints="https:\/\/127\.0\.0\.1:2379" "\$@"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.match(renderEtcdctlWrapper(plan), /^\. "\/etc\/etcd\/etcdctl\.env"$/m, 'plain paths as etcdadm always wrote them');
  });
});

describe('release archives', () => {
  it('a crafted archive with a link chain (a/b -> .., then a link through it) installs nothing, and leaves nothing', async () => {
    const { MemoryHost } = await import('../../src/host/memory.js');
    const { extractedRelease } = await import('../../src/release/cache.js');
    const { tarGz } = await import('../helpers/host-contract.js');
    const { Logger } = await import('../../src/log/logger.js');
    const h = new MemoryHost({ exec: () => ({ code: 0, stdout: 'etcd Version: 3.6.16\n', stderr: '' }) });
    await h.mkdir('/opt/bin', 0o755);
    await h.write('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    const top = 'etcd-v3.6.16-linux-amd64';
    await h.write('/srv/evil.tar.gz', tarGz([
      { path: `${top}/`, type: 'dir' },
      { path: `${top}/etcd`, data: 'x', mode: 0o755 },
      { path: `${top}/etcdctl`, data: 'x', mode: 0o755 },
      { path: `${top}/a/`, type: 'dir' },
      { path: `${top}/a/b`, type: 'symlink', target: '..' },
      { path: `${top}/a/b/up`, type: 'symlink', target: '../../../../etc' },
      { path: `${top}/a/b/up/passwd`, data: 'owned' },
    ]));
    const before = JSON.stringify(await h.tree('/'));
    const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });
    await assert.rejects(extractedRelease(h, '/srv/evil.tar.gz', 'f'.repeat(64), quiet), /Refusing to install evil\.tar\.gz: unsafe entries .*a\/b: a symbolic link/);
    assert.equal(JSON.stringify(await h.tree('/')), before);
    assert.equal(await h.read('/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  });
});

describe('snapshot series', () => {
  it("prune removes only this member's series: another member's snapshots in the same directory (or prefix) stay", async () => {
    const { MemoryHost } = await import('../../src/host/memory.js');
    const { pruneSnapshots, snapshotName } = await import('../../src/snapshot/catalog.js');
    const h = new MemoryHost();
    const t = (min: number) => new Date(Date.UTC(2026, 11, 1, 12, min));
    const names = [snapshotName('etcd-a', t(1)), snapshotName('etcd-a', t(2)), snapshotName('etcd-a', t(3)), snapshotName('etcd-a-b', t(4)), snapshotName('etcd-b', t(0)), 'by-hand.db'];
    for (const n of names) await h.write(`/srv/shared/${n}`, 'x', { mode: 0o600 });
    const removed: string[] = [];
    const r = await pruneSnapshots(h, '/srv/shared', 1, 'etcd-a', (e) => removed.push(e.name));
    assert.deepEqual(r, { kept: 1, removed: 2 });
    assert.deepEqual(removed.sort(), [names[0], names[1]].sort());
    assert.deepEqual(await h.list('/srv/shared'), [names[2], names[3], names[4], 'by-hand.db'].sort());
  });
});

describe('bundles', () => {
  it('a malformed bundle is one line without a quote of the file: no key material in the error', async () => {
    const { parseBundle } = await import('../../src/pki/bundle.js');
    const text = 'apiVersion: etcdadm.io/v1alpha1\nkind: CertificateBundle\nfiles:\n  server.key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n  x: [\n';
    const err = (() => {
      try {
        parseBundle(text, '/root/host2.bundle');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(err);
    assert.match(err.message, /^\/root\/host2\.bundle is not an etcdadm certificate bundle: not valid YAML/);
    assert.doesNotMatch(err.message, /MIIE|PRIVATE KEY|\n/);
  });
});

describe('plain http', () => {
  it('a join endpoint must be https (etcdadm clusters serve clients over TLS only), from a flag or a file', () => {
    assert.throws(() => planOf({ endpoints: ['http://10.0.0.1:2379'] }, host), /must be an https:\/\/ URL \(etcdadm clusters serve clients over TLS only\), got "http:\/\/10\.0\.0\.1:2379"/);
    assert.throws(() => planOf({}, host, { join: { endpoints: ['http://10.0.0.1:2379'] } }), /join\.endpoints.*must be an https:\/\/ URL/);
    assert.deepEqual(plan.join.endpoints, ['https://10.0.0.1:2379']);
  });

  it('a release URL over http is refused without --insecure-release-url (exit 2); https and file:// need nothing', async () => {
    const { insecureReleaseProblem } = await import('../../src/release/spec.js');
    const e = insecureReleaseProblem({ releaseUrl: 'http://mirror.example:8080/etcd' });
    assert.equal(e?.exitCode, 2);
    assert.match(e!.oneLine(), /^refusing to download etcd from http:\/\/mirror\.example:8080\/etcd over plain http: .*--insecure-release-url/);
    assert.equal(insecureReleaseProblem({ releaseUrl: 'http://mirror.example:8080/etcd', insecureReleaseUrl: true }), undefined);
    assert.equal(insecureReleaseProblem({ releaseUrl: 'HTTP://mirror.example/' })?.exitCode, 2, 'the scheme in any case');
    for (const u of ['https://github.com/etcd-io/etcd/releases/download', 'file:///srv/etcd']) assert.equal(insecureReleaseProblem({ releaseUrl: u }), undefined, u);
    // the consent is a setting: from the flag, kept in the plan (and so in the host record)
    assert.equal(planOf({ endpoints: ['https://10.0.0.1:2379'], releaseUrl: 'http://m:80', insecureReleaseUrl: true }, host).release.insecureReleaseUrl, true);
    assert.equal(plan.release.insecureReleaseUrl, false);
  });

  it('an S3 endpoint over http is refused without --s3-allow-http; --s3-ca-file with http is refused; the store checks a recorded location again', async () => {
    const { s3LocationFrom, s3TransportProblem } = await import('../../src/s3/location.js');
    const { openStore } = await import('../../src/s3/store.js');
    const o = { s3Endpoint: 'http://10.0.0.9:9000', s3Bucket: 'b-1' };
    assert.throws(() => s3LocationFrom(o, {}), (e: unknown) => (e as { exitCode?: number }).exitCode === 2 && /refusing the plain http S3 endpoint http:\/\/10\.0\.0\.9:9000/.test(String(e)));
    assert.equal(s3LocationFrom({ ...o, s3AllowHttp: true }, {})!.allowHttp, true);
    assert.throws(() => s3LocationFrom({ ...o, s3AllowHttp: true, s3CaFile: '/etc/ca.pem' }, {}), /--s3-ca-file is given but the S3 endpoint http:\/\/10\.0\.0\.9:9000 is plain http/);
    assert.equal(s3LocationFrom({ s3Endpoint: 'https://s3.example', s3Bucket: 'b-1', s3AllowHttp: true }, {})!.allowHttp, undefined, 'no consent recorded for https');
    assert.equal(s3TransportProblem({ endpoint: 'https://s3.example' }), undefined);
    // a location read from an old host record without the consent: refused when the store opens, before any request
    await assert.rejects(openStore({ endpoint: 'http://127.0.0.1:1', bucket: 'b-1', prefix: '', region: 'us-east-1', pathStyle: true }, { env: { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' } }), /refusing the plain http S3 endpoint/);
  });
});

describe('deadlines, bounds and what a release build leaves out', () => {
  it('the oneshot units (backup run, certs renew) have a start deadline: a stalled run cannot hold the host lock forever', () => {
    assert.match(renderOneshotService({ description: 'x', argv: ['/usr/bin/etcdadm', 'backup', 'run'] }), /^TimeoutStartSec=3600$/m);
    assert.match(renderOneshotService({ description: 'x', argv: ['/usr/bin/etcdadm', 'backup', 'run'], timeoutSec: 60 }), /^TimeoutStartSec=60$/m);
  });

  it('the S3 credentials file must belong to root (or the user running etcdadm): one written by another user is refused', async () => {
    const { loadCredentials } = await import('../../src/s3/credentials.js');
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-creds-'));
    try {
      const file = join(dir, 's3.env');
      writeFileSync(file, 'AWS_ACCESS_KEY_ID=a\nAWS_SECRET_ACCESS_KEY=b\n', { mode: 0o600 });
      assert.deepEqual(await loadCredentials({ credentialsFile: file }, {}), { accessKeyId: 'a', secretAccessKey: 'b' });
      execFileSync('chown', ['65534:65534', file]);
      await assert.rejects(loadCredentials({ credentialsFile: file }, {}), (e: unknown) => (e as { exitCode?: number }).exitCode === 2 && /belongs to uid 65534, not to root or to this user: another user could have written it/.test(String(e)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a release build (ETCDADM_RELEASE=1) has no test hooks: ETCDADM_TEST_HOLD / _FAIL are not even read', async () => {
    const { build } = await import('esbuild');
    const bundle = async (hooks: boolean) =>
      (await build({ entryPoints: ['src/cli/main.ts'], bundle: true, platform: 'node', format: 'cjs', write: false, logLevel: 'silent', minifySyntax: true, define: { ETCDADM_TEST_HOOKS: String(hooks), ETCDADM_VERSION: '"0"', ETCDADM_COMMIT: '"0"', 'import.meta.url': '"file:///x"' } })).outputFiles[0]!.text;
    const [test, release] = await Promise.all([bundle(true), bundle(false)]);
    for (const v of ['ETCDADM_TEST_HOLD', 'ETCDADM_TEST_FAIL', 'ETCDADM_TEST_RELEASE']) {
      assert.ok(test.includes(v), `the test build reads ${v}`);
      assert.ok(!release.includes(v), `the release build does not mention ${v}`);
    }
  });
});
