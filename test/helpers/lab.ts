/**
 * Lab hosts for end-to-end tests: network namespaces with their own hostname and copy-on-write /etc /var /opt
 * (lab/hosts.sh), or hosts booting real systemd (lab/nspawn-hosts.sh). The CLI runs inside them exactly as a user
 * runs it: the shipped executable (`dist/etcdadm-linux-amd64 ...`) as root on the host. Each Lab has its own state dir and is torn down by `down()`.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The shipped executable (npm run dist): what every e2e test runs, as a user would. */
export const ETCDADM = join(REPO, 'dist/etcdadm-linux-amd64');
/**
 * The same executable made with the test hooks (ETCDADM_TEST_HOLD / _FAIL, src/host/testhooks.ts), which the
 * shipped one does not even read: only the runs that inject a fault or hold at a point use it.
 */
export const ETCDADM_HOOKS = join(REPO, 'build/dist/etcdadm-hooks-linux-amd64');
export const MIRROR_URL = 'http://10.88.0.200';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    // its own process group: on a timeout the whole tree goes (nsenter into a PID namespace forks, so killing the
    // first process alone would leave the command running and the test waiting on its output)
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 137, stdout, stderr });
    });
  });
}

/** A failed command that printed exactly one ERROR line, matching `pattern`; returns that line. */
export function oneErrorLine(r: RunResult, pattern: RegExp): string {
  if (r.code === 0) throw new Error(`must fail, but exited 0:\n${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => / ERROR /.test(l));
  if (errors.length !== 1) throw new Error(`exactly one error line expected, got ${errors.length}:\n${r.stderr}`);
  if (!pattern.test(errors[0]!)) throw new Error(`the error line does not match ${pattern}:\n${errors[0]}`);
  return errors[0]!;
}

/** Throws with the output when the command failed. */
export function ok(r: RunResult, what = 'command'): RunResult {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

export interface Killed {
  /** How the process ended: must be 'SIGKILL'. */
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The JSON log lines before the kill. */
  logs: Record<string, unknown>[];
}

abstract class BaseLab {
  constructor(
    readonly n: number,
    readonly dir: string,
    protected readonly script: string,
  ) {}

  protected env(): NodeJS.ProcessEnv {
    return { LAB: this.dir };
  }

  abstract ip(i: number): string;
  abstract hostname(i: number): string;

  /** Run a program on host i. */
  on(i: number, args: string[], timeoutMs?: number): Promise<RunResult> {
    return run('bash', [this.script, 'on', String(i), ...args], { env: this.env(), ...(timeoutMs ? { timeoutMs } : {}) });
  }

  /**
   * Run etcdadm on host i (JSON logs), told to hold at `point` (ETCDADM_TEST_HOLD, src/testhooks.ts), and SIGKILL it
   * once it holds there: the kill lands exactly at that point.
   */
  runAndKill(i: number, args: string[], point: string): Promise<Killed> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [this.script, 'on', String(i), ETCDADM_HOOKS, ...args, '-l', 'debug', '--log-format', 'json'], {
        env: { ...process.env, ...this.env(), ETCDADM_TEST_HOLD: point },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes(`etcdadm-test-hold ${point}\n`)) child.kill('SIGKILL'); // bash → nsenter → the launcher all exec
      });
      child.on('error', reject);
      child.on('close', (_code, signal) => {
        clearTimeout(timer);
        const logs = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
        resolve({ signal, stderr, logs });
      });
    });
  }

  /** Run a shell script on host i. */
  sh(i: number, script: string, timeoutMs?: number): Promise<RunResult> {
    return this.on(i, ['bash', '-c', script], timeoutMs);
  }

  /** Run the etcdadm CLI on host i, as a user would. */
  etcdadm(i: number, args: string[], timeoutMs?: number): Promise<RunResult> {
    return this.on(i, [ETCDADM, ...args], timeoutMs);
  }

  /** etcdctl through the wrapper etcdadm installs. */
  etcdctl(i: number, args: string[]): Promise<RunResult> {
    return this.on(i, ['/opt/bin/etcdctl.sh', ...args]);
  }

  /** Host i's etcdctl client certificate, key and the cluster CA (PEM), for a client from this machine. */
  async clientPem(i: number): Promise<{ ca: string; cert: string; key: string }> {
    const cat = async (f: string) => ok(await this.on(i, ['cat', `/etc/etcd/pki/${f}`])).stdout;
    return { ca: await cat('ca.crt'), cert: await cat('etcdctl-etcd-client.crt'), key: await cat('etcdctl-etcd-client.key') };
  }

  /** Copy the cluster CA from host `from` to host `to`, as `rsync -avR /etc/etcd/pki/ca.* to:/` would. */
  async copyCA(from: number, to: number): Promise<void> {
    const crt = ok(await this.on(from, ['base64', '-w0', '/etc/etcd/pki/ca.crt']), 'read ca.crt').stdout.trim();
    const key = ok(await this.on(from, ['base64', '-w0', '/etc/etcd/pki/ca.key']), 'read ca.key').stdout.trim();
    ok(
      await this.sh(
        to,
        `mkdir -p /etc/etcd/pki && chmod 700 /etc/etcd/pki && echo ${crt} | base64 -d > /etc/etcd/pki/ca.crt && ` +
          `(umask 077; echo ${key} | base64 -d > /etc/etcd/pki/ca.key)`,
      ),
      'write the CA',
    );
  }

  /** Copy the cluster CA from host `from`, then join host `to` through host `via`'s client URL. */
  async join(to: number, via: number, args: string[] = [], from = via): Promise<RunResult> {
    await this.copyCA(from, to);
    return ok(await this.etcdadm(to, ['join', `https://${this.ipInUrl(via)}:2379`, ...args]), `join host${to}`);
  }

  /**
   * Make sure `hosts` form one healthy cluster (the first one initialized, the others joined), rebuilding it when an
   * earlier test left it otherwise: a suite that needs a cluster does not fail because another one did.
   */
  async ensureCluster(hosts: number[], args: string[]): Promise<void> {
    const health = await this.etcdctl(hosts[0]!, ['endpoint', 'health', '--cluster']);
    const list = await this.etcdctl(hosts[0]!, ['member', 'list']);
    const names = list.stdout.split('\n').filter(Boolean).map((l) => l.split(', ')[2]).sort();
    const want = hosts.map((h) => this.hostname(h)).sort();
    if (health.code === 0 && (health.stdout + health.stderr).match(/is healthy/g)?.length === hosts.length && JSON.stringify(names) === JSON.stringify(want)) return;
    await Promise.all(hosts.map(async (h) => {
      await this.etcdadm(h, ['reset', '--force']);
      await this.sh(h, 'rm -rf /etc/etcd /var/lib/etcd* /opt/bin/*');
    }));
    ok(await this.etcdadm(hosts[0]!, ['init', ...args]), `init host${hosts[0]} (rebuilding the cluster)`);
    for (const h of hosts.slice(1)) await this.join(h, hosts[0]!, args);
  }

  /** The host's address as it goes into a URL (IPv6 bracketed). */
  ipInUrl(i: number): string {
    const ip = this.ip(i);
    return ip.includes(':') ? `[${ip}]` : ip;
  }

  /** Names of etcd processes running on host i (lab hosts share the PID namespace, so look by network namespace). */
  abstract etcdProcesses(i: number): Promise<string[]>;

  abstract down(): Promise<void>;
}

/** Network-namespace hosts eahost1..N at 10.88.0.1..N, daemonless systemctl. */
export class NetnsLab extends BaseLab {
  private family: 4 | 6 = 4;
  static async up(n: number, opts: { route?: boolean; family?: 4 | 6 } = {}): Promise<NetnsLab> {
    const dir = `/tmp/etcdadm-lab-${process.pid}-${Date.now()}`;
    const lab = new NetnsLab(n, dir, join(REPO, 'lab/hosts.sh'));
    lab.family = opts.family ?? 4;
    await run('bash', [lab.script, 'down', String(n)], { env: lab.env() }); // a lab a crashed run left behind
    ok(await run('bash', [lab.script, 'up', String(n)], { env: { ...lab.env(), ROUTE: opts.route ? '1' : '0', FAMILY: String(lab.family) } }), 'hosts.sh up');
    return lab;
  }
  ip(i: number): string {
    return this.family === 6 ? `fd00::${i}` : `10.88.0.${i}`;
  }
  hostname(i: number): string {
    return `eahost${i}`;
  }
  async etcdProcesses(i: number): Promise<string[]> {
    return (await this.etcdPids(i)).map(() => 'etcd');
  }
  /** PIDs of the etcd processes on host i. */
  async etcdPids(i: number): Promise<number[]> {
    const r = await run('bash', ['-c', `for p in $(ip netns pids eahost${i}); do [ "$(cat /proc/$p/comm 2>/dev/null)" = etcd ] && echo $p; done; true`]);
    return r.stdout.split('\n').filter(Boolean).map(Number);
  }
  async down(): Promise<void> {
    await run('bash', [this.script, 'down', String(this.n)], { env: this.env() });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Hosts booting real systemd (systemd-nspawn): ehost1..N at 10.88.0.11..1N. */
export class NspawnLab extends BaseLab {
  private binds: string[] = [REPO];
  /**
   * `bare`: nothing of this machine inside the hosts (no checkout, so not even the executable): what a host a user
   * installs the .deb or the executable on looks like. Put files in with `put`.
   */
  static async up(n: number, opts: { bare?: boolean } = {}): Promise<NspawnLab> {
    const dir = `/tmp/etcdadm-nspawn-${process.pid}-${Date.now()}`;
    const lab = new NspawnLab(n, dir, join(REPO, 'lab/nspawn-hosts.sh'));
    if (opts.bare) lab.binds = [];
    ok(await run('bash', [lab.script, 'up', String(n), ...lab.binds], { env: lab.env(), timeoutMs: 400_000 }), 'nspawn-hosts.sh up');
    return lab;
  }
  /** Copy a file of this machine to `path` on host i (mode `mode`, root's), as scp would. */
  async put(i: number, from: string, path: string, mode: number): Promise<void> {
    ok(await run('install', ['-D', '-m', mode.toString(8), from, join(this.dir, `ehost${i}`, 'merged', path)]), `put ${path} on ${this.hostname(i)}`);
  }
  ip(i: number): string {
    return `10.88.0.1${i}`;
  }
  hostname(i: number): string {
    return `ehost${i}`;
  }
  async etcdProcesses(i: number): Promise<string[]> {
    const r = await this.on(i, ['pgrep', '-x', 'etcd']);
    return r.stdout.split('\n').filter(Boolean).map(() => 'etcd');
  }
  async reboot(i: number): Promise<void> {
    ok(await run('bash', [this.script, 'reboot', String(i), String(this.n), ...this.binds], { env: this.env(), timeoutMs: 120_000 }), 'reboot');
  }
  async down(): Promise<void> {
    await run('bash', [this.script, 'down', String(this.n)], { env: this.env(), timeoutMs: 120_000 });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
