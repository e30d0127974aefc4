/**
 * The Cluster document (`etcdadm apply -f`): one schema with the host documents, plus ssh and hosts. The printed
 * example is valid; each mistake is named with the file, the line and the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIG_API_VERSION } from '../../src/config/document.js';
import { ConfigFileError, clusterDocument, parseConfigLayer, parseConfigText } from '../../src/config/file.js';

const FILE = '/root/cluster.yaml';
const HEAD = `apiVersion: ${CONFIG_API_VERSION}\nkind: Cluster\n`;
const HOSTS = 'hosts:\n  - address: 10.0.0.1\n  - address: 10.0.0.2\n';

function fails(text: string, want: { line: number; path: string; message: RegExp }): void {
  let caught: unknown;
  try {
    parseConfigText(text, FILE);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigFileError, `expected a ConfigFileError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 2);
  assert.ok(caught.message.startsWith(`${FILE}:${want.line}: ${want.path}: `), caught.message);
  assert.match(caught.message, want.message);
}

describe('the Cluster document', () => {
  it('config print cluster-defaults is valid, with ssh, three hosts and every host-document section but join', () => {
    const text = clusterDocument();
    const doc = parseConfigText(text, FILE);
    assert.equal(doc.kind, 'Cluster');
    assert.deepEqual(doc.hosts?.map((h) => `${h.address} ${h.name ?? ''} ${h.caHolder ?? ''}`), ['10.0.0.1 etcd-a true', '10.0.0.2 etcd-b ', '10.0.0.3 etcd-c ']);
    assert.deepEqual(doc.ssh, { user: 'root', port: 22, identityFile: '', knownHostsFile: '~/.ssh/known_hosts', proxyJump: '' });
    for (const s of ['member', 'etcd', 'pki', 'tls', 'install', 'service', 'backup', 'defrag']) assert.ok(s in doc, s);
    assert.equal('join' in doc, false);
    assert.equal(doc.member?.name, undefined, 'no per-host field at the cluster level');
    assert.match(text, /^# etcdadm cluster file, for etcdadm apply -f <file>/);
  });

  it('a typical cluster file: ssh defaults, hosts with address, name and caHolder, etcd version and release URL', () => {
    const doc = parseConfigText(
      `${HEAD}ssh:\n  user: root\n  port: 22\n  identityFile: ~/.ssh/id_ed25519\n  knownHostsFile: ~/.ssh/known_hosts\nhosts:\n  - address: 10.0.0.1\n    name: etcd-a\n    caHolder: true\n  - address: 10.0.0.2\n  - address: 10.0.0.3\netcd: {version: 3.6.16, releaseURL: https://github.com/etcd-io/etcd/releases/download}\n`,
      FILE,
    );
    assert.equal(doc.hosts?.length, 3);
    assert.equal(doc.etcd?.version, '3.6.16');
  });

  it('a host may override ssh and set its own member fields; bastions as ProxyJump', () => {
    const doc = parseConfigText(
      `${HEAD}ssh:\n  user: ops\n  proxyJump: jump@bastion.example:2222\nhosts:\n  - address: etcd-a.example\n    ssh: {port: 2200, identityFile: /keys/a}\n    member:\n      bindAddress: 10.1.0.1\n      dataDir: /srv/etcd\n  - address: fd00::2\n`,
      FILE,
    );
    assert.equal(doc.hosts?.[0]?.ssh?.port, 2200);
    assert.equal(doc.hosts?.[0]?.member?.bindAddress, '10.1.0.1');
    assert.equal(doc.ssh?.proxyJump, 'jump@bastion.example:2222');
  });

  it('mistakes are named with file, line and field', () => {
    fails(`${HEAD}`, { line: 2, path: 'kind', message: /must list its hosts/ });
    fails(`${HEAD}hosts: []\n`, { line: 3, path: 'hosts', message: /at least one host/ });
    fails(`${HEAD}hosts:\n  - name: etcd-a\n`, { line: 4, path: 'hosts[0].address', message: /missing/ });
    fails(`${HEAD}hosts:\n  - address: 10.0.0.1\n  - address: 10.0.0.1\n`, { line: 5, path: 'hosts[1].address', message: /"10\.0\.0\.1" is already hosts\[0\]\.address/ });
    fails(`${HEAD}hosts:\n  - address: 10.0.0.1\n    name: a\n  - address: 10.0.0.2\n    name: a\n`, { line: 7, path: 'hosts[1].name', message: /already hosts\[0\]\.name/ });
    fails(`${HEAD}${HOSTS}member:\n  name: x\n`, { line: 7, path: 'member.name', message: /each host's member name is hosts\[\]\.name/ });
    fails(`${HEAD}${HOSTS}member:\n  listenPeerURLs: [https://10.0.0.1:2380]\n`, { line: 7, path: 'member.listenPeerURLs', message: /set it under hosts\[\]\.member\.listenPeerURLs/ });
    fails(`${HEAD}hosts:\n  - address: 10.0.0.1\n    member: {name: x}\n`, { line: 5, path: 'hosts[0].member.name', message: /hosts\[\]\.name/ });
    fails(`${HEAD}hosts:\n  - address: 10.0.0.1\n    adress: 10.0.0.2\n`, { line: 5, path: 'hosts[0].adress', message: /did you mean "address"/ });
    fails(`${HEAD}hosts:\n  - address: "10.0.0.1; rm -rf /"\n`, { line: 4, path: 'hosts[0].address', message: /must be an IP address or a host name/ });
    fails(`${HEAD}ssh:\n  identityFile: id_ed25519\n${HOSTS}`, { line: 4, path: 'ssh.identityFile', message: /absolute path or start with ~\// });
    fails(`${HEAD}ssh:\n  proxyJump: "-oProxyCommand=x"\n${HOSTS}`, { line: 4, path: 'ssh.proxyJump', message: /\[user@\]host\[:port\]/ });
    fails(`${HEAD}${HOSTS}join:\n  learner: false\n`, { line: 6, path: 'join', message: /only allowed in kind JoinConfiguration/ });
  });

  it('ssh and hosts belong to a Cluster document only; a host command refuses a Cluster document', () => {
    fails(`apiVersion: ${CONFIG_API_VERSION}\nkind: InitConfiguration\nhosts:\n  - address: 10.0.0.1\n`, { line: 3, path: 'hosts', message: /only allowed in kind Cluster/ });
    let caught: unknown;
    try {
      parseConfigLayer(`${HEAD}${HOSTS}`, FILE);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigFileError);
    assert.match(caught.message, /^\/root\/cluster\.yaml:2: kind: a Cluster document describes a whole cluster for 'etcdadm apply -f'/);
  });
});
