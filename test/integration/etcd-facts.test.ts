/**
 * The facts about etcd that etcdadm writes down as constants, checked against the real binaries of the release
 * mirror instead of against copies of themselves: the per-version flag lists (against `etcd --help` and what the
 * binary accepts), etcd's error texts (each provoked on a real cluster), and the cipher suites (etcd refuses a client
 * that offers only CBC suites).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_CIPHER_SUITES } from '../../src/config/document.js';
import { ETCD_FLAG_SOURCES, ETCD_FLAGS } from '../../src/config/etcd-flags.js';
import { EtcdClient, type EtcdTls } from '../../src/etcd/client.js';
import { ETCD_ERRORS } from '../../src/etcd/errors.js';
import { UNHEALTHY_CLUSTER, retryOn } from '../../src/cluster/retry-policy.js';
import { etcdBinDir } from '../helpers/etcd-bin.js';
import { allocateMember, startEtcd, startEtcdCluster, type EtcdCluster, type EtcdServer } from '../helpers/etcd-server.js';

/** Flags --help documents that are no setting (etcdadm never writes them), and 3.7.3's documented-but-rejected ones. */
const NOT_SETTINGS = new Set(['help', 'version', 'config-file']);
const DOCUMENTED_BUT_REJECTED: Record<string, string[]> = { '3.7': ['discovery', 'discovery-proxy'] };

/** Whether etcd `version` takes ETCD_<FLAG> (it logs "recognized" for a flag, "unrecognized" for anything else). */
function acceptsEnv(bin: string, flag: string): boolean {
  const env = { PATH: '/usr/bin:/bin', [`ETCD_${flag.toUpperCase().replace(/-/g, '_')}`]: '0', ETCD_HEARTBEAT_INTERVAL: 'x' };
  const r = spawnSync(join(bin, 'etcd'), [], { env, encoding: 'utf8', timeout: 10_000 });
  const out = r.stdout + r.stderr;
  return !out.includes('unrecognized environment variable') && !out.includes('flag provided but not defined');
}

describe('the per-version flag lists are what the real binaries take', () => {
  for (const [minor, version] of Object.entries(ETCD_FLAG_SOURCES)) {
    test(`etcd ${version}`, () => {
      const bin = etcdBinDir(version);
      const help = spawnSync(join(bin, 'etcd'), ['--help'], { encoding: 'utf8' });
      const documented = new Set([...(help.stdout + help.stderr).matchAll(/^ {2}--([a-z0-9][a-z0-9-]*)/gm)].map((m) => m[1]!));
      assert.ok(documented.size > 50, `etcd ${version} --help lists ${documented.size} flags`);
      const list = new Set(ETCD_FLAGS[minor as keyof typeof ETCD_FLAGS]);
      const rejected = new Set(DOCUMENTED_BUT_REJECTED[minor] ?? []);
      for (const f of documented) if (!NOT_SETTINGS.has(f) && !rejected.has(f)) assert.ok(list.has(f), `etcd ${version} documents --${f}, the list lacks it`);
      for (const f of rejected) assert.equal(acceptsEnv(bin, f), false, `etcd ${version} rejects --${f} although --help shows it`);
      // flags the list has beyond --help (etcd defines but does not document them): the binary takes each
      for (const f of list) if (!documented.has(f)) assert.ok(acceptsEnv(bin, f), `etcd ${version} takes --${f}`);
      assert.equal(acceptsEnv(bin, 'etcdadm-no-such-flag'), false, 'the probe can tell');
    });
  }
});

describe("etcd's error texts, provoked on a real 3-member cluster", () => {
  let cluster: EtcdCluster;
  let client: EtcdClient;
  let tls: EtcdTls;
  /** etcd's answer to `fn`, once it is past "unhealthy cluster" (refused for 5 s after a start or restart). */
  const failure = async (fn: () => Promise<unknown>): Promise<string> => {
    try {
      await retryOn([UNHEALTHY_CLUSTER], fn, { deadlineMs: 30_000 });
    } catch (err) {
      return (err as { etcdMessage?: string }).etcdMessage ?? String(err);
    }
    throw new Error('expected a failure');
  };
  before(async () => {
    cluster = await startEtcdCluster({ size: 3, tls: true });
    const f = cluster.tls!;
    tls = { ca: f.ca, cert: f.cert, key: f.key };
    client = EtcdClient.create({ endpoints: cluster.endpoints, tls, requestTimeoutMs: 5000 });
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  test('member not found, peer URL exists', async () => {
    assert.equal(await failure(() => client.memberRemove(0x1234567n)), ETCD_ERRORS.memberNotFound);
    const taken = (await client.memberList()).members[0]!.peerURLs;
    assert.equal(await failure(() => client.memberAdd(taken, true)), ETCD_ERRORS.peerURLExists);
  });

  test('learner not ready (promote before it caught up), too many learners (a second one)', async () => {
    const a = await allocateMember(true);
    const added = await retryOn([UNHEALTHY_CLUSTER], () => client.memberAdd([a.peerURL], true), { deadlineMs: 30_000 });
    try {
      assert.equal(await failure(() => client.memberPromote(added.member.id)), ETCD_ERRORS.learnerNotReady);
      const b = await allocateMember(true);
      assert.equal(await failure(() => client.memberAdd([b.peerURL], true)), ETCD_ERRORS.tooManyLearners);
    } finally {
      await retryOn([UNHEALTHY_CLUSTER], () => client.memberRemove(added.member.id), { deadlineMs: 30_000 });
    }
  });

  test('unhealthy cluster: an add while a voting member is down (strict reconfig check)', async () => {
    const down = cluster.members[2]!;
    await down.halt();
    try {
      const a = await allocateMember(true);
      // not retried: with a voter down, etcd answers this until the voter is back
      const r = await client.memberAdd([a.peerURL], true).then(() => 'added', (err: { etcdMessage?: string }) => err.etcdMessage ?? String(err));
      assert.equal(r, ETCD_ERRORS.unhealthy);
    } finally {
      await down.restart();
    }
  });
});

describe('permission denied, with auth on (etcdctl against a real etcd)', () => {
  let server: EtcdServer;
  before(async () => {
    server = await startEtcd({});
  });
  after(async () => server?.stop());
  test('a user without a role may not write', async () => {
    const etcdctl = join(etcdBinDir(server.version), 'etcdctl');
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(etcdctl, [`--endpoints=${server.clientURL}`, ...args], { env: { ETCDCTL_API: '3', PATH: '/usr/bin:/bin' } }, (err, stdout, stderr) =>
          resolve({ code: err ? 1 : 0, out: stdout + stderr }),
        ),
      );
    for (const args of [['user', 'add', 'root:rootpw'], ['user', 'grant-role', 'root', 'root'], ['user', 'add', 'nobody:pw'], ['auth', 'enable']]) {
      const r = await run(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.out}`);
    }
    const denied = await run(['--user', 'nobody:pw', 'put', 'k', 'v']);
    assert.notEqual(denied.code, 0);
    assert.ok(denied.out.includes(ETCD_ERRORS.permissionDenied), denied.out);
  });
});

describe('the default cipher suites', () => {
  let server: EtcdServer;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'etcdadm-ciphers-'));
    server = await startEtcd({ tls: true, extraArgs: [`--cipher-suites=${DEFAULT_CIPHER_SUITES.join(',')}`, '--tls-min-version=TLS1.2'] });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const handshake = (opts: { ciphers: string; maxVersion: 'TLSv1.2' | 'TLSv1.3' }) =>
    new Promise<string>((resolve) => {
      const f = server.tls!;
      const s = connect({ host: '127.0.0.1', port: server.ports.client, ca: f.ca, cert: f.cert, key: f.key, ...opts, minVersion: 'TLSv1.2', ALPNProtocols: ['h2'] }, () => {
        const c = s.getCipher().standardName;
        s.destroy();
        resolve(c);
      });
      s.on('error', (e) => resolve(`refused: ${e.message}`));
    });
  test('are the six ECDHE AEAD suites', () => {
    assert.deepEqual([...DEFAULT_CIPHER_SUITES].sort(), [
      'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
      'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
    ]);
  });
  test('etcd with them refuses a TLS 1.2 client that offers only CBC suites, and takes an AEAD one', async () => {
    assert.match(await handshake({ ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA', maxVersion: 'TLSv1.2' }), /^refused: .*(handshake failure|no shared cipher|alert)/i);
    assert.match(await handshake({ ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }), /^TLS_ECDHE_(ECDSA|RSA)_WITH_AES_128_GCM_SHA256$/);
  });
});
