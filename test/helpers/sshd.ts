/**
 * A real OpenSSH server for the SSH Host tests: Debian's /usr/sbin/sshd on 127.0.0.1 and a free high port, with its
 * own configuration, host key, authorized_keys and client key in a temp dir (nothing of this machine's /etc/ssh is
 * read). Its log (`-e`, LogLevel VERBOSE) is kept: the tests count logins in it. Stopped by its PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export function keygen(path: string, comment: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

export class TestSshd {
  private child: ChildProcess | undefined;
  private log = '';
  private madeRunDir = false;

  private constructor(
    readonly dir: string,
    readonly port: number,
    /** The client's private key, authorized for every account. */
    readonly identityFile: string,
    /** The server's public host key, as known_hosts wants it after the host pattern. */
    readonly hostKey: string,
  ) {}

  static async start(): Promise<TestSshd> {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-sshd-'));
    chmodSync(dir, 0o755); // sshd reads authorized_keys as the user logging in (a test user too); the keys stay 0600
    const hostKey = keygen(join(dir, 'host_ed25519'), 'etcdadm-test-host');
    const clientKey = keygen(join(dir, 'client_ed25519'), 'etcdadm-test-client');
    writeFileSync(join(dir, 'authorized_keys'), `${clientKey}\n`, { mode: 0o644 });
    const port = await freePort();
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(dir, 'host_ed25519')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // the keys live in a temp dir under /tmp (world-writable, sticky): not a path StrictModes accepts
        'StrictModes no',
        'LogLevel VERBOSE',
        'MaxStartups 50',
        'MaxSessions 50',
        '',
      ].join('\n'),
    );
    const s = new TestSshd(dir, port, join(dir, 'client_ed25519'), hostKey.split(' ').slice(0, 2).join(' '));
    // sshd's privilege separation needs its empty directory
    if (!existsSync('/run/sshd')) {
      mkdirSync('/run/sshd', { mode: 0o755 });
      s.madeRunDir = true;
    }
    await s.run();
    return s;
  }

  private run(): Promise<void> {
    const child = spawn(SSHD, ['-D', '-e', '-f', join(this.dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    return new Promise((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        this.log += d.toString();
        if (this.log.includes(`Server listening on 127.0.0.1 port ${this.port}`)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`sshd exited (${code}): ${this.log}`)));
    });
  }

  /** The server's log so far. */
  get output(): string {
    return this.log;
  }

  /** How many logins the server accepted so far (one per SSH connection). */
  logins(user = 'root'): number {
    return this.log.split('\n').filter((l) => l.includes(`Accepted publickey for ${user} `)).length;
  }

  /** A known_hosts line for this server. */
  knownHostsLine(key = this.hostKey): string {
    return `[127.0.0.1]:${this.port} ${key}\n`;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(child.pid!, 'SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (this.madeRunDir) rmdirSync('/run/sshd');
  }
}
