import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseAdvertiseAddress, isGlobalUnicast } from '../../src/config/address.js';
import { parseDuration, formatDuration } from '../../src/config/duration.js';
import { flagsLayer } from '../../src/cli/flags.js';
import { validateMemberName } from '../../src/config/document.js';
import { releasePlan } from '../../src/config/plan/release.js';
import { mergeSettings } from '../../src/config/settings.js';
import { hostPort, httpsUrl, initialCluster, parseEndpoint, sanSet } from '../../src/config/urls.js';
import { EtcdadmError } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { LOOPBACK as lo, eth0, eth1, hostFacts as facts, planOf } from '../helpers/plan.js';

const resolveMemberPlan = (flags: Record<string, unknown>, host: ReturnType<typeof facts>, doc?: object) => planOf(flags, host, doc);

describe('address choice', () => {
  it('prefers the default-route interface over the first interface', () => {
    assert.equal(chooseAdvertiseAddress([...lo, eth0('10.0.0.5'), eth1('192.168.1.7')], ['eth1']), '192.168.1.7');
  });
  it('falls back to the first global unicast address without a default route', () => {
    assert.equal(chooseAdvertiseAddress([...lo, eth0('fe80::1', 6), eth0('169.254.3.3'), eth1('10.88.0.3')], []), '10.88.0.3');
  });
  it('uses IPv6 when the host has only IPv6', () => {
    assert.equal(chooseAdvertiseAddress([...lo, eth0('fe80::1', 6), eth0('fd00::3', 6)], []), 'fd00::3');
  });
  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '169.254.1.1', '224.0.0.1', '::1', 'fe80::1', 'ff02::1', 'x']) assert.equal(isGlobalUnicast(a), false, a);
    for (const a of ['10.0.0.1', '8.8.8.8', 'fd00::1', '2001:db8::1']) assert.equal(isGlobalUnicast(a), true, a);
  });
});

describe('urls and SANs', () => {
  it('brackets IPv6 hosts', () => {
    assert.equal(hostPort('fd00::1', 2379), '[fd00::1]:2379');
    assert.equal(httpsUrl('10.0.0.1', 2380), 'https://10.0.0.1:2380');
  });
  it('parses endpoints', () => {
    assert.equal(parseEndpoint('https://10.0.0.1:2379'), 'https://10.0.0.1:2379');
    assert.equal(parseEndpoint('https://10.0.0.1:2379/'), 'https://10.0.0.1:2379');
    assert.equal(parseEndpoint('https://[fd00::1]:2379'), 'https://[fd00::1]:2379');
    assert.equal(parseEndpoint('10.0.0.1:2379'), undefined);
    assert.equal(parseEndpoint('not a url'), undefined);
    assert.equal(parseEndpoint('ftp://x'), undefined);
  });
  it('splits SANs into DNS names and IPs without duplicates or wildcards', () => {
    assert.deepEqual(sanSet(['a', '10.0.0.1', 'A', '[fd00::1]', '0.0.0.0', 'localhost', '10.0.0.1']), {
      dnsNames: ['a', 'localhost'],
      ipAddresses: ['10.0.0.1', 'fd00::1'],
    });
  });
  it('renders the initial cluster', () => {
    assert.equal(
      initialCluster([
        { name: 'a', peerURLs: ['https://10.0.0.1:2380'] },
        { name: 'b', peerURLs: ['https://10.0.0.2:2380'] },
      ]),
      'a=https://10.0.0.1:2380,b=https://10.0.0.2:2380',
    );
  });
});

describe('durations', () => {
  it('parses Go-style durations', () => {
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2'), 2000);
    assert.equal(parseDuration('10x'), undefined);
    assert.equal(parseDuration('s'), undefined);
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(120_000), '2m');
  });
});

describe('resolveMemberPlan', () => {
  it('derives etcdadm defaults from the host', () => {
    const p = resolveMemberPlan({}, facts([eth0('10.0.0.5'), eth1('192.168.1.7')], ['eth1']));
    assert.equal(p.member.name, 'node-a');
    assert.equal(p.release.version, DEFAULTS.etcdVersion);
    assert.equal(p.member.advertiseAddress, '192.168.1.7');
    assert.deepEqual(p.member.urls.listenClient, ['https://192.168.1.7:2379', 'https://127.0.0.1:2379']);
    assert.deepEqual(p.member.urls.advertiseClient, ['https://192.168.1.7:2379']);
    assert.deepEqual(p.member.urls.listenPeer, ['https://192.168.1.7:2380']);
    assert.deepEqual(p.member.urls.advertisePeer, ['https://192.168.1.7:2380']);
    assert.equal(p.pki.files.server.keyPath, '/etc/etcd/pki/server.key');
    assert.equal(p.install.binaries.etcdctl, '/opt/bin/etcdctl');
    assert.equal(p.install.etcdctlWrapper, '/opt/bin/etcdctl.sh');
    assert.equal(p.service.unitFile, '/etc/systemd/system/etcd.service');
    assert.deepEqual(p.service.diskPriorities, ['Nice=-10', 'IOSchedulingClass=best-effort', 'IOSchedulingPriority=2']);
    assert.deepEqual(p.pki.sans.server, { dnsNames: ['node-a', 'localhost'], ipAddresses: ['192.168.1.7', '127.0.0.1'] });
    assert.equal(p.release.connectTimeoutMs, 10_000);
    assert.equal(p.etcd.gomaxprocs, 4);
  });
  it('takes flags over defaults', () => {
    const p = resolveMemberPlan(
      {
        name: 'etcd-1',
        version: 'v3.4.23',
        bindAddress: '10.0.0.5',
        serverCertExtraSans: ['etcd.example.com', '192.0.2.10'],
        installDir: '/usr/local/bin/',
        dataDir: '/srv/etcd',
        downloadConnectTimeout: '3s',
        diskPriorities: ['Nice=-5'],
        releaseUrl: 'file:///srv/releases/',
      },
      facts([eth0('10.0.0.5'), eth1('192.168.1.7')], ['eth1']),
    );
    assert.equal(p.member.name, 'etcd-1');
    assert.equal(p.release.version, '3.4.23');
    assert.equal(p.member.advertiseAddress, '10.0.0.5');
    assert.equal(p.release.installDir, '/usr/local/bin');
    assert.equal(p.install.binaries.etcd, '/usr/local/bin/etcd');
    assert.equal(p.member.dataDir, '/srv/etcd');
    assert.equal(p.release.connectTimeoutMs, 3000);
    assert.equal(p.release.releaseUrl, 'file:///srv/releases');
    assert.deepEqual(p.service.diskPriorities, ['Nice=-5']);
    assert.deepEqual(p.pki.sans.server.dnsNames, ['etcd-1', 'localhost', 'etcd.example.com']);
    assert.deepEqual(p.pki.sans.server.ipAddresses, ['10.0.0.5', '127.0.0.1', '192.0.2.10']);
    assert.deepEqual(p.pki.sans.peer.ipAddresses, ['10.0.0.5', '127.0.0.1']);
  });
  it('builds bracketed URLs for an IPv6 bind address', () => {
    const p = resolveMemberPlan({ bindAddress: 'fd00::5' }, facts([eth0('fd00::5', 6)]));
    assert.deepEqual(p.member.urls.advertisePeer, ['https://[fd00::5]:2380']);
    assert.ok(p.pki.sans.server.ipAddresses.includes('fd00::5'));
  });
  it('listens on all addresses and advertises the detected one with a wildcard bind address', () => {
    const p = resolveMemberPlan({ bindAddress: '0.0.0.0' }, facts([eth0('10.0.0.5')]));
    assert.deepEqual(p.member.urls.listenClient, ['https://0.0.0.0:2379', 'https://127.0.0.1:2379']);
    assert.deepEqual(p.member.urls.advertiseClient, ['https://10.0.0.5:2379']);
    assert.ok(!p.pki.sans.server.ipAddresses.includes('0.0.0.0'));
  });
  const rejects = (flags: Parameters<typeof resolveMemberPlan>[0], pattern: RegExp) =>
    assert.throws(() => resolveMemberPlan(flags, facts([eth0('10.0.0.5')])), (e: unknown) => e instanceof EtcdadmError && pattern.test(e.oneLine()));
  it('rejects a bind address that is not on this host', () => rejects({ bindAddress: '10.9.9.9' }, /10\.9\.9\.9 is not an address of this host/));
  it('rejects a bind address that is not an IP', () => rejects({ bindAddress: 'host.example' }, /invalid --bind-address/));
  it('rejects invalid names', () => {
    rejects({ name: 'bad name' }, /invalid --name "bad name"/);
    rejects({ name: 'a=b' }, /invalid --name/);
    rejects({ name: '-a' }, /invalid --name/);
  });
  it('rejects bad versions, URLs, durations, paths and priorities', () => {
    rejects({ version: '3.5' }, /invalid --version/);
    rejects({ releaseUrl: 'ftp://x' }, /invalid --release-url/);
    rejects({ downloadConnectTimeout: 'soon' }, /invalid --download-connect-timeout/);
    rejects({ dataDir: 'relative/dir' }, /invalid --data-dir/);
    rejects({ diskPriorities: ['Nice'] }, /invalid --disk-priorities/);
    rejects({ initSystem: 'upstart' }, /invalid --init-system/);
    rejects({ version: 'vv3.5.30' }, /invalid --version "vv3.5.30": not an etcd version/);
    rejects({ version: '3.5.30 ' }, /invalid --version/);
    rejects({ serverCertExtraSans: ['ok.example', 'not a name!'] }, /invalid --server-cert-extra-sans "ok\.example,not a name!": must be an IP address or a DNS name/);
    rejects({ certsDir: 'pki' }, /invalid --certs-dir "pki": must be an absolute path/);
  });
  it('validates member names as DNS names', () => {
    assert.equal(validateMemberName('etcd-1.example.com'), undefined);
    assert.ok(validateMemberName('a_b'));
    assert.ok(validateMemberName('x'.repeat(64)));
  });
  it('resolves the release alone (download)', () => {
    assert.deepEqual(releasePlan(mergeSettings([flagsLayer({ version: '3.4.23' }, 'download')])), {
      version: '3.4.23',
      releaseUrl: 'https://github.com/etcd-io/etcd/releases/download',
      cacheDir: '/var/cache/etcdadm/etcd',
      installDir: '/opt/bin',
      skipHashCheck: false,
      insecureReleaseUrl: false,
      connectTimeoutMs: 10_000,
    });
  });
});

describe('settings from a config document', () => {
  const doc = (extra: object) => extra;
  it('flags win over the file, the file over the defaults', () => {
    const p = resolveMemberPlan(
      { dataDir: '/flag/data' },
      facts([eth0('10.0.0.5')]),
      doc({ member: { dataDir: '/file/data', clientPort: 12379 }, etcd: { version: '3.4.23' } }),
    );
    assert.equal(p.member.dataDir, '/flag/data');
    assert.equal(p.release.version, '3.4.23');
    assert.deepEqual(p.member.urls.advertiseClient, ['https://10.0.0.5:12379']);
    assert.equal(p.member.urls.localClient, 'https://127.0.0.1:12379');
    assert.equal(p.etcd.quotaBackendBytes, 2 * 1024 ** 3);
  });
  it('a dual-stack host advertises both families when the file lists both, with SANs for both', () => {
    const p = resolveMemberPlan(
      {},
      facts([eth0('10.0.0.5'), eth0('fd00::5', 6)]),
      doc({
        member: {
          advertiseClientURLs: ['https://10.0.0.5:2379', 'https://[fd00::5]:2379'],
          listenClientURLs: ['https://10.0.0.5:2379', 'https://[fd00::5]:2379', 'https://127.0.0.1:2379'],
          advertisePeerURLs: ['https://10.0.0.5:2380', 'https://[fd00::5]:2380'],
          listenPeerURLs: ['https://10.0.0.5:2380', 'https://[fd00::5]:2380'],
        },
      }),
    );
    assert.deepEqual(p.member.urls.advertisePeer, ['https://10.0.0.5:2380', 'https://[fd00::5]:2380']);
    assert.deepEqual(p.pki.sans.server.ipAddresses, ['10.0.0.5', 'fd00::5', '127.0.0.1']);
    assert.deepEqual(p.pki.sans.peer.ipAddresses, ['10.0.0.5', 'fd00::5', '127.0.0.1']);
    assert.equal(p.member.urls.localClient, 'https://127.0.0.1:2379');
  });
});
