/**
 * Taking over hosts set up by etcdadm v0.1.x: which hosts are one (src/adopt/legacy.ts), the record derived from their
 * files, what is missing on a host that is not, and the adopt preflight's decision (src/phases/adopt.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveLegacy, keyAlgorithmOf, parseLegacyEnv, versionIn, type LegacyObservation } from '../../src/adopt/legacy.js';
import { decideAdopt } from '../../src/phases/adopt.js';

/** etcd.env exactly as v0.1.x's template renders it, for a joined member (blank token line, state existing). */
function envFile(o: { name?: string; ip?: string; certs?: string; token?: string; state?: string } = {}): string {
  const { name = 'node2', ip = '10.0.0.6', certs = '/etc/etcd/pki', token = '', state = 'existing' } = o;
  return `ETCD_NAME=${name}

# Initial cluster configuration
ETCD_INITIAL_CLUSTER=node1=https://10.0.0.5:2380,${name}=https://${ip}:2380
${token ? `ETCD_INITIAL_CLUSTER_TOKEN=${token}` : ''}
ETCD_INITIAL_CLUSTER_STATE=${state}

# Peer configuration
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${ip}:2380
ETCD_LISTEN_PEER_URLS=https://${ip}:2380

ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_CERT_FILE=${certs}/peer.crt
ETCD_PEER_KEY_FILE=${certs}/peer.key
ETCD_PEER_TRUSTED_CA_FILE=${certs}/ca.crt

# Client/server configuration
ETCD_ADVERTISE_CLIENT_URLS=https://${ip}:2379
ETCD_LISTEN_CLIENT_URLS=https://${ip}:2379,https://127.0.0.1:2379

ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_CERT_FILE=${certs}/server.crt
ETCD_KEY_FILE=${certs}/server.key
ETCD_TRUSTED_CA_FILE=${certs}/ca.crt

# Other
ETCD_DATA_DIR=/var/lib/etcd
ETCD_STRICT_RECONFIG_CHECK=true
GOMAXPROCS=4
`;
}

const unit = (exec = '/opt/bin/etcd', priorities = 'Nice=-10\nIOSchedulingClass=best-effort\nIOSchedulingPriority=2') => `[Unit]
Description=etcd
Documentation=https://github.com/coreos/etcd
Conflicts=etcd-member.service
Conflicts=etcd2.service

[Service]
EnvironmentFile=/etc/etcd/etcd.env
ExecStart=${exec}

Type=notify
TimeoutStartSec=0
Restart=on-failure
RestartSec=5s

LimitNOFILE=65536
${priorities}
MemoryLow=200M

[Install]
WantedBy=multi-user.target
`;

const RSA = { type: 'rsa', bits: 2048 };
const certs = (key = RSA) => Object.fromEntries(['ca', 'server', 'peer', 'etcdctl-etcd-client'].map((n) => [n, { cert: true, key }]));

function v01x(over: Partial<LegacyObservation> = {}): LegacyObservation {
  return {
    envFile: envFile(),
    unit: unit(),
    etcdctlEnv: 'export ETCDCTL_API=3\n',
    wrapper: '#!/usr/bin/env sh\n',
    certs: certs(),
    binaryVersion: '3.4.13',
    member: { id: 'aa', clusterId: 'cc', version: '3.4.13', clientURLs: ['https://10.0.0.6:2379'], clusterEndpoints: ['https://10.0.0.5:2379', 'https://10.0.0.6:2379'] },
    caFingerprint: 'AB:CD',
    ...over,
  };
}

describe('adopt: hosts set up by etcdadm v0.1.x', () => {
  it('derives the record of a joined member from its files: settings, facts and what was found', () => {
    const v = deriveLegacy(v01x());
    assert.equal(v.kind, 'derived');
    if (v.kind !== 'derived') return;
    assert.deepEqual(v.host.settings, {
      member: {
        name: 'node2',
        dataDir: '/var/lib/etcd',
        listenClientURLs: ['https://10.0.0.6:2379', 'https://127.0.0.1:2379'],
        advertiseClientURLs: ['https://10.0.0.6:2379'],
        listenPeerURLs: ['https://10.0.0.6:2380'],
        advertisePeerURLs: ['https://10.0.0.6:2380'],
      },
      etcd: { version: '3.4.13' },
      pki: { certsDir: '/etc/etcd/pki', keyAlgorithm: 'rsa-2048' },
      tls: { cipherSuites: [] },
      service: { initSystem: 'systemd', unitName: 'etcd.service', user: 'root' },
      install: { installDir: '/opt/bin' },
    });
    assert.deepEqual(v.host.facts, {
      createdBy: 'join',
      clusterToken: 'adopted-cc',
      memberName: 'node2',
      memberId: 'aa',
      clusterId: 'cc',
      clusterEndpoints: ['https://10.0.0.5:2379', 'https://10.0.0.6:2379'],
      caFingerprint: 'AB:CD',
      createdDirs: ['/var/lib/etcd', '/etc/etcd/pki'],
    });
    assert.match(v.host.found.join('\n'), /running \/opt\/bin\/etcd[\s\S]*certificates in \/etc\/etcd\/pki[\s\S]*etcd 3\.4\.13 \(member aa of cluster cc answers\)/);
  });

  it("the first member keeps its token; a custom install dir and certs dir are taken from the unit and etcd.env, and the install dir is reset's to remove", () => {
    const v = deriveLegacy(v01x({ envFile: envFile({ certs: '/srv/pki', token: '3f9c1a2b', state: 'new' }), unit: unit('/opt/etcd/bin/etcd') }));
    assert.equal(v.kind, 'derived');
    if (v.kind !== 'derived') return;
    assert.equal(v.host.facts.createdBy, 'init');
    assert.equal(v.host.facts.clusterToken, '3f9c1a2b');
    assert.equal(v.host.settings.install?.installDir, '/opt/etcd/bin');
    assert.equal(v.host.settings.pki?.certsDir, '/srv/pki');
    assert.deepEqual(v.host.facts.createdDirs, ['/var/lib/etcd', '/srv/pki', '/opt/etcd/bin']);
    // a system directory as --install-dir is never reset's to remove
    const system = deriveLegacy(v01x({ unit: unit('/usr/local/bin/etcd') }));
    assert.deepEqual(system.kind === 'derived' && system.host.facts.createdDirs, ['/var/lib/etcd', '/etc/etcd/pki']);
  });

  it('the version comes from the member, else the binary, else --version; changed disk priorities are kept', () => {
    const noMember = v01x({ member: undefined, binaryVersion: '3.4.9', unit: unit('/opt/bin/etcd', 'Nice=-5') });
    const v = deriveLegacy(noMember);
    assert.equal(v.kind === 'derived' && v.host.settings.etcd?.version, '3.4.9');
    assert.deepEqual(v.kind === 'derived' && v.host.settings.service?.diskPriorities, ['Nice=-5']);
    assert.equal(v.kind === 'derived' && v.host.facts.clusterToken, 'adopted');
    const none = deriveLegacy(v01x({ member: undefined, binaryVersion: undefined }));
    assert.equal(none.kind, 'unknown');
    assert.match(none.kind === 'unknown' ? none.missing.join('\n') : '', /the etcd version .*pass --version/);
    const given = deriveLegacy(v01x({ member: undefined, binaryVersion: undefined, versionFlag: '3.4.23' }));
    assert.equal(given.kind === 'derived' && given.host.settings.etcd?.version, '3.4.23');
  });

  it('nothing of etcd here, or a unit etcdadm itself wrote (a host of ours without its record): none', () => {
    assert.deepEqual(deriveLegacy({ certs: {} }), { kind: 'none' });
    const ours = unit().replace('Description=etcd\n', 'Description=etcd key-value store (managed by etcdadm)\n');
    assert.deepEqual(deriveLegacy(v01x({ unit: ours })), { kind: 'none' });
  });

  it('an etcd set up by hand is not taken over: every missing piece is named', () => {
    const v = deriveLegacy({
      unit: unit('/usr/local/bin/etcd --name n1 --data-dir /data').replace('EnvironmentFile=/etc/etcd/etcd.env\n', ''),
      certs: {},
      binaryVersion: '3.5.9',
    });
    assert.equal(v.kind, 'unknown');
    const missing = v.kind === 'unknown' ? v.missing.join('\n') : '';
    assert.match(missing, /ExecStart=\/usr\/local\/bin\/etcd --name n1 --data-dir \/data is not <install dir>\/etcd without arguments/);
    assert.match(missing, /no EnvironmentFile=\/etc\/etcd\/etcd\.env/);
    assert.match(missing, /\/etc\/etcd\/etcd\.env \(the etcd configuration etcdadm v0\.1\.x writes\)/);
    assert.match(missing, /\/etc\/etcd\/etcdctl\.env/);
  });

  it("etcd.env naming other certificate files, missing certificates, a missing wrapper, keys of mixed algorithms", () => {
    const env = envFile().replace('ETCD_CERT_FILE=/etc/etcd/pki/server.crt', 'ETCD_CERT_FILE=/etc/etcd/pki/etcd.pem');
    const v = deriveLegacy(v01x({ envFile: env, wrapper: undefined, certs: { ...certs(), peer: { cert: false }, server: { cert: true, key: { type: 'ec', bits: 256, curve: 'prime256v1' } } } }));
    const missing = v.kind === 'unknown' ? v.missing.join('\n') : '';
    assert.match(missing, /ETCD_CERT_FILE=\/etc\/etcd\/pki\/etcd\.pem is not \/etc\/etcd\/pki\/server\.crt/);
    assert.match(missing, /\/etc\/etcd\/pki: no peer\.crt\/\.key/);
    assert.match(missing, /\/opt\/bin\/etcdctl\.sh/);
    const mixed = deriveLegacy(v01x({ certs: { ...certs(), server: { cert: true, key: { type: 'ec', bits: 256, curve: 'prime256v1' } } } }));
    assert.match(mixed.kind === 'unknown' ? mixed.missing.join('\n') : '', /a key algorithm etcdadm can keep: the keys are rsa-2048, ec-256/);
  });

  it('a static Pod member (v0.1.x kubelet mode): its env, its manifest file kept by name, the version from the image', () => {
    const env = parseLegacyEnv(envFile());
    const pod = { path: '/etc/kubernetes/manifests/etcd.manifest', image: 'quay.io/coreos/etcd:v3.4.13', command: ['etcd'], env, hostPaths: [] };
    const v = deriveLegacy(v01x({ envFile: undefined, unit: undefined, wrapper: undefined, member: undefined, binaryVersion: undefined, pod }));
    assert.equal(v.kind, 'derived');
    if (v.kind !== 'derived') return;
    assert.deepEqual(v.host.settings.service, { initSystem: 'kubelet', kubeletPodManifestPath: '/etc/kubernetes/manifests', kubeletPodManifestName: 'etcd.manifest', imageRepository: 'quay.io/coreos/etcd' });
    assert.equal(v.host.settings.etcd?.version, '3.4.13');
    assert.equal(v.host.settings.install, undefined);
    const other = deriveLegacy(v01x({ envFile: undefined, unit: undefined, pod: { ...pod, command: ['/usr/local/bin/etcd', '--name', 'x'] } }));
    assert.match(other.kind === 'unknown' ? other.missing.join('\n') : '', /the static Pod runs "\/usr\/local\/bin\/etcd --name x", not etcd configured by its environment/);
  });

  it('helpers: env lines, key algorithms, versions', () => {
    assert.deepEqual(parseLegacyEnv('# c\n\nA=1\nB=x=y\n bad line\n'), { A: '1', B: 'x=y' });
    assert.equal(keyAlgorithmOf([RSA, RSA]), 'rsa-2048');
    assert.equal(keyAlgorithmOf([{ type: 'rsa', bits: 4096 }]), 'rsa-4096');
    assert.equal(keyAlgorithmOf([{ type: 'ec', curve: 'prime256v1' }]), 'ecdsa-p256');
    assert.equal(keyAlgorithmOf([{ type: 'rsa', bits: 1024 }]), undefined);
    assert.equal(versionIn('etcd Version: 3.4.23\nGit SHA: abc\n'), '3.4.23');
    assert.equal(versionIn('quay.io/coreos/etcd:v3.5.7'), '3.5.7');
    assert.equal(versionIn('nonsense'), undefined);
  });

  it("adopt's preflight: a record already: nothing to do; nothing of v0.1.x: refused; not v0.1.x's layout: refused naming what is missing", () => {
    assert.deepEqual(decideAdopt('/etc/etcd/etcdadm.yaml', { verdict: undefined, from: undefined }), { kind: 'nothing', why: '/etc/etcd/etcdadm.yaml exists: this host is managed by etcdadm already' });
    assert.throws(() => decideAdopt('/r', { verdict: { kind: 'none' }, from: undefined }), /nothing to adopt here/);
    assert.throws(() => decideAdopt('/r', { verdict: { kind: 'unknown', missing: ['a', 'b'], found: [] }, from: undefined }), /refusing to adopt: .* missing a; b/);
    const v = deriveLegacy(v01x());
    assert.equal(decideAdopt('/r', { verdict: v, from: 'etcdadm v0.1.x' }).kind, 'adopt');
  });
});
