/**
 * What users install, on what users have: hosts booting real systemd with no Node.js and nothing of this machine
 * inside. The .deb (dpkg -i) builds a 3-member cluster by the classic flow, its man pages render, and dpkg -r takes
 * the package away and nothing of etcd's; then the bare executable copied to /usr/local/bin resets and builds the
 * cluster again the same way; and over SSH (each host runs Debian's sshd with its own host key) that executable is
 * the SSH Host's agent there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SshHost } from '../../src/host/ssh.js';
import { ETCDADM, MIRROR_URL, NspawnLab, REPO, ok } from '../helpers/lab.js';
import { keygen } from '../helpers/sshd.js';

const pkg = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(REPO, 'package.json'), 'utf8'))) as { version: string };
const DEB = join(REPO, `dist/etcdadm_${pkg.version}_amd64.deb`);
const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const HOSTS = [1, 2, 3];

let lab: NspawnLab;
before(async () => {
  lab = await NspawnLab.up(3, { bare: true });
});
after(async () => {
  await lab?.down();
});

const etcdadm = (i: number, args: string[]) => lab.on(i, ['etcdadm', ...args]);

interface StatusJson {
  health: string;
  members: { name: string; health: string; isLearner?: boolean }[];
}

/** init on host 1, the CA copied by hand (the README's rsync), joins on 2 and 3: a healthy 3-member cluster. */
async function seedFlow(): Promise<StatusJson> {
  ok(await etcdadm(1, ['init', ...R]), 'init');
  for (const i of [2, 3]) {
    await lab.copyCA(1, i);
    ok(await etcdadm(i, ['join', `https://${lab.ip(1)}:2379`, ...R]), `join ehost${i}`);
  }
  const r = await etcdadm(1, ['status', '-o', 'json']);
  assert.equal(r.code, 0, `status exits 0 (healthy): ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

function assertHealthy3(st: StatusJson): void {
  assert.equal(st.health, 'healthy');
  assert.deepEqual(st.members.map((m) => [m.name, m.health]).sort(), [['ehost1', 'healthy'], ['ehost2', 'healthy'], ['ehost3', 'healthy']]);
}

/** What etcd owns on a host: config, certificates, binaries, data (names, sizes and modes). */
const etcdFiles = (i: number) =>
  lab.sh(i, 'find /etc/etcd /opt/bin /var/lib/etcd -path /var/lib/etcd/member/wal -prune -o -printf "%p %m %s\\n" | sort').then((r) => ok(r).stdout);

describe('the .deb on real-systemd hosts without Node.js', () => {
  it('no node on the hosts, and nothing of this machine: the package is all there is', async () => {
    for (const i of HOSTS) {
      const r = await lab.sh(i, 'command -v node || ls /usr/bin/node /usr/local/bin/node');
      assert.notEqual(r.code, 0, `ehost${i} has no node: ${r.stdout}`);
      assert.notEqual((await lab.sh(i, `test -e ${REPO}`)).code, 0, `ehost${i} does not see the checkout`);
    }
  });

  it('dpkg -i, then init, the CA copied, two joins: a healthy 3-member cluster', async () => {
    for (const i of HOSTS) {
      await lab.put(i, DEB, '/root/etcdadm.deb', 0o644);
      ok(await lab.on(i, ['dpkg', '-i', '/root/etcdadm.deb']), `dpkg -i on ehost${i}`);
      assert.equal(ok(await lab.sh(i, 'command -v etcdadm')).stdout.trim(), '/usr/bin/etcdadm');
    }
    const v = JSON.parse(ok(await etcdadm(1, ['version', '-o', 'json'])).stdout) as { version: string; runtime: string };
    assert.equal(v.version, `v${pkg.version}`);
    assert.match(v.runtime, /^node v20\.\d+\.\d+ \(embedded\)$/);
    assertHealthy3(await seedFlow());
  });

  it('man etcdadm-init renders; the completions are where bash, zsh and fish look', async () => {
    const man = ok(await lab.on(1, ['env', 'MANWIDTH=100', 'man', '-P', 'cat', 'etcdadm-init']));
    assert.match(man.stdout, /^NAME\n\s+etcdadm-init\s+-\s+Initialize\s+a\s+new\s+etcd\s+cluster/m); // man justifies the line
    assert.match(man.stdout, /^OPTIONS$/m);
    assert.match(man.stdout, /--release-url <?url>?/);
    assert.match(man.stdout, /^COMMANDS\n\s+phase\s+Run one phase of init/m);
    assert.match(ok(await lab.on(1, ['env', 'MANWIDTH=100', 'man', '-P', 'cat', 'etcdadm-init-phase'])).stdout, /^PHASES\n(.|\n)*\s+install\s/m);
    assert.doesNotMatch(man.stderr, /warning|error/i, man.stderr);
    assert.match(ok(await lab.on(1, ['man', '-P', 'cat', 'etcdadm-certs-renew'])).stdout, /etcdadm-certs-renew\s+-\s+/);
    ok(await lab.sh(1, 'test -s /usr/share/bash-completion/completions/etcdadm && test -s /usr/share/zsh/vendor-completions/_etcdadm && test -s /usr/share/fish/vendor_completions.d/etcdadm.fish'));
  });

  it("dpkg -r removes the package and nothing of etcd's: config, certificates, binaries and data stay, etcd keeps serving", async () => {
    for (const i of HOSTS) {
      const before = await etcdFiles(i);
      assert.match(before, /^\/etc\/etcd\/etcd\.env /m);
      ok(await lab.on(i, ['dpkg', '-r', 'etcdadm']), `dpkg -r on ehost${i}`);
      assert.notEqual((await lab.sh(i, 'command -v etcdadm || test -e /usr/share/man/man1/etcdadm-init.1.gz')).code, 0, 'the package is gone');
      assert.equal(await etcdFiles(i), before, `ehost${i}: etcd's files as they were`);
      assert.equal(ok(await lab.on(i, ['systemctl', 'is-active', 'etcd.service'])).stdout.trim(), 'active');
    }
    const health = ok(await lab.on(1, ['/opt/bin/etcdctl.sh', 'endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
  });
});

describe('the bare executable in /usr/local/bin (no package)', () => {
  it('reset on every host, then the same flow again: a healthy 3-member cluster', async () => {
    for (const i of HOSTS) await lab.put(i, ETCDADM, '/usr/local/bin/etcdadm', 0o755);
    for (const i of [3, 2, 1]) ok(await etcdadm(i, i === 3 ? ['reset'] : ['reset', '--force']), `reset ehost${i}`); // from 2 members down, the quorum guard wants --force
    for (const i of HOSTS) assert.notEqual((await lab.sh(i, 'test -e /etc/etcd/etcd.env || test -e /var/lib/etcd/member')).code, 0, `ehost${i} is clean`);
    assert.equal(ok(await lab.sh(1, 'command -v etcdadm')).stdout.trim(), '/usr/local/bin/etcdadm');
    assertHealthy3(await seedFlow());
  });

  it('over SSH: each host its own host key; the shipped executable is the SSH Host agent there (no Node.js): facts, files, programs, one connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-ssh-e2e-'));
    try {
      keygen(join(dir, 'id'), 'operator');
      for (const i of HOSTS) await lab.put(i, join(dir, 'id.pub'), '/root/.ssh/authorized_keys', 0o600);
      const keys = await Promise.all(HOSTS.map(async (i) => ok(await lab.sh(i, 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub')).stdout.split(' ')[1]));
      assert.equal(new Set(keys).size, 3, `three host keys: ${keys.join(' ')}`);
      const known = join(dir, 'known_hosts');
      writeFileSync(known, '');
      const target = (i: number, accept: boolean) => ({
        address: lab.ip(i),
        user: 'root',
        identityFile: join(dir, 'id'),
        knownHostsFile: known,
        acceptNewHostKeys: accept,
        configFile: '/dev/null',
        agentCommand: ['/usr/local/bin/etcdadm'],
      });
      await assert.rejects(SshHost.connect(target(1, false)), (err: Error) => /host key|known_hosts/i.test(err.message) && err.message.includes(lab.ip(1)));
      const h = await SshHost.connect(target(1, true));
      try {
        assert.match(readFileSync(known, 'utf8'), new RegExp(`^${lab.ip(1).replace(/\./g, '\\.')} ssh-ed25519 `, 'm'), 'first contact recorded');
        assert.equal((await h.facts()).hostname, 'ehost1');
        assert.equal(h.isPrivileged(), true);
        assert.deepEqual(await h.etcdadmCommand(), ['/usr/local/bin/etcdadm']);
        await h.write('/root/over-ssh.txt', 'written over ssh\n', { mode: 0o600 });
        assert.equal(ok(await lab.sh(1, 'stat -c %a /root/over-ssh.txt && cat /root/over-ssh.txt')).stdout, '600\nwritten over ssh\n');
        const r = await h.exec('systemctl', ['is-active', 'etcd.service']);
        assert.equal(r.stdout.trim(), 'active');
        assert.equal((await h.read('/etc/etcd/etcdadm.yaml'))?.includes('memberName: ehost1'), true, 'the host record');
        assert.equal(await h.remove('/root/over-ssh.txt'), true);
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
