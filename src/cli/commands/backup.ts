/**
 * `etcdadm backup schedule|unschedule|run|status`: snapshots of the local member on a systemd timer. schedule,
 * unschedule and run are phase lists on the runner (src/phases/backup.ts); status only reads (the host record, the
 * state file, systemd's view of the timer) and judges with a pure decision (src/backup/state.ts), exit code 3 when
 * backups are not as they should be.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { BACKUP_UNITS, parseInterval, resolveSchedule, s3OptionsOfSettings } from '../../backup/schedule.js';
import type { Plan } from '../../config/types.js';
import { backupHealth, humanAge, oneLine, readBackupState, updateBackupState } from '../../backup/state.js';
import { PATHS } from '../../config/defaults.js';
import { loadConfigLayer } from '../../config/file.js';
import { systemdTimers } from '../../initsystem/index.js';
import { BACKUP_RUN_PHASES, BACKUP_SCHEDULE_PHASES, BACKUP_UNSCHEDULE_PHASES, type BackupScheduleOptions } from '../../phases/backup.js';
import { openS3 } from '../../phases/snapshot.js';
import { memberEndpoints } from '../../run/context.js';
import { s3LocationFrom, s3Options, s3Url } from '../../s3/location.js';
import { action, type Invocation } from '../command.js';
import { workflowCommand } from '../workflow.js';
import { stdout } from '../context.js';
import { configOption } from '../flags.js';
import { OUTPUT_FORMATS, render, renderPairs, type OutputFormat } from '../output.js';

/** backup schedule's options: --every/--keep/--dir and the bucket over the configuration's backup section (file, then record); the bucket checked now. */
async function scheduleOptions(inv: Invocation, plan: Plan): Promise<BackupScheduleOptions> {
  const file = typeof inv.opts.config === 'string' ? (await loadConfigLayer(inv.opts.config, { onWarning: (w) => inv.log.warn(w) })).values.backup : undefined;
  const config = { ...plan.settings.backup, ...file };
  // the bucket: --s3-* flags, else the configuration's backup.s3* (file, then record); --no-s3: none
  const s3 = inv.opts.s3 === false ? undefined : (s3LocationFrom(inv.opts) ?? s3LocationFrom(s3OptionsOfSettings(config)));
  const spec = resolveSchedule({ every: inv.opts.every, keep: inv.opts.keep, dir: inv.opts.dir }, config, s3);
  if (s3 && inv.opts.dryRun !== true) {
    // the bucket answers to the credentials file now, not first at the timer's next run
    const store = await openS3(s3);
    store.close();
    inv.log.info(`Bucket ${s3.bucket} at ${s3.endpoint} answers; each scheduled snapshot is uploaded there (${s3Url(s3, s3.prefix)}) and pruned there too`);
  }
  return { spec: { ...spec, command: await inv.host.etcdadmCommand() } };
}

function scheduleSubcommand(): Command<any, any, any> {
  const cmd = new Command('schedule').description('Take a snapshot of the local member on a systemd timer, keeping the newest N (re-run to change it)');
  workflowCommand<BackupScheduleOptions>(cmd, {
    name: 'backup schedule',
    set: 'ops',
    phases: BACKUP_SCHEDULE_PHASES,
    useRecord: true,
    rollback: true,
    options: scheduleOptions,
    contextEndpoints: memberEndpoints,
    extraOptions: () => [
      new Option('--every <interval>', 'how often: 1m-30m dividing an hour, 1h-12h dividing a day, 1d or 7d (or backup.every in --config)'),
      new Option('--keep <n>', 'how many of the newest snapshots stay (default: backup.keep, 24)'),
      new Option('--dir <dir>', `the snapshot directory (default: backup.dir, ${PATHS.backupDir})`),
      configOption(),
      ...s3Options(),
      new Option('--no-s3', 'upload nowhere: drop an S3 destination the record or --config names'),
    ],
    example: `Installs ${BACKUP_UNITS.timerFile} (OnCalendar= at the interval, Persistent=true, a randomized delay) and
${BACKUP_UNITS.serviceFile} (oneshot: this etcdadm's 'backup run': snapshot save, then prune, the outcome in
${PATHS.backupStateFile}). The schedule is kept in the host record; flags override a --config file's backup section.

Example:
  etcdadm backup schedule --every 1h --keep 24
  etcdadm backup schedule --every 15m --keep 96 --dir /srv/etcd-backups
  etcdadm backup schedule --every 1h --keep 48 --s3-endpoint https://minio.example:9000 --s3-bucket etcd \\
      --s3-prefix prod/ --s3-credentials-file /etc/etcd/s3.env     # a local copy stays in --dir as well
`,
  });
  return cmd;
}

function unscheduleSubcommand(): Command<any, any, any> {
  const cmd = new Command('unschedule').description('Remove the backup timer and its service (the snapshots stay)');
  workflowCommand<Record<string, never>>(cmd, {
    name: 'backup unschedule',
    set: 'ops',
    phases: BACKUP_UNSCHEDULE_PHASES,
    useRecord: true,
    rollback: true,
    options: () => ({}),
    contextEndpoints: memberEndpoints,
    example: 'Example:\n  etcdadm backup unschedule\n',
  });
  return cmd;
}

/** A failed run is recorded in the state file before it is reported (what backup status judges). */
async function recordFailure(inv: Invocation, err: unknown): Promise<void> {
  if (!inv.record.facts?.backup) return;
  await updateBackupState(inv.host, PATHS.backupStateFile, { lastFailure: { time: new Date().toISOString(), error: oneLine(err) } }).catch((e: unknown) =>
    inv.log.warn(`could not record the failure in ${PATHS.backupStateFile}: ${oneLine(e)}`),
  );
}

function runSubcommand(): Command<any, any, any> {
  const cmd = new Command('run').description("One scheduled backup now, as the timer's service runs it: snapshot save, then prune; the outcome recorded");
  workflowCommand<Record<string, never>>(cmd, {
    name: 'backup run',
    set: 'ops',
    phases: BACKUP_RUN_PHASES,
    useRecord: true,
    // save commits (a whole snapshot is kept); the failure is recorded in the state file either way
    rollback: true,
    options: () => ({}),
    contextEndpoints: memberEndpoints,
    onFailure: recordFailure,
    example: `The outcome (last success with its snapshot, or the failure's one-line error) goes to ${PATHS.backupStateFile}.\n\nExample:\n  etcdadm backup run\n  systemctl start ${BACKUP_UNITS.service}\n`,
  });
  return cmd;
}

export interface BackupStatusReport {
  scheduled: boolean;
  schedule: { every: string; keep: number; destination: { kind: string; dir: string; s3?: { bucket: string; prefix: string; endpoint: string } }; onCalendar: string; randomizedDelaySec: number; installedAt: string; command: string[] } | null;
  timer: { unit: string; enabled: string; active: string; nextRun: string | null; lastTrigger: string | null } | null;
  lastSuccess: { time: string; ageSeconds: number; snapshot: string; revision: number; size: number; pruned: number } | null;
  lastFailure: { time: string; error: string } | null;
  health: string;
  problem: string | null;
}

function statusText(r: BackupStatusReport): string {
  if (!r.schedule) return `schedule      none\nhealth        ${r.health}: ${r.problem ?? ''}`;
  const s = r.schedule;
  const rows: [string, string][] = [
    ['schedule', `every ${s.every} (OnCalendar=${s.onCalendar}, RandomizedDelaySec=${s.randomizedDelaySec}), keep ${s.keep}, into ${s.destination.dir}${s.destination.s3 ? ` and s3://${s.destination.s3.bucket}/${s.destination.s3.prefix} at ${s.destination.s3.endpoint}` : ''}`],
    ['installed', s.installedAt],
    ['timer', r.timer ? `${r.timer.unit} ${r.timer.enabled}, ${r.timer.active}` : '-'],
    ['next run', r.timer?.nextRun ?? '-'],
    ['last success', r.lastSuccess ? `${r.lastSuccess.time} (${humanAge(r.lastSuccess.ageSeconds * 1000)} ago) ${r.lastSuccess.snapshot}` : 'never'],
    ['last failure', r.lastFailure ? `${r.lastFailure.time}: ${r.lastFailure.error}` : 'none'],
    ['health', r.problem ? `${r.health}: ${r.problem}` : r.health],
  ];
  return renderPairs(rows);
}

function statusSubcommand(): Command<any, any, any> {
  const cmd = new Command('status')
    .description('The backup schedule, the last success and its age, the last failure and the next run')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table'));
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 backups as they should be (or a new schedule that has not run yet); 1 the check could not run;
3 the last run failed, the last success is older than two intervals, no success in the two intervals since the
schedule was installed, or no schedule here.

Example:
  etcdadm backup status
  etcdadm backup status -o json
`,
  );
  cmd.action(
    action(
      async (inv) => {
        const b = inv.record.facts?.backup;
        const now = new Date();
        const state = await readBackupState(inv.host, PATHS.backupStateFile);
        const timer = b ? await systemdTimers(inv.host).state(BACKUP_UNITS.timer) : undefined;
        const intervalMs = b ? parseInterval(b.every) : undefined;
        const health = backupHealth({ ...(b && intervalMs ? { schedule: { intervalMs, installedAt: b.installedAt } } : {}), state, now });
        const ok = state.lastSuccess;
        const report: BackupStatusReport = {
          scheduled: b !== undefined,
          schedule: b ? { every: b.every, keep: b.keep, destination: b.destination, onCalendar: b.onCalendar, randomizedDelaySec: b.randomizedDelaySec, installedAt: b.installedAt, command: b.command } : null,
          timer: timer ? { unit: BACKUP_UNITS.timer, enabled: timer.enabled, active: timer.active, nextRun: timer.nextElapse ?? null, lastTrigger: timer.lastTrigger ?? null } : null,
          lastSuccess: ok ? { time: ok.time, ageSeconds: Math.round((now.getTime() - Date.parse(ok.time)) / 1000), snapshot: ok.snapshot, revision: ok.revision, size: ok.size, pruned: ok.pruned } : null,
          lastFailure: state.lastFailure ?? null,
          health: health.state,
          problem: health.problem ?? null,
        };
        stdout(render(report, String(inv.opts.output) as OutputFormat, statusText));
        if (health.problem) inv.log.warn(health.problem);
        process.exitCode = health.exitCode;
      },
      { record: true },
    ),
  );
  return cmd;
}

export function backupCommand(): Command<any, any, any> {
  const cmd = new Command('backup');
  for (const c of [scheduleSubcommand(), unscheduleSubcommand(), runSubcommand(), statusSubcommand()]) cmd.addCommand(c);
  cmd.addHelpText('after', '\nExample:\n  etcdadm backup schedule --every 1h --keep 24\n  etcdadm backup status\n  etcdadm backup unschedule\n');
  return cmd;
}
