/**
 * The read commands from the operator's machine, `-f cluster.yaml`: `status`, `upgrade plan` and `snapshot save`
 * through the first host of a Cluster document whose etcdadm answers, `certs check-expiration` on every host (each
 * has its own certificates). Over the SSH connections apply makes (connect.ts), in 'use' mode: nothing is copied to
 * a host — one without etcdadm at REMOTE_ETCDADM is one line saying to run apply first. Each host's own etcdadm
 * runs the command there with `-o json`; what it answers is returned as data, and the CLI renders it with the local
 * command's renderer and exit codes. Nothing here needs root, takes this machine's host lock or reads a host record:
 * the hosts are elsewhere. A host that cannot be reached is named in a warning; when none answers, one error line.
 *
 * snapshot save: the host's etcdadm saves into a private temp directory (0700) under its backup directory; the file
 * comes here through the SSH Host's readStream (in chunks, never whole in memory), written atomically (0600; its
 * directory 0700 when made), its SHA-256 checked against the host's `sha256sum` and the sidecar's, the sidecar
 * written beside it; the temp directory is removed there afterwards, also on failure.
 */
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PATHS } from '../config/defaults.js';
import { EtcdadmError, describe } from '../errors.js';
import type { FileWriter } from '../host/host.js';
import { operatorHost } from '../host/operator.js';
import { SshHost } from '../host/ssh.js';
import type { Logger } from '../log/logger.js';
import { expirationExitCode, type ExpirationReport } from '../pki/expiry.js';
import { parseSidecar, sidecarPath, type SnapshotSidecar } from '../snapshot/catalog.js';
import { prepareSnapshotDir } from '../snapshot/save.js';
import { closeAll, connectHost, execRemote, loadClusterFile, remoteFailure } from './connect.js';

export interface ReadOptions {
  /** The Cluster document. */
  file: string;
  /** The operator's home directory (for `~/` in the document). */
  home: string;
  log: Logger;
}

/** What one host answered (its exit code and its output parsed, when it parses), or why it could not be asked. */
export type Attempt = { host: string; code: number; value?: unknown; why: string } | { host: string; unreachable: string; hint?: string };
type Ran = Extract<Attempt, { code: number }>;

export interface AnswerRule {
  /** The exit codes of an answer (status: 0 healthy, 3 degraded). */
  accept: readonly number[];
  /** Exit codes whose output is shown when no host gives an accepted one (status: 4, an unavailable cluster). */
  fallback?: readonly number[];
}

/**
 * The attempt whose answer is shown: the first with an accepted exit code and output; once every host was asked
 * (`complete`), else the first with a fallback code and output. Undefined: ask the next host. Pure.
 */
export function chooseAnswer(attempts: readonly Attempt[], rule: AnswerRule, complete: boolean): (Ran & { value: unknown }) | undefined {
  const first = (codes: readonly number[]) => attempts.find((a): a is Ran & { value: unknown } => 'code' in a && codes.includes(a.code) && a.value !== undefined);
  return first(rule.accept) ?? (complete && rule.fallback ? first(rule.fallback) : undefined);
}

/**
 * No host answered: one line naming each host and why, the hint of the first that has one; the exit code the first
 * fallback code a host gave (status: 4, no member answers), else 1. Pure.
 */
export function noAnswer(attempts: readonly Attempt[], rule: AnswerRule, what: string, file: string): EtcdadmError {
  const whys = attempts.map((a) => `${a.host}: ${'code' in a ? a.why : a.unreachable}`);
  const ran = attempts.find((a): a is Ran => 'code' in a && (rule.fallback ?? []).includes(a.code));
  const hint = attempts.map((a) => ('hint' in a ? a.hint : undefined)).find(Boolean);
  return new EtcdadmError(`no host of ${file} answers ${what} (${whys.join('; ') || 'it names no host'})`, {
    hint: hint ?? 'bring a member host back, then run it again',
    exitCode: ran?.code ?? 1,
  });
}

/** A host of the file: reached, or why not (as an attempt that never ran). */
type FileHost = { name: string; host: SshHost } | { attempt: Extract<Attempt, { unreachable: string }> };

function unreachable(name: string, err: unknown): Extract<Attempt, { unreachable: string }> {
  if (err instanceof EtcdadmError) return { host: name, unreachable: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return { host: name, unreachable: describe(err) };
}

/**
 * Every host of the file connected at once (strict host keys; nothing copied), `fn` run on them in the file's
 * order, every connection closed afterwards. A host that cannot be reached is named in a warning. Names are the
 * file's, else the hosts' hostnames (unique: a repeated one gets its address).
 */
async function withHosts<T>(o: ReadOptions, fn: (hosts: FileHost[]) => Promise<T>): Promise<T> {
  const spec = await loadClusterFile(o.file, o.home, '-f');
  const connected = await Promise.all(spec.hosts.map((h) => connectHost({ acceptNewHostKeys: false, log: o.log, install: { mode: 'use' } }, h)));
  try {
    const hosts: FileHost[] = [];
    const seen = new Set<string>();
    for (const c of connected) {
      let name = c.spec.name ?? c.spec.address;
      try {
        if (!(c.host instanceof SshHost)) throw c.host;
        name = c.spec.name ?? (await c.host.facts()).hostname;
        if (seen.has(name)) name = `${name} (${c.spec.address})`;
        seen.add(name);
        hosts.push({ name, host: c.host });
      } catch (err) {
        const a = unreachable(name, err);
        o.log.withPhase('connect').warn(`${name} skipped: ${err instanceof EtcdadmError ? err.oneLine() : a.unreachable}`);
        hosts.push({ attempt: a });
      }
    }
    return await fn(hosts);
  } finally {
    await closeAll(connected, o.log);
  }
}

const json = (stdout: string): unknown => (stdout.trim() ? JSON.parse(stdout) : undefined);

/** Run etcdadm `args` on a reached host: its exit code and its output parsed by `parse` (undefined when it does not parse). */
async function ask(o: ReadOptions, step: string, h: { name: string; host: SshHost }, args: string[], parse: (stdout: string) => unknown, timeoutMs: number): Promise<Attempt> {
  try {
    const r = await execRemote(o.log, step, h.name, h.host, args, { timeoutMs });
    let value: unknown;
    try {
      value = parse(r.stdout);
    } catch {
      value = undefined;
    }
    const why = r.code === 0 && value === undefined ? `etcdadm ${args.join(' ')} printed nothing usable` : remoteFailure(r);
    return { host: h.name, code: r.code, ...(value !== undefined ? { value } : {}), why };
  } catch (err) {
    return unreachable(h.name, err);
  }
}

/**
 * `etcdadm <args>` through the first host of the file that answers it (rule), the others named in warnings; when
 * none answers, one error line. Its output parsed as JSON, and the host that gave it.
 */
async function throughFirst<T>(o: ReadOptions, step: string, args: string[], rule: AnswerRule, timeoutMs: number): Promise<{ host: string; value: T }> {
  const log = o.log.withPhase(step);
  return withHosts(o, async (hosts) => {
    const attempts: Attempt[] = [];
    let chosen: ReturnType<typeof chooseAnswer>;
    for (const h of hosts) {
      const a = 'attempt' in h ? h.attempt : await ask(o, step, h, args, json, timeoutMs);
      attempts.push(a);
      chosen = chooseAnswer(attempts, rule, false);
      if (chosen) break;
      // its own error was shown as it came (a warning under [step], named by the host)
      if ('code' in a) log.debug(`${a.host}: etcdadm ${args.join(' ')} exited ${a.code}`);
    }
    chosen ??= chooseAnswer(attempts, rule, true);
    if (!chosen) throw noAnswer(attempts, rule, `etcdadm ${args.join(' ')}`, o.file);
    log.debug(`read through ${chosen.host}`);
    return { host: chosen.host, value: chosen.value as T };
  });
}

/**
 * `etcdadm status -f`: the cluster's status (ClusterStatus, as `status -o json` prints it) through the first host
 * whose status answers: healthy or degraded (0, 3); an unavailable cluster (4) only when no host does better.
 */
export async function readStatus<T>(o: ReadOptions): Promise<T> {
  return (await throughFirst<T>(o, 'status', ['status', '-o', 'json'], { accept: [0, 3], fallback: [4] }, 60_000)).value;
}

/** `etcdadm upgrade plan -f`: the plan (as `upgrade plan -o json` prints it) through the first host whose member answers. */
export async function readUpgradePlan<T>(o: ReadOptions & { version?: string }): Promise<T> {
  const args = ['upgrade', 'plan', '-o', 'json', ...(o.version !== undefined ? ['--version', o.version] : [])];
  return (await throughFirst<T>(o, 'upgrade', args, { accept: [0, 3] }, 180_000)).value;
}

/** Every host's certificates, as `certs check-expiration -o json` prints them there. */
export interface HostExpirations {
  /** Each host's report, keyed by host, in the file's order. */
  hosts: Record<string, ExpirationReport>;
  /** The hosts whose certificates could not be checked, and why. */
  unchecked: { host: string; why: string }[];
  /**
   * check-expiration's exit code across the hosts: 4 when a certificate of one has expired or is missing, else 1
   * when a host could not be checked (its certificates are not known to be valid), else 3 when one is due, else 0.
   */
  exitCode: number;
}

const isReport = (v: unknown): v is ExpirationReport => typeof v === 'object' && v !== null && Array.isArray((v as ExpirationReport).certificates);

/** The hosts' check-expiration answers (0, 3 and 4 all carry a report) merged. Pure. */
export function mergeExpirations(attempts: readonly Attempt[]): HostExpirations {
  const hosts: Record<string, ExpirationReport> = {};
  const unchecked: HostExpirations['unchecked'] = [];
  for (const a of attempts) {
    if ('code' in a && [0, 3, 4].includes(a.code) && isReport(a.value)) hosts[a.host] = a.value;
    else unchecked.push({ host: a.host, why: 'code' in a ? a.why : a.unreachable });
  }
  const worst = expirationExitCode(Object.values(hosts).flatMap((r) => r.certificates));
  return { hosts, unchecked, exitCode: worst === 4 ? 4 : unchecked.length ? 1 : worst };
}

/** `etcdadm certs check-expiration -f`: every host's certificates, all asked at once. */
export async function readExpirations(o: ReadOptions): Promise<HostExpirations> {
  const args = ['certs', 'check-expiration', '-o', 'json'];
  return withHosts(o, async (hosts) => {
    const attempts = await Promise.all(hosts.map((h) => ('attempt' in h ? h.attempt : ask(o, 'certs', h, args, json, 60_000))));
    const merged = mergeExpirations(attempts);
    if (Object.keys(merged.hosts).length === 0) throw noAnswer(attempts, { accept: [0, 3, 4] }, `etcdadm ${args.join(' ')}`, o.file);
    for (const u of merged.unchecked) o.log.withPhase('certs').debug(`${u.host}: its certificates were not checked: ${u.why}`);
    return merged;
  });
}

/** Where `snapshot save -f` writes on this machine: --output's file, or --dir (default: the working directory). */
export interface SnapshotDestination {
  dir: string;
  output?: string;
}

/** --dir and --output resolved against the working directory (one of them at most). Pure. */
export function snapshotDestination(to: { dir?: string; output?: string }, cwd: string): SnapshotDestination {
  if (to.dir !== undefined && to.output !== undefined) throw new EtcdadmError('give --dir or --output, not both', { exitCode: 2 });
  if (to.output !== undefined) {
    const output = resolve(cwd, to.output);
    return { dir: dirname(output), output };
  }
  return { dir: resolve(cwd, to.dir ?? '.') };
}

/** A name `snapshot save` gives a file (snapshotName): `etcd-snapshot-<member>-<UTC time>.db`. */
const SNAPSHOT_FILE = /^etcd-snapshot-[A-Za-z0-9][A-Za-z0-9.-]*-\d{8}T\d{6}\.\d{3}Z\.db$/;

/** The local file: --output as given, else the name the host's etcdadm gave it, in the directory. Pure. */
export function localSnapshotPath(dest: SnapshotDestination, remoteFile: string): string {
  if (dest.output) return dest.output;
  const name = basename(remoteFile);
  if (!SNAPSHOT_FILE.test(name)) throw new EtcdadmError(`the host's etcdadm saved ${JSON.stringify(remoteFile)}, not a snapshot file name`, { hint: 'install the same etcdadm version on the hosts (etcdadm apply -f puts it there)' });
  return join(dest.dir, name);
}

/** The SHA-256 of a file on the host (`sha256sum` there). */
async function remoteSha256(host: SshHost, path: string): Promise<string> {
  const r = await host.exec('sha256sum', ['--', path], { timeoutMs: 30 * 60_000 });
  const m = /^([0-9a-f]{64})\s/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new EtcdadmError(`cannot read the SHA-256 of ${path} on ${host.name}: ${r.stderr.trim() || `exit ${r.code}`}`, { hint: 'the host needs sha256sum (coreutils)' });
  return m[1]!;
}

/** The host's snapshot `remote` (with its sidecar) to `path` on this machine: streamed, checked, then renamed into place. */
async function copyHere(o: ReadOptions, h: { name: string; host: SshHost }, remote: string, path: string): Promise<SnapshotSidecar> {
  const sidecar = parseSidecar((await h.host.read(sidecarPath(remote))) ?? '');
  if (!sidecar) throw new EtcdadmError(`${h.name} wrote no sidecar beside ${remote}`, { hint: 'install the same etcdadm version on the hosts (etcdadm apply -f puts it there)' });
  const there = await remoteSha256(h.host, remote);
  if (there !== sidecar.sha256) throw new EtcdadmError(`the snapshot on ${h.name} has SHA-256 ${there}, its sidecar says ${sidecar.sha256}`, { hint: 'its disk may be failing: take the snapshot through another host' });
  const local = operatorHost();
  const progress = o.log.withPhase('snapshot').progress(`copy ${path}`);
  const hash = createHash('sha256');
  let bytes = 0;
  let writer: FileWriter | undefined;
  try {
    writer = await local.writeStream(path, { mode: 0o600, exclusive: true });
    const chunks = async function* () {
      for await (const chunk of h.host.readStream(remote)) {
        hash.update(chunk);
        bytes += chunk.length;
        progress.update(bytes, sidecar.size);
        yield chunk;
      }
    };
    await pipeline(Readable.from(chunks()), writer.sink);
    const got = hash.digest('hex');
    if (bytes !== sidecar.size || got !== there) throw new EtcdadmError(`the copy of ${remote} from ${h.name} arrived with ${bytes} bytes and SHA-256 ${got}, not ${sidecar.size} and ${there}`, { hint: 'check the connection, then run it again' });
    await writer.commit();
  } catch (err) {
    await writer?.abort();
    if (err instanceof EtcdadmError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new EtcdadmError(`${path} exists already`, { hint: 'choose another --output; etcdadm never overwrites a snapshot', exitCode: 2, cause: err });
    throw new EtcdadmError(`copying the snapshot from ${h.name} to ${path} failed: ${describe(err)}`, { hint: 'nothing was kept of it here; check the directory and the connection, then run it again', cause: err });
  } finally {
    progress.done();
  }
  await local.write(sidecarPath(path), `${JSON.stringify(sidecar, null, 2)}\n`, { mode: 0o600 });
  return sidecar;
}

/**
 * `etcdadm snapshot save -f`: a snapshot of the first member whose host saves one, copied to this machine (0600,
 * with its sidecar); returns its path here.
 */
export async function saveSnapshotHere(o: ReadOptions & { dir?: string; output?: string; cwd: string }): Promise<string> {
  const dest = snapshotDestination(o, o.cwd);
  const local = operatorHost();
  await prepareSnapshotDir(local, dest.dir);
  if (dest.output && (await local.exists(dest.output))) throw new EtcdadmError(`${dest.output} exists already`, { hint: 'choose another --output; etcdadm never overwrites a snapshot', exitCode: 2 });
  const log = o.log.withPhase('snapshot');
  return withHosts(o, async (hosts) => {
    const attempts: Attempt[] = [];
    for (const h of hosts) {
      if ('attempt' in h) {
        attempts.push(h.attempt);
        continue;
      }
      let tmp: string | undefined;
      try {
        await h.host.mkdir(PATHS.backupDir, 0o700);
        tmp = await h.host.mkdtemp(`${PATHS.backupDir}/.operator-`);
        const dir = tmp;
        const a = await ask(o, 'snapshot', h, ['snapshot', 'save', '--dir', dir], (out) => out.trim().split('\n').pop() || undefined, 60 * 60_000);
        attempts.push(a);
        // its own error was shown as it came
        if (!chooseAnswer([a], { accept: [0] }, false)) continue;
        const remote = String((a as Ran).value);
        if (dirname(remote) !== dir) throw new EtcdadmError(`${h.name} saved its snapshot at ${remote}, not in ${dir}`, { hint: 'install the same etcdadm version on the hosts (etcdadm apply -f puts it there)' });
        const path = localSnapshotPath(dest, remote);
        const sidecar = await copyHere(o, h, remote, path);
        log.info(`Copied the snapshot of member ${sidecar.memberName} from ${h.name} to ${path} (${sidecar.size} bytes, revision ${sidecar.revision}, SHA-256 checked)`);
        return path;
      } catch (err) {
        if (tmp === undefined) {
          attempts.push(unreachable(h.name, err));
          log.warn(`${h.name} saved no snapshot: ${err instanceof EtcdadmError ? err.oneLine() : describe(err)}`);
          continue;
        }
        throw err;
      } finally {
        if (tmp) await h.host.removeTree(tmp).catch((err: unknown) => log.warn(`${h.name}: the temp directory ${tmp} is left there: ${describe(err)}`));
      }
    }
    throw noAnswer(attempts, { accept: [0] }, 'etcdadm snapshot save', o.file);
  });
}
