import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planOf } from '../helpers/plan.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { knownEtcdFlags } from '../../src/config/etcd-flags.js';
import {
  etcdEnvironment,
  parseEnvFile,
  renderEnvFile,
  renderEtcdctlEnv,
  renderEtcdctlWrapper,
  renderPodManifest,
  renderUnit,
} from '../../src/service/render.js';

const HOST = {
  hostname: 'h',
  addresses: [
    { iface: 'lo', address: '127.0.0.1', family: 4 as const, internal: true },
    { iface: 'eth0', address: '10.88.0.1', family: 4 as const, internal: false },
  ],
  defaultRouteIfaces: [],
  cpus: 2,
};
const plan = planOf({ name: 'etcd-a' }, HOST);
const cluster = { initialCluster: 'etcd-a=https://10.88.0.1:2380', state: 'new' as const, token: 'etcd-0123' };

describe('etcd.env', () => {
  const text = renderEnvFile(plan, cluster);
  const env = parseEnvFile(text);
  it('has etcdadm\'s variables with the plan\'s values', () => {
    assert.equal(env.get('ETCD_NAME'), 'etcd-a');
    assert.equal(env.get('ETCD_INITIAL_CLUSTER'), 'etcd-a=https://10.88.0.1:2380');
    assert.equal(env.get('ETCD_INITIAL_CLUSTER_STATE'), 'new');
    assert.equal(env.get('ETCD_INITIAL_CLUSTER_TOKEN'), 'etcd-0123');
    assert.equal(env.get('ETCD_LISTEN_CLIENT_URLS'), 'https://10.88.0.1:2379,https://127.0.0.1:2379');
    assert.equal(env.get('ETCD_ADVERTISE_CLIENT_URLS'), 'https://10.88.0.1:2379');
    assert.equal(env.get('ETCD_LISTEN_PEER_URLS'), 'https://10.88.0.1:2380');
    assert.equal(env.get('ETCD_INITIAL_ADVERTISE_PEER_URLS'), 'https://10.88.0.1:2380');
    assert.equal(env.get('ETCD_CLIENT_CERT_AUTH'), 'true');
    assert.equal(env.get('ETCD_PEER_CLIENT_CERT_AUTH'), 'true');
    assert.equal(env.get('ETCD_CERT_FILE'), '/etc/etcd/pki/server.crt');
    assert.equal(env.get('ETCD_PEER_KEY_FILE'), '/etc/etcd/pki/peer.key');
    assert.equal(env.get('ETCD_TRUSTED_CA_FILE'), '/etc/etcd/pki/ca.crt');
    assert.equal(env.get('ETCD_DATA_DIR'), '/var/lib/etcd');
    assert.equal(env.get('ETCD_STRICT_RECONFIG_CHECK'), 'true');
    assert.equal(env.get('GOMAXPROCS'), '2');
  });
  it('keeps etcdadm\'s section layout', () => {
    assert.match(text, /# Initial cluster configuration\nETCD_INITIAL_CLUSTER=/);
    assert.match(text, /# Peer configuration\nETCD_INITIAL_ADVERTISE_PEER_URLS=/);
    assert.match(text, /# Client\/server configuration\nETCD_ADVERTISE_CLIENT_URLS=/);
  });
  it('round-trips through the parser', () => {
    assert.deepEqual([...env.entries()], etcdEnvironment(plan, cluster));
  });
});

describe('etcd.env spells each setting for the etcd version that runs', () => {
  const envOf = (version: string, extraArgs?: Record<string, string>) =>
    parseEnvFile(renderEnvFile(planOf({ name: 'etcd-a', version }, HOST, extraArgs ? { etcd: { extraArgs } } : undefined), cluster));
  it('3.4 and 3.5: the experimental flags (3.4 has no compact hash check)', () => {
    const e35 = envOf('3.5.30');
    assert.equal(e35.get('ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK'), 'true');
    assert.equal(e35.get('ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME'), '5m');
    assert.equal(e35.get('ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_ENABLED'), 'true');
    assert.equal(e35.has('ETCD_FEATURE_GATES'), false);
    const e34 = envOf('3.4.23');
    assert.equal(e34.get('ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK'), 'true');
    assert.equal(e34.has('ETCD_EXPERIMENTAL_COMPACT_HASH_CHECK_ENABLED'), false);
  });
  for (const version of ['3.6.16', '3.7.3']) {
    it(`${version}: feature gates and the new names, no experimental variable, every variable a flag of ${version}`, () => {
      const env = envOf(version);
      assert.equal(env.get('ETCD_FEATURE_GATES'), 'InitialCorruptCheck=true,CompactHashCheck=true');
      assert.equal(env.get('ETCD_CORRUPT_CHECK_TIME'), '5m');
      assert.deepEqual([...env.keys()].filter((k) => k.includes('EXPERIMENTAL')), []);
      const flags = knownEtcdFlags(version)!;
      for (const k of env.keys())
        if (k.startsWith('ETCD_')) assert.ok(flags.has(k.slice(5).toLowerCase().replace(/_/g, '-')), `${k} is a flag of etcd ${version}`);
    });
  }
  it("the config's feature gates are merged with etcdadm's into one variable, the config's value winning", () => {
    const env = envOf('3.6.16', { 'feature-gates': 'StopGRPCServiceOnDefrag=true,CompactHashCheck=false' });
    assert.equal(env.get('ETCD_FEATURE_GATES'), 'InitialCorruptCheck=true,CompactHashCheck=false,StopGRPCServiceOnDefrag=true');
    const text = renderEnvFile(planOf({ name: 'etcd-a', version: '3.6.16' }, HOST, { etcd: { extraArgs: { 'feature-gates': 'LeaseCheckpoint=true' } } }), cluster);
    assert.equal(text.match(/^ETCD_FEATURE_GATES=/gm)?.length, 1);
  });
});

describe('unit and wrappers', () => {
  it('renders the systemd unit', () => {
    const u = renderUnit(plan);
    for (const line of [
      'EnvironmentFile=/etc/etcd/etcd.env',
      'ExecStart=/opt/bin/etcd',
      'Type=notify',
      'Restart=on-failure',
      'LimitNOFILE=65536',
      'Nice=-10',
      'IOSchedulingClass=best-effort',
      'IOSchedulingPriority=2',
      'WantedBy=multi-user.target',
    ])
      assert.ok(u.split('\n').includes(line), line);
  });
  it('renders etcdctl.env and etcdctl.sh', () => {
    const env = renderEtcdctlEnv(plan);
    assert.doesNotMatch(env, /ETCDCTL_API/, 'etcdctl 3.6 calls ETCDCTL_API an unrecognized environment variable');
    assert.match(renderEtcdctlEnv(planOf({ name: 'etcd-a', version: '3.5.30' }, HOST)), /^export ETCDCTL_API=3$/m);
    assert.match(env, /^export ETCDCTL_CACERT=\/etc\/etcd\/pki\/ca.crt$/m);
    assert.match(env, /^export ETCDCTL_CERT=\/etc\/etcd\/pki\/etcdctl-etcd-client.crt$/m);
    assert.match(env, /^export ETCDCTL_KEY=\/etc\/etcd\/pki\/etcdctl-etcd-client.key$/m);
    assert.doesNotMatch(env, /ETCDCTL_ENDPOINTS/, 'etcdctl 3.5 refuses ETCDCTL_ENDPOINTS together with --endpoints');
    const sh = renderEtcdctlWrapper(plan);
    assert.match(sh, /^#!\/usr\/bin\/env sh/);
    assert.match(sh, /\. "\/etc\/etcd\/etcdctl.env"/);
  });
  it('etcdctl.sh reaches the local member on its port, unless the caller names endpoints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-wrapper-'));
    try {
      const custom = planOf({ name: 'etcd-a' }, HOST, { member: { clientPort: 12379, peerPort: 12380 } });
      const fake = join(dir, 'etcdctl');
      writeFileSync(fake, '#!/bin/sh\necho "args:$*|env:${ETCDCTL_ENDPOINTS:-}"\n');
      chmodSync(fake, 0o755);
      const envFile = join(dir, 'etcdctl.env');
      const p = { ...custom, files: { ...custom.files, etcdctlEnvFile: envFile }, install: { ...custom.install, binaries: { ...custom.install.binaries, etcdctl: fake } } };
      writeFileSync(envFile, renderEtcdctlEnv(p));
      const wrapper = join(dir, 'etcdctl.sh');
      writeFileSync(wrapper, renderEtcdctlWrapper(p));
      chmodSync(wrapper, 0o755);
      const run = (args: string[], env: NodeJS.ProcessEnv = {}) => execFileSync(wrapper, args, { env: { PATH: process.env.PATH, ...env } }).toString().trim();
      assert.equal(run(['endpoint', 'health']), 'args:--endpoints=https://127.0.0.1:12379 endpoint health|env:');
      assert.equal(run(['--endpoints=https://10.0.0.1:12379,https://10.0.0.2:12379', 'endpoint', 'status']), 'args:--endpoints=https://10.0.0.1:12379,https://10.0.0.2:12379 endpoint status|env:');
      assert.equal(run(['endpoint', 'status', '--endpoints', 'https://10.0.0.3:12379']), 'args:endpoint status --endpoints https://10.0.0.3:12379|env:');
      assert.equal(run(['get', 'k'], { ETCDCTL_ENDPOINTS: 'https://10.0.0.9:12379' }), 'args:get k|env:https://10.0.0.9:12379');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('renders a valid static Pod manifest', () => {
    const doc = parse(renderPodManifest(plan, etcdEnvironment(plan, cluster)));
    assert.equal(doc.kind, 'Pod');
    assert.equal(doc.spec.hostNetwork, true);
    const c = doc.spec.containers[0];
    assert.equal(c.image, `quay.io/coreos/etcd:v${DEFAULTS.etcdVersion}`);
    assert.deepEqual(
      c.env.find((e: { name: string }) => e.name === 'ETCD_DATA_DIR'),
      { name: 'ETCD_DATA_DIR', value: '/var/lib/etcd' },
    );
    assert.deepEqual(
      doc.spec.volumes.map((v: { hostPath: { path: string } }) => v.hostPath.path),
      ['/etc/etcd/pki', '/var/lib/etcd'],
    );
  });
});

describe("etcd's own last error, from its log", () => {
  it('a fatal or error entry wins; else the last entry with an error; plain text fatal lines too', async () => {
    const { lastEtcdError } = await import('../../src/initsystem/index.js');
    const j = (o: object) => JSON.stringify(o);
    assert.equal(
      lastEtcdError([j({ level: 'info', msg: 'starting' }), j({ level: 'warn', msg: 'failed to verify flags', error: 'invalid value "lots" for ETCD_MAX_TXN_OPS: parse error' })].join('\n')),
      'failed to verify flags: invalid value "lots" for ETCD_MAX_TXN_OPS: parse error',
    );
    assert.equal(
      lastEtcdError([j({ level: 'fatal', msg: 'failed to start etcd', error: 'no space left on device' }), j({ level: 'warn', msg: 'x', error: 'later' })].join('\n')),
      'failed to start etcd: no space left on device',
    );
    assert.equal(lastEtcdError('Jan 01 etcd[1]: panic: runtime error\n'), 'Jan 01 etcd[1]: panic: runtime error');
    assert.equal(lastEtcdError(j({ level: 'info', msg: 'serving' })), undefined);
  });
  it("only the newest process's entries: an earlier one's errors while a restart stopped it do not count", async () => {
    const { lastEtcdError } = await import('../../src/initsystem/index.js');
    const j = (o: object) => JSON.stringify(o);
    const stopped = [j({ level: 'info', msg: 'Running: ' }), j({ level: 'error', msg: 'setting up serving from embedded etcd failed.', error: 'use of closed network connection' })];
    const failed = [j({ level: 'info', msg: 'Running: ' }), j({ level: 'warn', msg: 'failed to verify flags', error: 'invalid value "lots" for ETCD_MAX_TXN_OPS: parse error' })];
    assert.equal(lastEtcdError([...stopped, ...failed].join('\n')), 'failed to verify flags: invalid value "lots" for ETCD_MAX_TXN_OPS: parse error');
    assert.equal(lastEtcdError([...stopped, j({ level: 'info', msg: 'Running: ' })].join('\n')), undefined);
  });
});
