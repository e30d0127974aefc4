/**
 * The operator's side of every command that works on a Cluster document's hosts (apply, and the read commands with
 * `-f`): one SSH Host per host, all connected at once, and the etcdadm commands run there with their log lines
 * shown here as they happen.
 *
 * A host's etcdadm is this very executable: apply copies it to REMOTE_ETCDADM when its SHA-256 differs (a dry run
 * copies nothing and reads what it can without it); the read commands never copy anything.
 */
import { isSea } from 'node:sea';
import { resolveCluster, type ClusterHostSpec, type ClusterSpec } from '../config/cluster.js';
import type { ConfigDocument } from '../config/document.js';
import { parseConfigText } from '../config/file.js';
import { EtcdadmError } from '../errors.js';
import { readOperatorFile } from '../host/operator.js';
import { ensureRemoteExecutable, remoteSha256, sha256File, type InstallOutcome } from '../host/ssh-install.js';
import { SshHost } from '../host/ssh.js';
import type { ExecResult } from '../host/host.js';
import type { Logger, LogLevel } from '../log/logger.js';

/** Where apply puts etcdadm on a host. */
export const REMOTE_ETCDADM = '/usr/local/bin/etcdadm';

export interface Connected {
  spec: ClusterHostSpec;
  /** The host, or why it could not be reached (a dry run's NotInstalled included). */
  host: SshHost | Error;
  installed?: InstallOutcome;
}

export interface ConnectOptions {
  acceptNewHostKeys: boolean;
  log: Logger;
  /**
   * How the executable gets there: 'copy' (apply: put there when its SHA-256 differs), 'dry-run' (apply --dry-run:
   * compare only; a host without it is a NotInstalled), 'use' (read commands: whatever etcdadm is there).
   */
  install: { mode: 'copy' | 'dry-run'; executable: string } | { mode: 'use' };
}

/** The executable to copy: --executable, else this process when it is etcdadm's single executable. */
export function executableOf(given: string | undefined): string {
  if (given) return given;
  if (isSea()) return process.execPath;
  throw new EtcdadmError('apply copies the etcdadm executable to the hosts, and this etcdadm is not the single executable', {
    hint: 'run apply with the etcdadm executable (etcdadm-linux-amd64), or pass --executable with its path',
    exitCode: 2,
  });
}

/** A Cluster document, resolved per host; any other kind is one line (exit 2) saying what `what` takes. */
export async function loadClusterFile(file: string, home: string, what: string): Promise<ClusterSpec & { doc: ConfigDocument }> {
  const doc = parseConfigText(await readOperatorFile(file, 'cluster file', 'check the -f path'), file);
  if (doc.kind !== 'Cluster')
    throw new EtcdadmError(`${file} is a ${doc.kind} document: ${what} takes a Cluster document (the whole cluster)`, { hint: 'etcdadm config print cluster-defaults shows one', exitCode: 2 });
  return { ...resolveCluster(doc, home), doc };
}

/** A dry run meets a host without this etcdadm: it reads what it can without one and copies nothing. */
export class NotInstalled extends Error {
  constructor(
    why: string,
    readonly hostname: string,
    readonly hasRecord: boolean,
  ) {
    super(why);
  }
}

/** One host: its master connection, the executable checked (and copied), its agent started. Never throws. */
export async function connectHost(o: ConnectOptions, spec: ClusterHostSpec): Promise<Connected> {
  const log = o.log.withPhase('connect');
  const inst = o.install;
  try {
    const host = await SshHost.connect({
      ...spec.ssh,
      name: spec.name ?? spec.address,
      acceptNewHostKeys: o.acceptNewHostKeys,
      agentCommand: [REMOTE_ETCDADM],
      beforeAgent: async (t, sudo) => {
        if (inst.mode === 'use') {
          // the read commands copy nothing: a host without etcdadm is one line saying how it gets there
          const r = await t.run(['test', '-x', REMOTE_ETCDADM], { sudo, timeoutMs: 30_000 });
          if (r.code !== 0)
            throw new EtcdadmError(`there is no etcdadm at ${REMOTE_ETCDADM} there`, { hint: 'run etcdadm apply -f with this file first: it puts etcdadm there (the read commands copy nothing)' });
          return { kind: 'same', sha256: '' } satisfies InstallOutcome;
        }
        if (inst.mode === 'copy') return ensureRemoteExecutable(t, sudo, inst.executable, REMOTE_ETCDADM);
        const have = await remoteSha256(t, sudo, REMOTE_ETCDADM);
        if (have !== (await sha256File(inst.executable))) {
          // read-only without the agent: its hostname (the member's name) and whether it has a record
          const r = await t.run(['sh', '-c', 'hostname; test -e /etc/etcd/etcdadm.yaml && echo record || true'], { sudo, timeoutMs: 30_000 });
          const [hostname, record] = r.stdout.trim().split('\n');
          throw new NotInstalled(have === undefined ? 'etcdadm is not installed there' : 'another etcdadm is installed there', hostname ?? '', record === 'record');
        }
        return { kind: 'same', sha256: have } satisfies InstallOutcome;
      },
    });
    const installed = host.prepared as InstallOutcome;
    const name = spec.name ?? (await host.facts()).hostname;
    host.name = name;
    if (inst.mode !== 'use')
      log.info(`${name}: connected${installed.kind === 'copied' ? `; etcdadm copied to ${REMOTE_ETCDADM} (${installed.bytes} bytes)` : `; ${REMOTE_ETCDADM} is up to date`}`);
    else log.debug(`${name}: connected`);
    return { spec, host, installed };
  } catch (err) {
    return { spec, host: err instanceof Error ? err : new Error(String(err)) };
  }
}

/** Close every connected host (errors only logged: closing never hides the result). */
export async function closeAll(hosts: readonly Connected[], log: Logger): Promise<void> {
  await Promise.all(hosts.map((c) => (c.host instanceof SshHost ? c.host.close().catch((err: unknown) => log.debug(`closing ${c.spec.address}: ${String(err)}`)) : undefined)));
}

/** One log line of a remote etcdadm run with `--log-format json`. */
interface RemoteLine {
  level?: LogLevel;
  phase?: string;
  msg?: string;
  [field: string]: unknown;
}

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/**
 * Run etcdadm `args` on `host` (`--log-format json` there), each of its log lines shown here as it comes, under
 * `[step]` and prefixed by the host's name (its own phase kept: `[join] ehost4: [membership] Promoted member ...`;
 * with --log-format json here, the fields `host` and `remotePhase`). Whatever its exit code, its result, with the
 * last error it logged; fails only when the command could not run there (ssh's own failure, the deadline).
 */
export async function execRemote(log: Logger, step: string, name: string, host: SshHost, args: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult & { lastError?: string }> {
  const slog = log.withPhase(step);
  let lastError: string | undefined;
  const r = await host.command([REMOTE_ETCDADM, '--log-format', 'json', ...args], {
    timeoutMs: opts.timeoutMs ?? 15 * 60_000,
    onStderrLine: (line) => {
      if (!line.trim()) return;
      let l: RemoteLine | undefined;
      try {
        const v = JSON.parse(line) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) l = v as RemoteLine;
      } catch {
        // not etcdadm's log (a message from sudo or the shell): shown as it is
      }
      if (!l || typeof l.msg !== 'string') {
        slog.info(`${name}: ${line}`, { host: name });
        return;
      }
      const level = l.level && LEVELS.has(l.level) ? l.level : 'info';
      if (level === 'error') lastError = l.msg;
      slog.log(level === 'error' ? 'warn' : level, `${name}: ${l.phase ? `[${l.phase}] ` : ''}${l.msg}`, { host: name, ...(l.phase ? { remotePhase: l.phase } : {}) });
    },
  });
  return { ...r, ...(lastError !== undefined ? { lastError } : {}) };
}

/** The one line a failed remote command ends with: the last error it logged, else its last line of stderr. */
export function remoteFailure(r: ExecResult & { lastError?: string }): string {
  return r.lastError ?? (r.stderr.trim().split('\n').pop() || `exit ${r.code}`);
}

/**
 * apply's steps: execRemote, a failure being one line naming the step and the host, with the host's own error.
 * Returns its stdout.
 */
export async function runRemote(log: Logger, step: string, name: string, host: SshHost, args: string[], opts: { timeoutMs?: number; allowCodes?: number[] } = {}): Promise<string> {
  const r = await execRemote(log, step, name, host, args, opts).catch((err: unknown) => {
    const why = err instanceof EtcdadmError ? err.message : String(err);
    throw new EtcdadmError(`apply: ${step} on ${name} failed: ${why}`, { hint: 'bring the host back, then run the same apply again (every step checks the host first)', cause: err });
  });
  if (r.code !== 0 && !(opts.allowCodes ?? []).includes(r.code))
    throw new EtcdadmError(`apply: ${step} on ${name} failed: ${remoteFailure(r)}`, { hint: 'fix it there, then run the same apply again (every step checks the host first)' });
  return r.stdout;
}
