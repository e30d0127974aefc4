/**
 * Scheduled backups as phase lists on the runner:
 *
 *   backup schedule    preflight (systemd runs here, this host has a member set up by etcdadm), units (the oneshot
 *                      service and the timer written, daemon-reload), enable (the timer enabled and started;
 *                      restarted when it ran already, so a changed calendar counts now), record (the schedule in the
 *                      host record). Re-running with other values replaces the units: the same end state.
 *   backup unschedule  stop (timer and service disabled and stopped), remove (unit files, daemon-reload), record
 *                      (the record's entry and the state file removed).
 *   backup run         what the timer's service runs: preflight (a schedule is recorded, its directory writable),
 *                      save (a snapshot of the local member, as `snapshot save`), prune (the newest `keep` stay, as
 *                      `snapshot prune`), each recording what it proved in the state file; a failure of any phase
 *                      is recorded there by the command (src/cli/commands/backup.ts) before it exits non-zero.
 *
 * One `backup run` per timer tick instead of two ExecStart= lines: the outcome (last success with its snapshot,
 * last failure with its one-line error) is recorded in one place, atomically, and a prune never runs after a failed
 * save. Destinations are structured (src/backup/schedule.ts); the save phase is where another kind plugs in.
 */
import { dirname, join } from 'node:path';
import { BACKUP_UNITS, backupSettingsOf, resolveSchedule, s3OptionsOfSettings, type BackupSpec } from '../backup/schedule.js';
import { s3LocationFrom } from '../s3/location.js';
import { readBackupState, updateBackupState } from '../backup/state.js';
import { PATHS } from '../config/defaults.js';
import { EtcdadmError } from '../errors.js';
import type { BackupScheduleRecord } from '../host/record.js';
import { enableTimer, removeTimer, timerInstalled, timersOf } from './timer.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { renderBackupService, renderBackupTimer } from '../service/render.js';
import { pruneSnapshots, snapshotName } from '../snapshot/catalog.js';
import { prepareSnapshotDir } from '../snapshot/save.js';
import { pruneStoredSnapshots } from '../snapshot/remote.js';
import { openS3, takeSnapshot, uploadSnapshot } from './snapshot.js';


/** backup schedule's own options: the validated schedule and the etcdadm command line its service runs. */
export interface BackupScheduleOptions {
  spec: BackupSpec & { command: string[] };
}

/** The schedule the options carry; the CLI validated it before the runner started. */
function specOf(ctx: PhaseContext<BackupScheduleOptions>): BackupSpec & { command: string[] } {
  return ctx.options.spec;
}

/** The unit files of a schedule (pure). */
export function backupUnitFiles(spec: Pick<BackupScheduleRecord, 'every' | 'keep' | 'onCalendar' | 'randomizedDelaySec' | 'command'>, etcdUnit?: string): { path: string; text: string }[] {
  const input = { ...spec, serviceUnit: BACKUP_UNITS.service, ...(etcdUnit ? { etcdUnit } : {}) };
  return [
    { path: BACKUP_UNITS.serviceFile, text: renderBackupService(input) },
    { path: BACKUP_UNITS.timerFile, text: renderBackupTimer(input) },
  ];
}

/** The record entry for `spec`; an unchanged schedule keeps its installedAt (so status counts from the first install). Pure. */
export function scheduleRecord(spec: BackupSpec & { command: string[] }, prev: BackupScheduleRecord | undefined, now: Date): BackupScheduleRecord {
  const next: Omit<BackupScheduleRecord, 'installedAt'> = {
    every: spec.every,
    keep: spec.keep,
    destination: spec.destination,
    onCalendar: spec.onCalendar,
    randomizedDelaySec: spec.randomizedDelaySec,
    command: spec.command,
  };
  const same = prev && JSON.stringify({ ...prev, installedAt: '' }) === JSON.stringify({ ...next, installedAt: '' });
  return { ...next, installedAt: same ? prev.installedAt : now.toISOString() };
}

// ------------------------------------------------------------------ schedule

const schedulePreflight: Phase<BackupScheduleOptions> = phase<undefined, undefined, BackupScheduleOptions>({
  name: 'preflight',
  short: 'Check that systemd runs this host and that it has a member set up by etcdadm',
  async act(ctx) {
    specOf(ctx);
    if (!ctx.record.exists)
      throw new EtcdadmError(`this host has no etcd member set up by etcdadm (no ${ctx.record.path})`, { hint: 'run etcdadm init or join first; backups are of the local member' });
    if (!(await timersOf(ctx).available()))
      throw new EtcdadmError('systemd does not run this host: scheduled backups are a systemd timer', { hint: "take snapshots another way (cron: 'etcdadm backup run' needs a recorded schedule, 'etcdadm snapshot save' does not)" });
    const dir = specOf(ctx).destination.dir;
    const st = await ctx.host.stat(dir);
    if (st && st.kind !== 'dir') throw new EtcdadmError(`${dir} exists and is not a directory`, { hint: 'choose another --dir', exitCode: 2 });
  },
});

const scheduleUnits: Phase<BackupScheduleOptions> = phase<undefined, undefined, BackupScheduleOptions>({
  name: 'units',
  short: `Write ${BACKUP_UNITS.service} (oneshot: etcdadm backup run) and ${BACKUP_UNITS.timer}, then daemon-reload`,
  async act(ctx) {
    const spec = specOf(ctx);
    const etcdUnit = ctx.plan.service.initSystem === 'systemd' ? ctx.plan.service.unitName : undefined;
    await timersOf(ctx).install(backupUnitFiles(spec, etcdUnit));
    ctx.log.info(`Wrote ${BACKUP_UNITS.serviceFile} and ${BACKUP_UNITS.timerFile} (OnCalendar=${spec.onCalendar}, RandomizedDelaySec=${spec.randomizedDelaySec})`);
  },
});

const scheduleEnable: Phase<BackupScheduleOptions> = phase<undefined, undefined, BackupScheduleOptions>({
  name: 'enable',
  short: `Enable and start ${BACKUP_UNITS.timer}`,
  act: (ctx) => enableTimer(ctx, BACKUP_UNITS),
});

const scheduleRecordPhase: Phase<BackupScheduleOptions> = phase<undefined, undefined, BackupScheduleOptions>({
  name: 'record',
  short: 'Record the schedule in the host record',
  async act(ctx) {
    const spec = specOf(ctx);
    const backup = scheduleRecord(spec, ctx.record.facts?.backup, new Date());
    const settings = { ...ctx.plan.settings, backup: backupSettingsOf(spec) };
    await ctx.record.update({ backup, settings });
    ctx.log.info(`Snapshots every ${spec.every} into ${spec.destination.dir}, the newest ${spec.keep} kept; see 'etcdadm backup status'`);
  },
});

export const BACKUP_SCHEDULE_PHASES: readonly Phase<BackupScheduleOptions>[] = [schedulePreflight, scheduleUnits, scheduleEnable, scheduleRecordPhase];

// ------------------------------------------------------------------ init and join

/** The schedule a configuration's backup section asks for (backup.every set), or undefined. */
async function configuredSchedule(ctx: PhaseContext): Promise<(BackupSpec & { command: string[] }) | undefined> {
  if (!ctx.plan.settings.backup.every) return undefined;
  const b = ctx.plan.settings.backup;
  return { ...resolveSchedule({}, b, s3LocationFrom(s3OptionsOfSettings(b))), command: await ctx.host.etcdadmCommand() };
}

/** init/join preflight: a configuration that asks for scheduled backups needs systemd here, checked before anything changes. */
export async function checkBackupSchedule(ctx: PhaseContext): Promise<void> {
  const spec = await configuredSchedule(ctx);
  if (!spec) return;
  if (!(await timersOf(ctx).available()))
    throw new EtcdadmError(`backup.every is ${spec.every}, but systemd does not run this host: scheduled backups are a systemd timer`, {
      hint: 'remove the backup section from the configuration (and take snapshots another way), or run this on a systemd host',
      exitCode: 2,
    });
}

/**
 * init and join: with backup.every in the configuration, the schedule is installed as `backup schedule` installs it,
 * right after the member is healthy (a failure rolls the run back like any other: the timer is disabled again).
 */
export const backupPhase: Phase = phase<undefined, undefined>({
  name: 'backup',
  short: 'Install the scheduled backups the configuration asks for (backup.every), as backup schedule does',
  runIf: (ctx) => (ctx.plan.settings.backup.every ? true : 'no backup.every in the configuration'),
  async act(ctx) {
    const spec = (await configuredSchedule(ctx))!;
    const pctx: PhaseContext<BackupScheduleOptions> = { ...ctx, options: { spec } };
    await scheduleUnits.act(pctx, undefined);
    await scheduleEnable.act(pctx, undefined);
    await scheduleRecordPhase.act(pctx, undefined);
  },
});

// ------------------------------------------------------------------ unschedule

/** Stop, disable and remove the timer and its service, and the state file; idempotent. Also reset's. */
export async function removeBackupUnits(ctx: PhaseContext): Promise<string[]> {
  const removed = await removeTimer(ctx, BACKUP_UNITS);
  if (await ctx.host.remove(PATHS.backupStateFile)) removed.push(PATHS.backupStateFile);
  const stateDir = dirname(PATHS.backupStateFile);
  if (((await ctx.host.list(stateDir)) ?? ['x']).length === 0) await ctx.host.removeTree(stateDir);
  return removed;
}

const unscheduleStop: Phase = phase<undefined, undefined>({
  name: 'stop',
  short: `Stop and disable ${BACKUP_UNITS.timer} and ${BACKUP_UNITS.service}`,
  async act(ctx) {
    if (!(await timerInstalled(ctx, BACKUP_UNITS))) {
      ctx.log.info('No backup timer is installed here');
      return;
    }
    await timersOf(ctx).disableNow([BACKUP_UNITS.timer, BACKUP_UNITS.service]);
    ctx.log.info(`Stopped and disabled ${BACKUP_UNITS.timer}`);
  },
});

const unscheduleRemove: Phase = phase<undefined, undefined>({
  name: 'remove',
  short: 'Remove the unit files and the state file, daemon-reload',
  async act(ctx) {
    for (const f of await removeBackupUnits(ctx)) ctx.log.info(`Removed ${f}`);
  },
});

const unscheduleRecord: Phase = phase<undefined, undefined>({
  name: 'record',
  short: 'Remove the schedule from the host record',
  async act(ctx) {
    if (!ctx.record.facts?.backup) return;
    await ctx.record.update({ endBackup: true, settings: { ...ctx.plan.settings, backup: { ...ctx.plan.settings.backup, every: '' } } });
    ctx.log.info(`Removed the schedule from ${ctx.record.path}; the snapshots in ${ctx.record.facts.backup?.destination.dir ?? 'its directory'} stay`);
  },
});

export const BACKUP_UNSCHEDULE_PHASES: readonly Phase[] = [unscheduleStop, unscheduleRemove, unscheduleRecord];

// ------------------------------------------------------------------ run

function recorded(ctx: PhaseContext): BackupScheduleRecord {
  const b = ctx.record.facts?.backup;
  if (!b) throw new EtcdadmError(`no backup schedule is recorded in ${ctx.record.path}`, { hint: "run 'etcdadm backup schedule --every 1h --keep 24' first, or take one snapshot with 'etcdadm snapshot save'", exitCode: 2 });
  return b;
}

const runPreflight: Phase = phase<undefined, undefined>({
  name: 'preflight',
  short: 'Check that a schedule is recorded and its directory can be written, before any streaming',
  async act(ctx) {
    await prepareSnapshotDir(ctx.host, recorded(ctx).destination.dir);
  },
});

const runSave: Phase = phase<undefined, undefined>({
  name: 'save',
  short: 'Save a snapshot of the local member with its sidecar (as snapshot save)',
  commits: 'a whole snapshot is kept, also when the prune after it fails',
  dryRun: (ctx) => {
    const dest = recorded(ctx).destination;
    return [`save a snapshot of ${ctx.plan.member.name} into ${dest.dir} (0600, with its sidecar)${dest.kind === 's3' ? ` and upload both to s3://${dest.s3.bucket}/${dest.s3.prefix}` : ''}; record it in ${PATHS.backupStateFile}`];
  },
  async act(ctx) {
    const dest = recorded(ctx).destination;
    const saved = await takeSnapshot(ctx, ctx.plan.member.urls.localClient, (name) => join(dest.dir, snapshotName(name)));
    if (dest.kind === 's3') {
      const { path, ...sidecar } = saved;
      await uploadSnapshot(ctx, dest.s3, path, sidecar);
    }
    await updateBackupState(ctx.host, PATHS.backupStateFile, { lastSnapshot: { time: saved.time, snapshot: saved.path, revision: saved.revision, size: saved.size } });
    ctx.out(saved.path);
  },
});

const runPrune: Phase = phase<undefined, undefined>({
  name: 'prune',
  short: 'Remove the oldest snapshots in the directory, the newest N kept (as snapshot prune); record the success',
  dryRun: (ctx) => {
    const b = recorded(ctx);
    return [`remove the snapshots in ${b.destination.dir}${b.destination.kind === 's3' ? ` and in s3://${b.destination.s3.bucket}/${b.destination.s3.prefix}` : ''} but the newest ${b.keep} (with the one this run saves); record the success in ${PATHS.backupStateFile}`];
  },
  async act(ctx) {
    const b = recorded(ctx);
    const local = await pruneSnapshots(ctx.host, b.destination.dir, b.keep, ctx.plan.member.name, (e) => ctx.log.info(`Removed ${e.path}`));
    const dest = b.destination;
    if (dest.kind === 's3') {
      const store = await openS3(dest.s3, ctx.host);
      try {
        const r = await pruneStoredSnapshots(store, b.keep, ctx.plan.member.name, (e) => ctx.log.info(`Removed ${e.path}`));
        ctx.log.info(`Kept ${r.kept} snapshot(s) in s3://${dest.s3.bucket}/${dest.s3.prefix}, removed ${r.removed}`);
      } finally {
        store.close();
      }
    }
    const state = await readBackupState(ctx.host, PATHS.backupStateFile);
    const last = state.lastSnapshot;
    if (!last) throw new EtcdadmError(`the state file ${PATHS.backupStateFile} names no snapshot of this run`, { hint: "run 'etcdadm backup run' (save, then prune)" });
    await updateBackupState(ctx.host, PATHS.backupStateFile, { lastSuccess: { ...last, time: new Date().toISOString(), pruned: local.removed } });
    ctx.log.info(`Kept ${local.kept} snapshot(s) in ${b.destination.dir}, removed ${local.removed}`);
  },
});

export const BACKUP_RUN_PHASES: readonly Phase[] = [runPreflight, runSave, runPrune];
