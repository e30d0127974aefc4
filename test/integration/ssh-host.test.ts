/**
 * The SSH Host (src/host/ssh.ts) against a real OpenSSH server: Debian's sshd started by this file on 127.0.0.1 and
 * a free high port, with its own host key, authorized_keys and client key (test/helpers/sshd.ts). The agent on the
 * far side is this checkout's compiled CLI (`node build/src/cli/main.js host-agent`).
 *
 * - the whole Host contract (test/helpers/host-contract.ts), as root and as a non-root login through `sudo -n`; the
 *   write killed half-way is a real SIGKILL of the remote agent held inside the write (ETCDADM_TEST_HOLD);
 * - host keys: a changed key refused before anything runs (no login happens), first contact recorded with
 *   accept-new and refused under strict checking; a refused login, a closed port, a missing etcdadm, a sudo that
 *   wants a password — each one line naming the host;
 * - one master connection: N requests, one login in sshd's log; an ssh_config alias; a lock held across requests
 *   and taken over once its agent is killed;
 * - the numbers of docs/architecture.md ("SSH"), as diagnostics.
 *
 * Needs root (a test user, a sudoers file, both removed at the end) and openssh-server and sudo (scripts/setup.sh).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EtcdadmError } from '../../src/errors.js';
import { SshHost, type SshHostOptions } from '../../src/host/ssh.js';
import { SshTransport } from '../../src/host/ssh-transport.js';
import { hostContract } from '../helpers/host-contract.js';
import { REPO } from '../helpers/lab.js';
import { freePort, keygen, TestSshd } from '../helpers/sshd.js';

const NOBODY = { name: 'nobody', uid: 65534, gid: 65534 };
const AGENT = [process.execPath, join(REPO, 'build/src/cli/main.js')];
const USER = 'etcdadm-ssh-test';
const SUDOERS = `/etc/sudoers.d/${USER}`;

const sshd = await TestSshd.start();
const KNOWN_HOSTS = join(sshd.dir, 'known_hosts');
writeFileSync(KNOWN_HOSTS, sshd.knownHostsLine());
const OTHER_KEY = keygen(join(sshd.dir, 'other'), 'not-authorized');

/** A non-root login with passwordless sudo (a leftover of an interrupted run removed first). */
function removeUser(): void {
  rmSync(SUDOERS, { force: true });
  if (spawnSync('getent', ['passwd', USER]).status === 0) execFileSync('userdel', ['--remove', USER], { stdio: 'ignore' });
}
removeUser();
// '*': no password, but not a locked account (sshd without PAM refuses a locked one even with a key)
execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--password', '*', USER]);
writeFileSync(SUDOERS, `${USER} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });

after(async () => {
  removeUser();
  await sshd.stop();
});

function target(extra: Partial<SshHostOptions> = {}): SshHostOptions {
  return {
    address: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    identityFile: sshd.identityFile,
    knownHostsFile: KNOWN_HOSTS,
    configFile: '/dev/null', // nothing of this machine's ssh_config
    agentCommand: AGENT,
    ...extra,
  };
}

/**
 * A second SshHost writes `path` with its agent held half-way (ETCDADM_TEST_HOLD=write:<path>: half the temp file
 * written and synced); `killer` SIGKILLs that agent on the host. The write fails with the connection's end.
 */
async function killAgentHalfway(killer: SshHost, extra: Partial<SshHostOptions>, path: string, data: string): Promise<void> {
  let held!: () => void;
  const atHold = new Promise<void>((r) => (held = r));
  const victim = await SshHost.connect(
    target({ ...extra, agentCommand: ['env', `ETCDADM_TEST_HOLD=write:${path}`, ...AGENT], onStderr: (l) => l.includes(`etcdadm-test-hold write:${path}`) && held() }),
  );
  try {
    const writing = victim.write(path, data);
    writing.catch(() => undefined);
    await atHold;
    assert.equal((await killer.exec('kill', ['-KILL', String(victim.agentPid)])).code, 0);
    await assert.rejects(writing, (e: unknown) => e instanceof EtcdadmError && /the connection to the etcdadm agent on 127\.0\.0\.1 ended/.test(e.message));
  } finally {
    await victim.close();
  }
}

for (const [label, extra] of [
  ['root', {}],
  [`${USER} through sudo -n`, { user: USER }],
] as const) {
  hostContract(`SshHost (OpenSSH to 127.0.0.1 as ${label})`, async () => {
    const host = await SshHost.connect(target(extra));
    const root = await host.mkdtemp('/tmp/etcdadm-sshhost-');
    return {
      host,
      root,
      killHalfway: (path, data) => killAgentHalfway(host, extra, path, data),
      other: NOBODY,
      done: async () => {
        await host.removeTree(root);
        await host.close();
      },
    };
  });
}

/** The one line the operator sees for a refused connect. */
async function refusal(opts: SshHostOptions): Promise<string> {
  try {
    const h = await SshHost.connect(opts);
    await h.close();
  } catch (err) {
    assert.ok(err instanceof EtcdadmError, String(err));
    const line = err.oneLine();
    assert.doesNotMatch(line, /\n/);
    return line;
  }
  assert.fail('connected');
}

describe('SshHost: host keys', () => {
  it('a changed host key is refused before anything runs (no login), with accept-new too; one line naming the host', async () => {
    const kh = join(sshd.dir, 'known_hosts.changed');
    writeFileSync(kh, sshd.knownHostsLine(OTHER_KEY.split(' ').slice(0, 2).join(' ')));
    const before = sshd.logins();
    for (const acceptNewHostKeys of [false, true]) {
      const line = await refusal(target({ knownHostsFile: kh, acceptNewHostKeys }));
      assert.match(line, new RegExp(`^SSH to root@127\\.0\\.0\\.1:${sshd.port} refused: its host key \\(SHA256:\\S+\\) is not the one recorded in ${kh} line 1`));
      assert.match(line, /Nothing was run on it/);
    }
    assert.equal(sshd.logins(), before, 'no login happened');
    assert.equal(readFileSync(kh, 'utf8'), sshd.knownHostsLine(OTHER_KEY.split(' ').slice(0, 2).join(' ')), 'the known_hosts file is untouched');
  });

  it('first contact: strict checking refuses an unknown host; accept-new records its key in the given known_hosts', async () => {
    const kh = join(sshd.dir, 'known_hosts.first');
    writeFileSync(kh, '');
    const line = await refusal(target({ knownHostsFile: kh }));
    assert.match(line, new RegExp(`^SSH to root@127\\.0\\.0\\.1:${sshd.port} refused: its host key is not in ${kh} \\(StrictHostKeyChecking=yes\\).*--accept-new-host-keys`));
    assert.equal(readFileSync(kh, 'utf8'), '');
    const h = await SshHost.connect(target({ knownHostsFile: kh, acceptNewHostKeys: true }));
    await h.close();
    assert.ok(readFileSync(kh, 'utf8').includes(sshd.hostKey), 'the host key was recorded');
    // now known: strict checking accepts it
    await (await SshHost.connect(target({ knownHostsFile: kh }))).close();
  });
});

describe('SshHost: failures, one line each', () => {
  it('a key the host does not accept; a port nobody listens on; an etcdadm that is not there', async () => {
    assert.match(await refusal(target({ identityFile: join(sshd.dir, 'other') })), new RegExp(`^SSH login to root@127\\.0\\.0\\.1:${sshd.port} refused \\(publickey\\)`));
    const closed = await freePort();
    assert.match(await refusal(target({ port: closed })), new RegExp(`^SSH to root@127\\.0\\.0\\.1:${closed} failed: connection refused`));
    assert.match(await refusal(target({ agentCommand: ['/nonexistent/etcdadm'] })), /^cannot start etcdadm on 127\.0\.0\.1: \/nonexistent\/etcdadm is not there\. Copy the etcdadm executable/);
  });

  it('a non-root login: the agent runs as root through sudo -n; a sudo that wants a password is refused, saying so', async () => {
    const h = await SshHost.connect(target({ user: USER }));
    try {
      assert.equal(h.usesSudo, true);
      assert.notEqual(h.loginUid, 0);
      assert.equal(h.isPrivileged(), true);
      assert.equal((await h.exec('id', ['-u'])).stdout.trim(), '0');
    } finally {
      await h.close();
    }
    // without sudo the same login is not privileged, and says so
    const plain = await SshHost.connect(target({ user: USER, sudo: false }));
    try {
      assert.equal(plain.isPrivileged(), false);
      assert.notEqual((await plain.exec('id', ['-u'])).stdout.trim(), '0');
    } finally {
      await plain.close();
    }
    writeFileSync(SUDOERS, `${USER} ALL=(root) ALL\n`, { mode: 0o440 });
    try {
      assert.match(await refusal(target({ user: USER })), new RegExp(`^sudo on ${USER}@127\\.0\\.0\\.1:${sshd.port} needs a password for ${USER}\\. .*NOPASSWD`));
    } finally {
      writeFileSync(SUDOERS, `${USER} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
    }
  });
});

describe('SshHost: one connection, aliases, locks', () => {
  it('one master connection carries every request: one login for hundreds of requests, streams and programs', async () => {
    const before = sshd.logins();
    const h = await SshHost.connect(target());
    try {
      const root = await h.mkdtemp('/tmp/etcdadm-sshhost-');
      for (let i = 0; i < 100; i++) await h.stat(root);
      await Promise.all(Array.from({ length: 50 }, (_v, i) => h.write(`${root}/f${i}`, `${i}`)));
      assert.equal((await h.list(root))?.length, 50);
      assert.equal((await h.exec('true', [])).code, 0);
      const w = await h.writeStream(`${root}/big`, { mode: 0o600 });
      w.sink.end(Buffer.alloc(3 << 20, 7));
      assert.equal(await w.commit(), 3 << 20);
      await h.removeTree(root);
      await new Promise((r) => setTimeout(r, 200)); // sshd's log line of any new login
      assert.equal(sshd.logins() - before, 1, sshd.output.split('\n').slice(-20).join('\n'));
    } finally {
      await h.close();
    }
  });

  it('an ssh_config Host alias reaches the host as the operator\'s own ssh would (HostName, Port, User, IdentityFile, known_hosts)', async () => {
    const config = join(sshd.dir, 'ssh_config');
    writeFileSync(
      config,
      `Host etcd-test-alias\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.identityFile}\n  UserKnownHostsFile ${KNOWN_HOSTS}\n`,
    );
    const h = await SshHost.connect({ address: 'etcd-test-alias', configFile: config, agentCommand: AGENT });
    try {
      assert.equal(h.name, 'etcd-test-alias');
      assert.equal((await h.facts()).hostname, hostname());
      assert.deepEqual(await h.etcdadmCommand(), AGENT);
    } finally {
      await h.close();
    }
  });

  it('through a bastion (ProxyJump, the jump host from the operator\'s ssh_config): two logins, the host reached as directly', async () => {
    const config = join(sshd.dir, 'ssh_config_jump');
    writeFileSync(config, `Host bastion\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${KNOWN_HOSTS}\n  BatchMode yes\n`);
    const before = sshd.logins();
    const h = await SshHost.connect(target({ configFile: config, proxyJump: 'bastion' }));
    try {
      assert.equal((await h.facts()).hostname, hostname());
      assert.equal((await h.exec('true', [])).code, 0);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(sshd.logins() - before, 2, 'one login on the bastion, one on the host through it');
    } finally {
      await h.close();
    }
  });

  it('a key held by ssh-agent (no identity file given): the agent answers the login', async () => {
    const sock = join(sshd.dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      execFileSync('ssh-add', ['-q', sshd.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      process.env.SSH_AUTH_SOCK = sock;
      const { identityFile: _none, ...noKey } = target();
      const h = await SshHost.connect(noKey);
      try {
        assert.equal((await h.facts()).hostname, hostname());
      } finally {
        await h.close();
      }
      // and without the agent, the same target has no key to offer: refused, one line
      delete process.env.SSH_AUTH_SOCK;
      await assert.rejects(SshHost.connect({ ...noKey, configFile: '/dev/null' }), (e: unknown) => e instanceof EtcdadmError && /SSH login to root@127\.0\.0\.1:\d+ refused/.test(e.message));
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      agent.kill();
    }
  });

  it('a lock is held across requests until released; a killed holder does not block the next one', async () => {
    const a = await SshHost.connect(target());
    const b = await SshHost.connect(target());
    const root = await b.mkdtemp('/tmp/etcdadm-sshhost-');
    try {
      const l = await a.lock(`${root}/etcdadm.lock`, 'init');
      for (let i = 0; i < 5; i++) await a.stat(root);
      await assert.rejects(b.lock(`${root}/etcdadm.lock`, 'join'), (e: unknown) => e instanceof EtcdadmError && new RegExp(`PID ${a.agentPid} \\(init\\) holds`).test(e.message));
      await l.release();
      const l2 = await b.lock(`${root}/etcdadm.lock`, 'reset');
      await l2.release();
      // a holder whose agent is killed (the operator's machine lost, say): the next lock takes it over
      await a.lock(`${root}/etcdadm.lock`, 'upgrade');
      await b.exec('kill', ['-KILL', String(a.agentPid)]);
      await assert.rejects(a.stat(root), /the connection to the etcdadm agent on 127\.0\.0\.1 ended/);
      await (await b.lock(`${root}/etcdadm.lock`, 'reset')).release();
    } finally {
      await b.removeTree(root);
      await a.close();
      await b.close();
    }
  });

  it('stop ends the master connection and removes its private directory', async () => {
    const t = new SshTransport(target());
    await t.start();
    const dir = t.controlDirectory!;
    assert.equal(await t.check(), true);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    await t.stop();
    assert.equal(existsSync(dir), false);
    assert.equal(await t.check(), false);
  });
});

describe('SshHost: the numbers (docs/architecture.md, "SSH")', () => {
  it('master setup, a session over it, agent start, a request\'s round trip, 10 MiB written and read', async (t) => {
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    const runs = 5;
    const master: number[] = [];
    const agent: number[] = [];
    const session: number[] = [];
    for (let i = 0; i < runs; i++) {
      const tr = new SshTransport(target());
      let t0 = performance.now();
      await tr.start();
      master.push(performance.now() - t0);
      t0 = performance.now();
      await tr.run(['true'], { sudo: false });
      session.push(performance.now() - t0);
      await tr.stop();
      t0 = performance.now();
      const h = await SshHost.connect(target());
      agent.push(performance.now() - t0);
      await h.close();
    }
    const h = await SshHost.connect(target());
    const root = await h.mkdtemp('/tmp/etcdadm-sshhost-');
    try {
      const rtt: number[] = [];
      const write: number[] = [];
      const stream: number[] = [];
      const raw: number[] = [];
      const read: number[] = [];
      const data = Buffer.alloc(10 << 20);
      for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i); // not compressible
      for (let i = 0; i < runs; i++) {
        let t0 = performance.now();
        for (let j = 0; j < 100; j++) await h.stat(root);
        rtt.push((performance.now() - t0) / 100);
        t0 = performance.now();
        await h.write(`${root}/w`, data, { mode: 0o600 });
        write.push(performance.now() - t0);
        t0 = performance.now();
        const w = await h.writeStream(`${root}/s`, { mode: 0o600 });
        for (let o = 0; o < data.length; o += 1 << 20) if (!w.sink.write(data.subarray(o, o + (1 << 20)))) await new Promise((r) => w.sink.once('drain', r));
        await w.commit();
        stream.push(performance.now() - t0);
        t0 = performance.now();
        let n = 0;
        for await (const c of h.readStream(`${root}/s`)) n += c.length;
        assert.equal(n, data.length);
        read.push(performance.now() - t0);
        // the transport alone: the same bytes through `cat` over a master already up (no agent, no base64, no fsync)
        const tr = new SshTransport(target());
        await tr.start();
        t0 = performance.now();
        const cat = tr.spawn(['sh', '-c', `cat > ${root}/raw`], false);
        const code = await new Promise<number | null>((resolve) => {
          cat.on('exit', resolve);
          cat.stdin.end(data);
        });
        raw.push(performance.now() - t0);
        assert.equal(code, 0);
        await tr.stop();
      }
      const mibs = (ms: number) => (10 / (ms / 1000)).toFixed(0);
      const lines = [
        `master connection setup (ssh + auth + \`id -u\`): ${median(master).toFixed(0)} ms`,
        `a new session over the master (ssh … true): ${median(session).toFixed(0)} ms`,
        `SshHost.connect (master + agent start and hello): ${median(agent).toFixed(0)} ms`,
        `round trip of one request (stat, 100 in a row): ${median(rtt).toFixed(2)} ms`,
        `10 MiB write(): ${median(write).toFixed(0)} ms (${mibs(median(write))} MiB/s)`,
        `10 MiB writeStream(): ${median(stream).toFixed(0)} ms (${mibs(median(stream))} MiB/s)`,
        `10 MiB readStream(): ${median(read).toFixed(0)} ms (${mibs(median(read))} MiB/s)`,
        `10 MiB through ssh cat (the transport alone, over the master): ${median(raw).toFixed(0)} ms (${mibs(median(raw))} MiB/s)`,
      ];
      for (const l of lines) t.diagnostic(l);
      if (process.env.SSH_BENCH) process.stderr.write(lines.join('\n') + '\n');
    } finally {
      await h.removeTree(root);
      await h.close();
    }
  });
});

describe('the etcdadm executable put on a host over SSH (ensureRemoteExecutable)', () => {
  it('copied when missing or different (0755, checked on arrival), left alone when the same; a dry run copies nothing; the hash noted beside it is trusted only while the file is unchanged', async () => {
    const { SshTransport: Transport } = await import('../../src/host/ssh-transport.js');
    const { ensureRemoteExecutable } = await import('../../src/host/ssh-install.js');
    const t = new Transport(target());
    await t.start();
    const dir = join(sshd.dir, 'install');
    const remote = join(dir, 'bin', 'etcdadm');
    const hashFile = join(dir, 'state', 'executable.sha256');
    const local = join(sshd.dir, 'etcdadm-v1');
    writeFileSync(local, `#!/bin/sh\necho v1\nexit 0\n#${'x'.repeat(300_000)}\n`);
    try {
      assert.deepEqual((await ensureRemoteExecutable(t, false, local, remote, { dryRun: true, hashFile })).kind, 'copied');
      assert.equal(existsSync(remote), false, 'a dry run copies nothing');
      assert.equal(existsSync(hashFile), false, 'and notes nothing');
      const first = await ensureRemoteExecutable(t, false, local, remote, { hashFile });
      assert.equal(first.kind, 'copied');
      assert.equal(statSync(remote).mode & 0o7777, 0o755);
      assert.equal(execFileSync(remote, { encoding: 'utf8' }).split('\n')[0], 'v1');
      assert.equal(readFileSync(hashFile, 'utf8').split('\n')[1], first.sha256, 'the hash noted with the file identity');
      const mtime = statSync(remote).mtimeMs;
      assert.equal((await ensureRemoteExecutable(t, false, local, remote, { hashFile })).kind, 'same');
      assert.equal(statSync(remote).mtimeMs, mtime, 'not copied again');
      // changed in place, same size, same inode: its ctime moved, so it is hashed again (and copied back)
      const fd = openSync(remote, 'r+');
      writeSync(fd, 'v9', 15);
      closeSync(fd);
      assert.equal(execFileSync(remote, { encoding: 'utf8' }).split('\n')[0], 'v9');
      assert.equal((await ensureRemoteExecutable(t, false, local, remote, { hashFile })).kind, 'copied', 'a changed file is not trusted by its note');
      assert.equal(execFileSync(remote, { encoding: 'utf8' }).split('\n')[0], 'v1');
      writeFileSync(local, `#!/bin/sh\necho v2\n`);
      const second = await ensureRemoteExecutable(t, false, local, remote, { hashFile });
      assert.deepEqual([second.kind, second.kind === 'copied' && second.previous === first.sha256], ['copied', true]);
      assert.equal(execFileSync(remote, { encoding: 'utf8' }).trim(), 'v2');
      assert.deepEqual(readdirSync(join(dir, 'bin')), ['etcdadm'], 'no temp file left');
    } finally {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
