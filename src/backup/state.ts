/**
 * The outcome of scheduled backups, kept in a small state file (PATHS.backupStateFile, JSON, 0600, written
 * atomically by each run): the last success (time, snapshot path, revision, size, what prune removed) and the last
 * failure (time and its one-line error). Not in the host record: the record says what was set up here and changes
 * only when an operator changes the setup; this file changes at every run of the timer.
 *
 * `backupHealth` is the pure decision behind `etcdadm backup status` and its exit code.
 */
import { EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';

export const STATE_API_VERSION = 'etcdadm.io/v1alpha1';
export const STATE_KIND = 'BackupState';

export interface BackupSuccess {
  /** When the run ended (ISO 8601, UTC). */
  time: string;
  snapshot: string;
  revision: number;
  size: number;
  /** Snapshots the run's prune removed. */
  pruned: number;
}

export interface BackupFailure {
  time: string;
  /** The run's one-line error. */
  error: string;
}

export interface BackupState {
  apiVersion: typeof STATE_API_VERSION;
  kind: typeof STATE_KIND;
  /** The snapshot the last run saved (also when a later step of that run failed). */
  lastSnapshot?: Omit<BackupSuccess, 'pruned'>;
  lastSuccess?: BackupSuccess;
  lastFailure?: BackupFailure;
}

const EMPTY: BackupState = { apiVersion: STATE_API_VERSION, kind: STATE_KIND };

/** The state file; an absent one is the empty state, an unreadable one is an error naming the file. */
export async function readBackupState(host: Host, path: string): Promise<BackupState> {
  const text = await host.read(path);
  if (text === undefined) return { ...EMPTY };
  try {
    const o = JSON.parse(text) as BackupState;
    if (o.kind !== STATE_KIND) throw new Error(`kind is ${JSON.stringify(o.kind)}, not ${STATE_KIND}`);
    return o;
  } catch (err) {
    throw new EtcdadmError(`the backup state file ${path} is unusable: ${(err as Error).message}`, { hint: `remove ${path}; the next run writes it again` });
  }
}

/** Lay `change` over the state file (atomic, 0600). */
export async function updateBackupState(host: Host, path: string, change: Partial<Omit<BackupState, 'apiVersion' | 'kind'>>): Promise<BackupState> {
  const prev = await readBackupState(host, path).catch(() => ({ ...EMPTY }));
  const next: BackupState = { ...prev, ...change, apiVersion: STATE_API_VERSION, kind: STATE_KIND };
  await host.write(path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
  return next;
}

/** An error as the one line the state file keeps. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim().slice(0, 500);
}

export type BackupHealthState = 'ok' | 'pending' | 'failed' | 'stale' | 'never' | 'unscheduled';

export interface BackupHealth {
  state: BackupHealthState;
  /** 0 when backups are as they should be; EXIT_BACKUP_UNHEALTHY otherwise. */
  exitCode: number;
  /** What is wrong, in one line; undefined when ok. */
  problem?: string;
}

/** `backup status` exit code when backups are not as they should be (failed, stale, never succeeded, no schedule). */
export const EXIT_BACKUP_UNHEALTHY = 3;

export interface HealthInput {
  /** The recorded schedule; undefined when none is installed. */
  schedule?: { intervalMs: number; installedAt: string };
  state: Pick<BackupState, 'lastSuccess' | 'lastFailure'>;
  now: Date;
}

const ago = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
};

/** How long ago, for people: `42s`, `17m`, `5h`, `3d`. */
export const humanAge = ago;

/**
 * Whether scheduled backups are healthy. Pure. Unhealthy (exit 3): no schedule; the last run failed (a failure newer
 * than the last success); the last success is older than two intervals; no success at all while the schedule has
 * been installed for more than two intervals. A schedule younger than that without a run yet is `pending` (exit 0).
 */
export function backupHealth(input: HealthInput): BackupHealth {
  const { schedule, state, now } = input;
  if (!schedule) return { state: 'unscheduled', exitCode: EXIT_BACKUP_UNHEALTHY, problem: "no backup schedule on this host (see 'etcdadm backup schedule')" };
  const t = (iso: string) => Date.parse(iso);
  const success = state.lastSuccess;
  const failure = state.lastFailure;
  if (failure && (!success || t(failure.time) >= t(success.time)))
    return { state: 'failed', exitCode: EXIT_BACKUP_UNHEALTHY, problem: `the last backup failed at ${failure.time}: ${failure.error}` };
  const limit = 2 * schedule.intervalMs;
  if (success) {
    const age = now.getTime() - t(success.time);
    if (age > limit) return { state: 'stale', exitCode: EXIT_BACKUP_UNHEALTHY, problem: `the last successful backup is ${ago(age)} old, more than two intervals (${ago(limit)})` };
    return { state: 'ok', exitCode: 0 };
  }
  const since = now.getTime() - t(schedule.installedAt);
  if (since > limit) return { state: 'never', exitCode: EXIT_BACKUP_UNHEALTHY, problem: `no backup has succeeded since the schedule was installed ${ago(since)} ago (more than two intervals, ${ago(limit)})` };
  return { state: 'pending', exitCode: 0 };
}
