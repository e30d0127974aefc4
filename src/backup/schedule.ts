/**
 * Scheduled backups, the pure part: the interval grammar (`--every 1h`), the systemd calendar expression that fires
 * at that interval, the randomized delay, where the snapshots go (a structured destination, so that other kinds of
 * destination can be added without changing the record's shape) and the command the service runs.
 *
 * Why OnCalendar= and not OnUnitActiveSec=: `Persistent=true` (a run missed while the host was off happens at the
 * next boot) only works with OnCalendar=; a monotonic timer forgets missed runs. A calendar expression repeats
 * evenly only when the interval divides the next larger unit (`00/15` minutes restarts every hour, `00/6` hours
 * every day), so --every accepts exactly the intervals that do: 1m..30m dividing an hour, 1h..12h dividing a day,
 * 1d and 7d. Anything else is refused before the host changes, naming the nearest accepted values.
 */
import type { S3Location, S3OptionValues } from '../s3/location.js';
import { EtcdadmError } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import { PATHS } from '../config/defaults.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The smallest interval: snapshots more often than once a minute belong to etcd's own WAL, not to backups. */
export const MIN_INTERVAL_MS = MINUTE;

/** `90m`, `1h`, `1h30m`, `2d`: whole numbers of d, h, m, s; undefined when it is not such a duration. */
export const parseInterval = parseDuration;

/** `1h`, `15m`, `1d`, `7d`: the interval as --every takes it. */
export function formatInterval(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY}d`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE}m`;
  return `${ms / 1000}s`;
}

const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];
const ACCEPTED = [...MINUTE_STEPS.map((m) => `${m}m`), ...HOUR_STEPS.map((h) => `${h}h`), '1d', '7d'];
const ACCEPTED_MS = [...MINUTE_STEPS.map((m) => m * MINUTE), ...HOUR_STEPS.map((h) => h * HOUR), DAY, 7 * DAY];

/**
 * The OnCalendar= expression that fires every `ms` at fixed wall-clock times (UTC), or why `ms` cannot be one.
 * Pure. 15m → `*-*-* *:00/15:00 UTC`, 1h → `*-*-* *:00:00 UTC`, 6h → `*-*-* 00/6:00:00 UTC`, 1d → `*-*-* 00:00:00 UTC`,
 * 7d → `Mon *-*-* 00:00:00 UTC`.
 */
export function onCalendarFor(ms: number): { onCalendar: string } | { problem: string } {
  if (!Number.isFinite(ms) || ms <= 0) return { problem: 'must be a positive duration such as 15m, 1h or 1d' };
  if (ms < MIN_INTERVAL_MS) return { problem: `must be at least 1m, got ${formatInterval(ms)}` };
  if (ms % MINUTE === 0 && ms < HOUR && MINUTE_STEPS.includes(ms / MINUTE)) {
    const m = ms / MINUTE;
    return { onCalendar: m === 1 ? '*-*-* *:*:00 UTC' : `*-*-* *:00/${m}:00 UTC` };
  }
  if (ms % HOUR === 0 && ms < DAY && HOUR_STEPS.includes(ms / HOUR)) {
    const h = ms / HOUR;
    return { onCalendar: h === 1 ? '*-*-* *:00:00 UTC' : `*-*-* 00/${h}:00:00 UTC` };
  }
  if (ms === DAY) return { onCalendar: '*-*-* 00:00:00 UTC' };
  if (ms === 7 * DAY) return { onCalendar: 'Mon *-*-* 00:00:00 UTC' };
  const below = [...ACCEPTED_MS].reverse().find((a) => a < ms);
  const above = ACCEPTED_MS.find((a) => a > ms);
  const near = [below, above].filter((x): x is number => x !== undefined).map(formatInterval).join(' or ');
  return {
    problem: `${formatInterval(ms)} does not divide an hour, a day or a week evenly, so no calendar timer repeats at it (Persistent=true needs one)${near ? `; use ${near}` : ''} (accepted: ${ACCEPTED.join(', ')})`,
  };
}

/**
 * RandomizedDelaySec= for an interval: a tenth of it, at most 15 minutes, so that the members of a cluster (each
 * with its own timer at the same calendar times) do not all stream a snapshot in the same second. With
 * FixedRandomDelay=true each host keeps its own offset, so the spacing of one host's runs stays the interval.
 */
export function randomizedDelaySec(ms: number): number {
  return Math.min(15 * 60, Math.floor(ms / 10_000));
}

/**
 * Where the snapshots go: a directory, or a directory (the local copies) and an S3 bucket (endpoint, bucket, prefix,
 * region, path style, a CA file and the credentials FILE PATH, never the credentials themselves). Stored as this
 * object (never as flags); each kind is a member of this union and of the record's schema.
 */
export type BackupDestination = { kind: 'local'; dir: string } | { kind: 's3'; dir: string; s3: S3Location };

/** A schedule as validated input: what `backup schedule` installs and the host record keeps. */
export interface BackupSpec {
  /** As given, normalized (`60m` → `1h`). */
  every: string;
  intervalMs: number;
  keep: number;
  destination: BackupDestination;
  onCalendar: string;
  randomizedDelaySec: number;
}

export interface ScheduleInput {
  every?: unknown;
  keep?: unknown;
  dir?: unknown;
}

/** The configuration's backup.s3* fields as the --s3-* options ('' and false: not given). Pure. */
export function s3OptionsOfSettings(b: { s3Endpoint: string; s3Bucket: string; s3Prefix: string; s3Region: string; s3PathStyle: boolean; s3CaFile: string; s3AllowHTTP: boolean; s3CredentialsFile: string }): S3OptionValues {
  const given = (x: string) => (x === '' ? undefined : x);
  return {
    s3Endpoint: given(b.s3Endpoint),
    s3Bucket: given(b.s3Bucket),
    s3Prefix: given(b.s3Prefix),
    s3Region: given(b.s3Region),
    s3PathStyle: b.s3PathStyle || undefined,
    s3CaFile: given(b.s3CaFile),
    s3AllowHttp: b.s3AllowHTTP || undefined,
    s3CredentialsFile: given(b.s3CredentialsFile),
  };
}

/** The backup settings a schedule stands for (what the record's settings keep, and `config view` shows). Pure. */
export function backupSettingsOf(spec: Pick<BackupSpec, 'every' | 'keep' | 'destination'>) {
  const s3 = spec.destination.kind === 's3' ? spec.destination.s3 : undefined;
  return {
    every: spec.every,
    keep: spec.keep,
    dir: spec.destination.dir,
    s3Endpoint: s3?.endpoint ?? '',
    s3Bucket: s3?.bucket ?? '',
    s3Prefix: s3?.prefix ?? '',
    s3Region: s3?.region ?? '',
    s3PathStyle: s3?.pathStyle ?? false,
    s3CaFile: s3?.caFile ?? '',
    s3AllowHTTP: s3?.allowHttp ?? false,
    s3CredentialsFile: s3?.credentialsFile ?? '',
  };
}

const invalid = (what: string, value: unknown, why: string) =>
  new EtcdadmError(`invalid ${what} ${JSON.stringify(String(value))}: ${why}`, { hint: "run 'etcdadm backup schedule --help' for the accepted values; nothing was changed", exitCode: 2 });

/**
 * The schedule from flags laid over the configuration's `backup` section (`flags` wins field by field), validated
 * (exit code 2, before anything changes). Pure.
 */
export function resolveSchedule(flags: ScheduleInput, config: { every: string; keep: number; dir: string }, s3?: S3Location): BackupSpec {
  const everyText = flags.every ?? (config.every || undefined);
  if (everyText === undefined || everyText === '')
    throw new EtcdadmError('backup schedule needs --every (or backup.every in --config): how often to take a snapshot, such as 1h', { hint: "run 'etcdadm backup schedule --help'", exitCode: 2 });
  const what = flags.every !== undefined ? '--every' : 'backup.every';
  const ms = typeof everyText === 'string' ? parseInterval(everyText) : undefined;
  if (ms === undefined) throw invalid(what, everyText, 'must be a duration such as 15m, 1h, 6h or 1d');
  const cal = onCalendarFor(ms);
  if ('problem' in cal) throw invalid(what, everyText, cal.problem);
  const keepRaw = flags.keep ?? config.keep;
  const keep = typeof keepRaw === 'number' ? keepRaw : /^\d+$/.test(String(keepRaw)) ? Number(keepRaw) : NaN;
  if (!Number.isSafeInteger(keep) || keep < 1) throw invalid(flags.keep !== undefined ? '--keep' : 'backup.keep', keepRaw, 'must be a whole number of at least 1');
  const dirRaw = flags.dir ?? config.dir;
  const dir = String(dirRaw);
  if (!dir.startsWith('/') || /[\0\n\s]/.test(dir)) throw invalid(flags.dir !== undefined ? '--dir' : 'backup.dir', dirRaw, 'must be an absolute path without spaces');
  if (s3 && !s3.credentialsFile)
    throw new EtcdadmError('a scheduled upload to S3 needs --s3-credentials-file: the timer\'s service gets no AWS_* variables', { hint: 'write the credentials to a 0600 file and pass its path; nothing was changed', exitCode: 2 });
  const local = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  return {
    every: formatInterval(ms),
    intervalMs: ms,
    keep,
    destination: s3 ? { kind: 's3', dir: local, s3 } : { kind: 'local', dir: local },
    onCalendar: cal.onCalendar,
    randomizedDelaySec: randomizedDelaySec(ms),
  };
}

/** The systemd unit names and files of the schedule (fixed: one schedule per host). */
export const BACKUP_UNITS = {
  service: 'etcdadm-backup.service',
  timer: 'etcdadm-backup.timer',
  serviceFile: `${PATHS.unitDir}/etcdadm-backup.service`,
  timerFile: `${PATHS.unitDir}/etcdadm-backup.timer`,
} as const;
