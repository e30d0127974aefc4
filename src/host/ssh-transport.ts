/**
 * Reaching another machine through OpenSSH's own client (`ssh`), so that a host is reached exactly as the operator's
 * own `ssh` reaches it: ~/.ssh/config aliases, ProxyJump, ssh-agent, key files, known_hosts. One master connection
 * per host (ControlMaster, its socket in a private 0700 directory) carries every command; it is opened by the first
 * command, kept ControlPersist seconds after the last one, and closed by `stop` (`ssh -O exit`).
 *
 * Host keys: StrictHostKeyChecking=yes (an unknown or changed key is refused before anything runs), or accept-new
 * (an unknown key is recorded on first contact; a changed key is still refused). BatchMode: ssh never prompts. A
 * non-root login runs its commands under `sudo -n` (never a password prompt: it fails, and says so). Secrets never
 * reach a command line: only the paths of key files. Every failure of ssh itself is one EtcdadmError naming the host
 * and what to do (`sshFailure`).
 *
 * The argument vectors are built by pure functions (unit-tested); the rest spawns `ssh`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdadmError } from '../errors.js';
import { childEnv } from './exec.js';

export interface SshTarget {
  /** A host name, an address, or a Host alias of the operator's ssh_config. */
  address: string;
  port?: number;
  /** The login; default: ssh_config's, else the operator's own name. */
  user?: string;
  /** A private key file (its path only ever reaches the command line). */
  identityFile?: string;
  /** The known_hosts file to check host keys against (and to record new ones in, with acceptNewHostKeys). */
  knownHostsFile?: string;
  /** Record the key of a host seen for the first time (StrictHostKeyChecking=accept-new) instead of refusing it. */
  acceptNewHostKeys?: boolean;
  /** Bastions, as ssh -J takes them: `[user@]host[:port][,…]`. */
  proxyJump?: string;
  /** Run remote commands under `sudo -n`. Default: decided on connect (a login that is not uid 0 uses sudo). */
  sudo?: boolean;
  /** An ssh_config file instead of the operator's (ssh -F). */
  configFile?: string;
  /** TCP connect timeout in seconds (ConnectTimeout); default 15. */
  connectTimeoutSec?: number;
  /** How long the master outlives its last session, in seconds (ControlPersist); default 120. */
  controlPersistSec?: number;
}

/** How the host is named in messages: `user@address:port` with what is given. */
export function targetLabel(t: SshTarget): string {
  return `${t.user ? `${t.user}@` : ''}${t.address}${t.port ? `:${t.port}` : ''}`;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

function checkWord(what: string, v: string): void {
  if (!v || v.startsWith('-') || /\s/.test(v) || CONTROL.test(v))
    throw new EtcdadmError(`invalid SSH ${what} ${JSON.stringify(v)}: it must not be empty, start with "-" or contain spaces`, { hint: `fix the ${what}` });
}

/**
 * A file path as an `ssh -o`/`-i` value: `%` escaped (ssh expands %-tokens in these), quoted when it has spaces.
 * Paths ssh would rewrite otherwise (`${VAR}` expansion) or cannot quote are refused.
 */
export function sshPathValue(what: string, path: string, quote = true): string {
  if (!path || CONTROL.test(path) || path.includes('"') || path.includes('${'))
    throw new EtcdadmError(`invalid ${what} path ${JSON.stringify(path)}: ssh cannot be given it`, { hint: `move the file to a plain path` });
  const p = path.replace(/%/g, '%%');
  return quote && /\s/.test(p) ? `"${p}"` : p;
}

/** The options every ssh invocation for `t` carries: the master, host keys, the login. Pure. */
export function sshBaseArgs(t: SshTarget, controlDir: string): string[] {
  checkWord('host', t.address);
  const a = [
    '-o', 'ControlMaster=auto',
    '-o', `ControlPath=${sshPathValue('control', controlDir)}/%C`,
    '-o', `ControlPersist=${t.controlPersistSec ?? 120}`,
    '-o', 'BatchMode=yes',
    '-o', `StrictHostKeyChecking=${t.acceptNewHostKeys ? 'accept-new' : 'yes'}`,
  ];
  if (t.knownHostsFile) a.push('-o', `UserKnownHostsFile=${sshPathValue('known_hosts', t.knownHostsFile)}`);
  a.push('-o', `ConnectTimeout=${t.connectTimeoutSec ?? 15}`, '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3', '-o', 'LogLevel=ERROR');
  if (t.identityFile) a.push('-i', sshPathValue('identity', t.identityFile, false), '-o', 'IdentitiesOnly=yes');
  if (t.port !== undefined) {
    if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw new EtcdadmError(`invalid SSH port ${t.port} for ${t.address}`, { hint: 'give a port from 1 to 65535' });
    a.push('-p', String(t.port));
  }
  if (t.user) {
    checkWord('user', t.user);
    a.push('-l', t.user);
  }
  if (t.proxyJump) {
    checkWord('ProxyJump', t.proxyJump);
    a.push('-J', t.proxyJump);
  }
  if (t.configFile) a.push('-F', sshPathValue('ssh_config', t.configFile, false));
  return a;
}

/** One word for a POSIX shell: as it is when it is plain, else single-quoted. Pure. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line the remote login shell runs: `argv` quoted, under `sudo -n --` when `sudo`. Pure. */
export function remoteCommandLine(argv: readonly string[], sudo: boolean): string {
  if (!argv.length) throw new Error('an empty remote command');
  return [...(sudo ? ['sudo', '-n', '--'] : []), ...argv].map(shellQuote).join(' ');
}

/** `ssh <options> -T -- <host> <command>`: run `argv` on the host over the master. Pure. */
export function sshCommandArgs(t: SshTarget, controlDir: string, argv: readonly string[], sudo: boolean): string[] {
  return [...sshBaseArgs(t, controlDir), '-T', '--', t.address, remoteCommandLine(argv, sudo)];
}

/** `ssh <options> -O <op> -- <host>`: ask the master (check that it runs, or make it exit). Pure. */
export function sshControlArgs(t: SshTarget, controlDir: string, op: 'check' | 'exit'): string[] {
  return [...sshBaseArgs(t, controlDir), '-O', op, '--', t.address];
}

/** ssh's own diagnostics out of a stderr that may also hold the remote program's: the lines ssh and sudo write. */
function lastLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^@+$/.test(l) && !/^Warning: Permanently added/.test(l));
  return lines[lines.length - 1] ?? '';
}

/**
 * What went wrong, from the stderr of an ssh that failed (exit 255) or of a `sudo -n` that did: one error naming the
 * host and saying what to do. Pure.
 */
export function sshFailure(t: SshTarget, stderr: string): EtcdadmError {
  const host = targetLabel(t);
  const kh = t.knownHostsFile ?? '~/.ssh/known_hosts';
  const s = stderr;
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/.test(s)) {
    const offending = /Offending \S+ key in (\S+?):(\d+)/.exec(s);
    const fingerprint = /The fingerprint for the \S+ key sent by the remote host is\s+(\S+?)\.?\s*$/m.exec(s)?.[1];
    const removal = /ssh-keygen -f "[^"]+" -R "[^"]+"/.exec(s)?.[0] ?? `ssh-keygen${t.knownHostsFile ? ` -f ${t.knownHostsFile}` : ''} -R ${t.port ? `'[${t.address}]:${t.port}'` : t.address}`;
    return new EtcdadmError(
      `SSH to ${host} refused: its host key${fingerprint ? ` (${fingerprint})` : ''} is not the one recorded in ${offending ? `${offending[1]} line ${offending[2]}` : kh}: someone may be intercepting the connection, or the host was reinstalled`,
      { hint: `nothing was run on it; if the host was reinstalled, check its new key's fingerprint out of band, remove the old one (${removal}) and connect again` },
    );
  }
  if (/No \S+ host key is known for|Host key verification failed/.test(s))
    return new EtcdadmError(`SSH to ${host} refused: its host key is not in ${kh} (StrictHostKeyChecking=yes)`, {
      hint: `nothing was run on it; add its key to ${kh} (ssh-keyscan, then check the fingerprint out of band), or pass --accept-new-host-keys to record it on first contact`,
    });
  if (/Permission denied \(([^)]*)\)/.test(s)) {
    const methods = /Permission denied \(([^)]*)\)/.exec(s)![1];
    return new EtcdadmError(`SSH login to ${host} refused (${methods})`, {
      hint: `check the user, that its authorized_keys holds your public key, and the key offered (${t.identityFile ? `-i ${t.identityFile}` : 'ssh-agent or ~/.ssh/id_*'}); ssh never prompts for a passphrase here: load the key into ssh-agent`,
    });
  }
  if (/Too many authentication failures/.test(s))
    return new EtcdadmError(`SSH login to ${host} refused: too many authentication failures`, { hint: 'ssh-agent offers too many keys: give the right one with an identity file' });
  if (/Connection refused/.test(s))
    return new EtcdadmError(`SSH to ${host} failed: connection refused`, { hint: `check that sshd runs there and listens on port ${t.port ?? 22}` });
  if (/Connection timed out|Operation timed out|timed out during banner exchange/.test(s))
    return new EtcdadmError(`SSH to ${host} failed: the connection timed out`, { hint: 'check the address, the port, firewalls and the ProxyJump on the way' });
  if (/Could not resolve hostname|Name or service not known|Temporary failure in name resolution/.test(s))
    return new EtcdadmError(`SSH to ${host} failed: the name does not resolve`, { hint: 'check the host name, or the Host alias in your ssh_config' });
  if (/No route to host|Network is unreachable/.test(s))
    return new EtcdadmError(`SSH to ${host} failed: ${/No route to host/.test(s) ? 'no route to host' : 'network is unreachable'}`, { hint: 'check the address and the network on the way' });
  if (/sudo: (a terminal is required|a password is required)|sudo: \d+ incorrect password/.test(s))
    return new EtcdadmError(`sudo on ${host} needs a password for ${t.user ?? 'the login'}`, {
      hint: 'allow that user passwordless sudo (a NOPASSWD line in /etc/sudoers.d), or log in as root',
    });
  if (/is not in the sudoers file|is not allowed to (run sudo|execute)/.test(s))
    return new EtcdadmError(`sudo on ${host} refused ${t.user ?? 'the login'}: ${lastLine(s).replace(/^sudo: /, '')}`, { hint: 'allow that user to run etcdadm as root with sudo (NOPASSWD), or log in as root' });
  if (/sudo: (command )?not found|sudo: No such file/.test(s))
    return new EtcdadmError(`sudo is not installed on ${host}`, { hint: 'install sudo there, or log in as root' });
  if (/Connection (closed|reset) by|kex_exchange_identification|Broken pipe/.test(s))
    return new EtcdadmError(`SSH to ${host} failed: the connection was closed (${lastLine(s)})`, { hint: 'check that sshd there accepts this login (AllowUsers, MaxStartups, fail2ban) and try again' });
  return new EtcdadmError(`SSH to ${host} failed: ${lastLine(s) || 'ssh exited with status 255 and said nothing'}`, { hint: 'run the same ssh by hand with -v to see why' });
}

export interface RemoteRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One host reached over its master connection. `start` opens the master (and proves the login works); `spawn`
 * runs a long-lived remote command with its streams; `run` a short one to completion; `stop` closes the master
 * and removes its private directory.
 */
export class SshTransport {
  private controlDir: string | undefined;

  constructor(
    readonly target: SshTarget,
    /** The ssh client; `ssh` on PATH. */
    private readonly ssh = 'ssh',
  ) {}

  get label(): string {
    return targetLabel(this.target);
  }

  /** The private directory of the master's socket (while started). */
  get controlDirectory(): string | undefined {
    return this.controlDir;
  }

  private dir(): string {
    if (!this.controlDir) throw new Error(`the SSH transport to ${this.label} is not started`);
    return this.controlDir;
  }

  /** The private control directory and the master connection (by a first command: `id -u`); the login's uid. */
  async start(timeoutMs = 60_000): Promise<number> {
    this.controlDir ??= await mkdtemp(join(tmpdir(), 'etcdadm-ssh-'));
    const r = await this.run(['id', '-u'], { timeoutMs, sudo: false });
    const uid = Number(r.stdout.trim());
    if (r.code !== 0 || !/^\d+$/.test(r.stdout.trim()))
      throw new EtcdadmError(`SSH to ${this.label}: \`id -u\` failed (exit ${r.code}): ${lastLine(r.stderr) || r.stdout.trim()}`, { hint: 'log in by hand and check the account\'s shell' });
    return uid;
  }

  /** ssh running `argv` on the host (under sudo when asked), its three streams piped. */
  spawn(argv: readonly string[], sudo: boolean): ChildProcessWithoutNullStreams {
    return spawn(this.ssh, sshCommandArgs(this.target, this.dir(), argv, sudo), { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** Run `argv` on the host to completion; an ssh failure (exit 255) is thrown as sshFailure's one line. */
  run(argv: readonly string[], opts: { timeoutMs?: number; sudo: boolean; input?: string }): Promise<RemoteRun> {
    return this.local(sshCommandArgs(this.target, this.dir(), argv, opts.sudo), opts.timeoutMs ?? 60_000, opts.input).then((r) => {
      if (r.code === 255) throw sshFailure(this.target, r.stderr);
      return r;
    });
  }

  /** Whether the master connection is up. */
  async check(): Promise<boolean> {
    if (!this.controlDir) return false;
    return (await this.local(sshControlArgs(this.target, this.controlDir, 'check'), 10_000)).code === 0;
  }

  /** Close the master connection and remove the control directory. Safe to call twice. */
  async stop(): Promise<void> {
    const dir = this.controlDir;
    if (!dir) return;
    this.controlDir = undefined;
    await this.local(sshControlArgs(this.target, dir, 'exit'), 10_000).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }

  private local(args: string[], timeoutMs: number, input?: string): Promise<RemoteRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.ssh, args, { env: childEnv(), stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new EtcdadmError(`SSH to ${this.label} did not answer within ${timeoutMs} ms`, { hint: 'check the address, the network and the ProxyJump on the way' }));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new EtcdadmError(`cannot run ${this.ssh}: ${err.message}`, { hint: 'install the OpenSSH client (openssh-client)', cause: err }));
      });
      // 'exit', not 'close': a master that ssh forks into the background may keep a copy of the pipes open
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        // the output already read; what is still in the pipes arrives before 'close' — give it that moment
        const done = () => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
        if (child.stdout!.readableEnded && child.stderr!.readableEnded) done();
        else {
          let ended = 0;
          const t = setTimeout(done, 200);
          const one = () => {
            if (++ended === 2) {
              clearTimeout(t);
              done();
            }
          };
          if (child.stdout!.readableEnded) one();
          else child.stdout!.once('end', one);
          if (child.stderr!.readableEnded) one();
          else child.stderr!.once('end', one);
        }
      });
      if (child.stdin) {
        child.stdin.on('error', () => undefined);
        child.stdin.end(input);
      }
    });
  }
}
