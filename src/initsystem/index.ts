/**
 * How etcd is run on this host: a systemd unit, or a static Pod that the kubelet runs. The only module that calls
 * systemctl. Both implement the same interface so that phases do not care which one is in use; `initSystemFor`
 * returns one bound to a Host, with the time spent in it counted as waiting on systemctl.
 */
import type { Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Timings } from '../log/timings.js';
import { parseEnvFile, renderPodManifest, renderUnit } from '../service/render.js';

export interface InitSystem {
  readonly name: 'systemd' | 'kubelet';
  /** Write the unit (nothing for kubelet: its manifest is the start signal, written by start). */
  configure(plan: Plan): Promise<void>;
  /** Make the init system read its unit files again (systemctl daemon-reload; nothing for kubelet). */
  reload(): Promise<void>;
  /** Enable and start etcd with the settings in the env file; returns when the init system reports it started. */
  start(plan: Plan): Promise<void>;
  /** Stop etcd and keep it from starting at boot. Idempotent. */
  stop(plan: Plan): Promise<void>;
  /** Stop and start etcd again, left enabled (an upgrade's restart); `whileStopped` runs in between. */
  restart(plan: Plan, whileStopped?: () => Promise<void>): Promise<void>;
  isActive(plan: Plan): Promise<boolean>;
  /** Whether etcd is set up to start at boot (enabled unit / manifest present). */
  isInstalled(plan: Plan): Promise<boolean>;
  /** Remove what configure/start wrote. Idempotent. */
  remove(plan: Plan): Promise<void>;
  /** Why etcd is not running (exited, failed, restarting), with etcd's own last error; undefined while it runs. */
  down(plan: Plan): Promise<string | undefined>;
  /** Where the operator finds etcd's log. */
  logHint(plan: Plan): string;
}

/**
 * The variables etcd runs with now: the env file, or — a static Pod without one, as etcdadm v0.1.x's kubelet mode
 * writes it — the Pod's container env. Empty when neither is there.
 */
export async function runningEnv(host: Host, plan: Plan): Promise<Map<string, string>> {
  const text = await host.read(plan.files.envFile).catch(() => undefined);
  if (text !== undefined || plan.service.initSystem !== 'kubelet') return parseEnvFile(text ?? '');
  const manifest = await host.read(plan.service.podManifestFile).catch(() => undefined);
  if (manifest === undefined) return new Map();
  const { parse } = await import('yaml');
  try {
    const pod = parse(manifest) as { spec?: { containers?: { env?: { name?: unknown; value?: unknown }[] }[] } };
    const env = pod.spec?.containers?.[0]?.env ?? [];
    return new Map(env.filter((e): e is { name: string; value: string } => typeof e.name === 'string' && typeof e.value === 'string').map((e) => [e.name, e.value]));
  } catch {
    return new Map();
  }
}

const SYSTEMCTL = 'systemctl';

/**
 * etcd's last error from its log (JSON lines, or text): "msg: error", one line. A fatal, panic or error entry wins;
 * else the last entry that carries an error (etcd logs "failed to verify flags" as a warning, then exits). Only the
 * newest etcd process counts: its first entry ("Running: ") ends the search, so that the errors an earlier process
 * logged while a restart stopped it are not taken for why the new one exited.
 */
export function lastEtcdError(log: string): string | undefined {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  let withError: string | undefined;
  for (let i = lines.length - 1; i >= 0 && i >= lines.length - 200; i--) {
    const line = lines[i]!;
    const json = line.indexOf('{');
    if (json >= 0) {
      try {
        const o = JSON.parse(line.slice(json)) as { level?: string; msg?: string; error?: string };
        const text = o.error ? `${o.msg ?? 'error'}: ${o.error}` : o.msg;
        if (o.level && /^(fatal|panic|error)$/.test(o.level) && text) return text;
        if (o.error && !withError) withError = text;
        if (o.msg === 'Running: ') break;
        continue;
      } catch {
        /* not JSON */
      }
    }
    if (/\b(fatal|panic)\b/i.test(line)) return line.slice(0, 300);
  }
  return withError;
}

function systemd(host: Host): InitSystem {
  const run = (args: string[]) => host.exec(SYSTEMCTL, args);
  const journal = async (unit: string): Promise<string> => {
    const j = await host.exec('journalctl', ['-u', unit, '-n', '200', '-o', 'cat', '--no-pager']).catch(() => undefined);
    if (j && j.code === 0 && j.stdout.trim()) return j.stdout;
    // Debian's daemonless systemctl (no journald) keeps each unit's output here
    return (await host.read(`/var/log/journal/${unit}.log`).catch(() => undefined)) ?? '';
  };
  const logHint = (plan: Plan) => `see 'journalctl -u ${plan.service.unitName}' for etcd's own log`;
  const reload = async (): Promise<void> => {
    const r = await run(['daemon-reload']);
    if (r.code !== 0) throw new EtcdadmError(`systemctl daemon-reload failed: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`, { hint: 'check that systemd runs on this host' });
  };
  /** systemctl `args` (enable --now, or start), failing with etcd's own last error. */
  const startWith = async (plan: Plan, args: string[]): Promise<void> => {
    const unit = plan.service.unitName;
    if (!(await host.exists(plan.service.unitFile)))
      throw new EtcdadmError(`the unit ${plan.service.unitFile} does not exist`, { hint: "run 'etcdadm init phase configure' first" });
    const r = await run(args);
    if (r.code !== 0) {
      const etcd = lastEtcdError(await journal(unit));
      const last = etcd ?? ((r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? '');
      throw new EtcdadmError(`${unit} did not start${last ? `: ${last}` : ''}`, { hint: logHint(plan) });
    }
  };
  return {
    name: 'systemd',
    async configure(plan) {
      // a unit that is already what it should be is left alone: no write, no daemon-reload that changes nothing
      const text = renderUnit(plan);
      if ((await host.read(plan.service.unitFile)) === text && (await host.stat(plan.service.unitFile))?.mode === 0o644) {
        // unless systemd has not read it yet (a run that stopped between the write and the reload)
        const r = await run(['show', '-p', 'NeedDaemonReload', '--value', plan.service.unitName]);
        if (r.code === 0 && r.stdout.trim() === 'no') return;
      }
      await host.write(plan.service.unitFile, text, { mode: 0o644 });
      await reload();
    },
    reload,
    async start(plan) {
      await startWith(plan, ['enable', '--now', plan.service.unitName]);
    },
    async restart(plan, whileStopped) {
      await run(['stop', plan.service.unitName]);
      await whileStopped?.();
      await startWith(plan, ['start', plan.service.unitName]);
    },
    async stop(plan) {
      if (!(await host.exists(plan.service.unitFile))) return;
      // stop before disable: a stopped unit answers is-active reliably everywhere
      await run(['stop', plan.service.unitName]);
      await run(['disable', plan.service.unitName]);
    },
    async isActive(plan) {
      const r = await run(['is-active', plan.service.unitName]);
      return r.code === 0 && r.stdout.trim() === 'active';
    },
    async isInstalled(plan) {
      return host.exists(plan.service.unitFile);
    },
    async remove(plan) {
      if (await host.remove(plan.service.unitFile)) await reload();
    },
    async down(plan) {
      const unit = plan.service.unitName;
      const r = await run(['is-active', unit]);
      const state = r.stdout.trim();
      if (state === 'active') return undefined;
      const etcd = lastEtcdError(await journal(unit));
      return `${unit} is ${state || 'not active'}${etcd ? `; etcd said: ${etcd}` : ''}`;
    },
    logHint,
  };
}

function kubelet(host: Host): InitSystem {
  return {
    name: 'kubelet',
    async configure() {
      /* the manifest is the start signal for the kubelet: written by start */
    },
    async reload() {
      /* the kubelet watches its manifest dir */
    },
    async start(plan) {
      const envText = await host.read(plan.files.envFile);
      if (envText === undefined) throw new EtcdadmError(`${plan.files.envFile} does not exist`, { hint: "run 'etcdadm init phase configure' first" });
      const env = [...parseEnvFile(envText).entries()];
      await host.write(plan.service.podManifestFile, renderPodManifest(plan, env), { mode: 0o600, dirMode: 0o755 });
    },
    async stop(plan) {
      await host.remove(plan.service.podManifestFile);
    },
    async restart(plan, whileStopped) {
      await this.stop(plan);
      await whileStopped?.();
      await this.start(plan);
    },
    async isActive(plan) {
      return host.exists(plan.service.podManifestFile);
    },
    async isInstalled(plan) {
      return host.exists(plan.service.podManifestFile);
    },
    async remove(plan) {
      await host.remove(plan.service.podManifestFile);
    },
    async down() {
      return undefined; // the kubelet restarts the Pod; etcdadm cannot see it
    },
    logHint() {
      return 'see the kubelet and container logs';
    },
  };
}

/** A systemd timer and what it starts, as `systemctl` reports them. */
export interface TimerState {
  /** `systemctl is-enabled`: enabled, disabled, not-found, ... */
  enabled: string;
  /** `systemctl is-active`: active, inactive, ... */
  active: string;
  /** When the timer elapses next (ISO 8601), from NextElapseUSecRealtime; undefined when it is not scheduled. */
  nextElapse?: string;
  /** When it last started its unit (ISO 8601), from LastTriggerUSec. */
  lastTrigger?: string;
}

/** systemd timers (scheduled backups); like InitSystem, the time spent counts as waiting on systemctl. */
export interface SystemdTimers {
  /** Whether systemd runs this host (a timer can be installed). */
  available(): Promise<boolean>;
  /** Write unit files (0644) and daemon-reload. */
  install(files: readonly { path: string; text: string }[]): Promise<void>;
  /** systemctl daemon-reload. */
  reload(): Promise<void>;
  /** Enable and start a timer; with `restart`, restarted so that a changed OnCalendar= takes effect now. */
  enableNow(timer: string, restart: boolean): Promise<void>;
  /** Stop and disable units (absent ones are fine) and forget a failed state. */
  disableNow(units: readonly string[]): Promise<void>;
  /** Remove unit files; daemon-reload when one was there. Returns the files removed. */
  removeFiles(paths: readonly string[]): Promise<string[]>;
  state(timer: string): Promise<TimerState>;
}

/** A timestamp as `systemctl show --timestamp=utc` prints it ("Tue 2026-12-01 23:00:00 UTC") → ISO; else undefined. */
export function parseSystemdTimestamp(text: string): string | undefined {
  const m = /(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))? UTC\s*$/.exec(text.trim());
  if (!m) return undefined;
  const t = Date.parse(`${m[1]}T${m[2]}${m[3] ? `.${m[3].slice(0, 3).padEnd(3, '0')}` : ''}Z`);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** `systemctl show -p A,B` output (`A=x` lines) as a map. */
export function parseShow(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

export function systemdTimers(host: Host, timings?: Timings): SystemdTimers {
  const run = (args: string[]) => (timings ? timings.wait('systemctl', () => host.exec(SYSTEMCTL, args)) : host.exec(SYSTEMCTL, args));
  const failed = (what: string, r: { stdout: string; stderr: string }) =>
    new EtcdadmError(`systemctl ${what} failed: ${(r.stderr.trim() || r.stdout.trim()).split('\n').pop() ?? ''}`, { hint: 'check that systemd runs this host (systemctl is-system-running)' });
  const reload = async () => {
    const r = await run(['daemon-reload']);
    if (r.code !== 0) throw failed('daemon-reload', r);
  };
  return {
    async available() {
      return host.exists('/run/systemd/system');
    },
    async install(files) {
      for (const f of files) await host.write(f.path, f.text, { mode: 0o644 });
      await reload();
    },
    reload,
    async enableNow(timer, restart) {
      const r = await run(['enable', '--now', timer]);
      if (r.code !== 0) throw failed(`enable --now ${timer}`, r);
      if (restart) {
        const rr = await run(['restart', timer]);
        if (rr.code !== 0) throw failed(`restart ${timer}`, rr);
      }
    },
    async disableNow(units) {
      await run(['disable', '--now', ...units]);
      await run(['reset-failed', ...units]);
    },
    async removeFiles(paths) {
      const removed: string[] = [];
      for (const p of paths) if (await host.remove(p)) removed.push(p);
      if (removed.length) await reload();
      return removed;
    },
    async state(timer) {
      const enabled = (await run(['is-enabled', timer])).stdout.trim() || 'not-found';
      const active = (await run(['is-active', timer])).stdout.trim() || 'unknown';
      const props = ['-p', 'NextElapseUSecRealtime,LastTriggerUSec'];
      let show = await run(['show', timer, ...props, '--timestamp=utc']);
      if (show.code !== 0) show = await run(['show', timer, ...props]);
      const p = parseShow(show.stdout);
      const next = parseSystemdTimestamp(p.get('NextElapseUSecRealtime') ?? '');
      const last = parseSystemdTimestamp(p.get('LastTriggerUSec') ?? '');
      return { enabled, active, ...(next ? { nextElapse: next } : {}), ...(last ? { lastTrigger: last } : {}) };
    },
  };
}

/** The init system `name` on `host`; with `timings`, every call counts as waiting on systemctl. */
export function initSystemFor(name: Plan['service']['initSystem'], host: Host, timings?: Timings): InitSystem {
  const impl = name === 'kubelet' ? kubelet(host) : systemd(host);
  if (!timings) return impl;
  const timed = {} as Record<string, unknown>;
  for (const [k, fn] of Object.entries(impl)) {
    timed[k] = typeof fn === 'function' && k !== 'logHint' ? (...args: unknown[]) => timings.wait('systemctl', () => (fn as (...a: unknown[]) => Promise<unknown>).apply(impl, args)) : fn;
  }
  return timed as unknown as InitSystem;
}
