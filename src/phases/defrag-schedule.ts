/**
 * The rolling defrag on a systemd timer, as phase lists on the runner:
 *
 *   defrag --schedule 1d [--threshold 20%]   preflight (a member set up by etcdadm here, systemd runs here), timer
 *                                            (etcdadm-defrag.service and .timer written, the timer enabled and
 *                                            started, the schedule recorded with the settings defrag.every and
 *                                            defrag.threshold). Re-running with other values replaces the units.
 *   defrag --unschedule                      timer (stopped, disabled, removed; the record entry removed)
 *   init, join with defrag.every             defrag-timer: installed as --schedule installs it
 *
 * The service runs `etcdadm defrag --all --threshold T --scheduled`: the rolling defrag of src/phases/maintenance.ts
 * over the whole cluster, from this host. One run per cluster at a time, however many hosts have the timer: a run
 * that has members to defragment takes the cluster-wide lock in etcd first (src/cluster/lock.ts: a key under
 * /etcdadm/locks/ created by a Txn only while absent, on a lease kept alive by the run), and a scheduled run that
 * finds it held by another host logs which one and exits 0. The timer may therefore be armed on several hosts (so it
 * survives the loss of one); the interval grammar and the calendar are the scheduled backups' (src/backup/schedule.ts).
 */
import { formatInterval, onCalendarFor, parseInterval, randomizedDelaySec } from '../backup/schedule.js';
import { PATHS } from '../config/defaults.js';
import { EtcdadmError } from '../errors.js';
import type { DefragScheduleRecord } from '../host/record.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { renderOneshotService, renderTimer } from '../service/render.js';
import { parseThreshold } from '../util/share.js';
import { enableTimer, removeTimer, timerInstalled, timersOf, type TimerUnits } from './timer.js';

export const DEFRAG_UNITS: TimerUnits = {
  service: 'etcdadm-defrag.service',
  timer: 'etcdadm-defrag.timer',
  serviceFile: `${PATHS.unitDir}/etcdadm-defrag.service`,
  timerFile: `${PATHS.unitDir}/etcdadm-defrag.timer`,
};

/** The defrag command's options these phases read: the validated schedule (--schedule). */
export interface DefragScheduleOptions {
  schedule?: DefragScheduleSpec;
}

/** A defrag schedule as validated input. */
export interface DefragScheduleSpec {
  /** Normalized (`24h` → `1d`). */
  every: string;
  /** Normalized (`0.3` → `30%`). */
  threshold: string;
  onCalendar: string;
  randomizedDelaySec: number;
}

/** `0.2` → `20%` (what --threshold and defrag.threshold take back). Pure. */
export function formatThreshold(share: number): string {
  return `${Number((share * 100).toFixed(2))}%`;
}

const invalid = (what: string, value: unknown, why: string) =>
  new EtcdadmError(`invalid ${what} ${JSON.stringify(String(value))}: ${why}`, { hint: "run 'etcdadm defrag --help' for the accepted values; nothing was changed", exitCode: 2 });

/** The schedule from the flags laid over the configuration's defrag section, validated (exit code 2). Pure. */
export function resolveDefragSchedule(flags: { every?: string; threshold?: string }, config: { every: string; threshold: string }): DefragScheduleSpec {
  const everyText = flags.every ?? (config.every || undefined);
  if (everyText === undefined || everyText === '')
    throw new EtcdadmError('defrag --schedule needs an interval (or defrag.every in the configuration), such as 1d', { hint: "run 'etcdadm defrag --help'", exitCode: 2 });
  const what = flags.every !== undefined ? '--schedule' : 'defrag.every';
  const ms = parseInterval(everyText);
  if (ms === undefined) throw invalid(what, everyText, 'must be a duration such as 1h, 6h, 1d or 7d');
  const cal = onCalendarFor(ms);
  if ('problem' in cal) throw invalid(what, everyText, cal.problem);
  const thresholdText = flags.threshold ?? config.threshold;
  const share = parseThreshold(thresholdText);
  if (share === undefined) throw invalid(flags.threshold !== undefined ? '--threshold' : 'defrag.threshold', thresholdText, 'a share of the file that is free, such as 20% (0% to 99%)');
  return { every: formatInterval(ms), threshold: formatThreshold(share), onCalendar: cal.onCalendar, randomizedDelaySec: randomizedDelaySec(ms) };
}

/** What the service runs after the etcdadm command line. Pure. */
export function defragArgs(threshold: string): string[] {
  return ['defrag', '--all', '--threshold', threshold, '--scheduled'];
}

/** The unit files of the timer (pure). */
export function defragUnitFiles(spec: DefragScheduleSpec, command: readonly string[], etcdUnit?: string): { path: string; text: string }[] {
  return [
    {
      path: DEFRAG_UNITS.serviceFile,
      // no threshold in Description=: a % there is a systemd specifier
      text: renderOneshotService({ description: "Rolling defrag of the etcd cluster's fragmented members, one run per cluster at a time (managed by etcdadm)", argv: [...command, ...defragArgs(spec.threshold)], ...(etcdUnit ? { etcdUnit } : {}) }),
    },
    {
      path: DEFRAG_UNITS.timerFile,
      text: renderTimer({ description: `Rolling defrag of the etcd cluster every ${spec.every} (managed by etcdadm)`, onCalendar: spec.onCalendar, randomizedDelaySec: spec.randomizedDelaySec, serviceUnit: DEFRAG_UNITS.service }),
    },
  ];
}

/** The record entry; an unchanged one keeps its installedAt. Pure. */
export function defragScheduleRecord(spec: DefragScheduleSpec, command: string[], prev: DefragScheduleRecord | undefined, now: Date): DefragScheduleRecord {
  const next = { every: spec.every, threshold: spec.threshold, onCalendar: spec.onCalendar, randomizedDelaySec: spec.randomizedDelaySec, command };
  const same = prev && JSON.stringify({ ...prev, installedAt: '' }) === JSON.stringify({ ...next, installedAt: '' });
  return { ...next, installedAt: same ? prev.installedAt : now.toISOString() };
}

/** Write the units, enable the timer, record it with its settings (--schedule, and init/join with defrag.every). */
async function installDefragTimer(ctx: PhaseContext, spec: DefragScheduleSpec): Promise<void> {
  const command = await ctx.host.etcdadmCommand();
  const etcdUnit = ctx.plan.service.initSystem === 'systemd' ? ctx.plan.service.unitName : undefined;
  await timersOf(ctx).install(defragUnitFiles(spec, command, etcdUnit));
  ctx.log.info(`Wrote ${DEFRAG_UNITS.serviceFile} (${defragArgs(spec.threshold).join(' ')}) and ${DEFRAG_UNITS.timerFile} (OnCalendar=${spec.onCalendar}, RandomizedDelaySec=${spec.randomizedDelaySec})`);
  await enableTimer(ctx, DEFRAG_UNITS);
  const defrag = defragScheduleRecord(spec, command, ctx.record.facts?.defrag, new Date());
  await ctx.record.update({ defrag, settings: { ...ctx.plan.settings, defrag: { every: spec.every, threshold: spec.threshold } } });
  ctx.log.info(
    `Every ${spec.every} the members with more than ${spec.threshold} of their file free are defragmented, one at a time, the leader last; one run per cluster at a time (other hosts with this timer skip while one runs); see 'systemctl list-timers ${DEFRAG_UNITS.timer}'`,
  );
}

/** init/join preflight and --schedule: the timer needs systemd. */
export async function checkDefragSchedule(ctx: PhaseContext, why: string): Promise<void> {
  if (!(await timersOf(ctx).available()))
    throw new EtcdadmError(`${why}, but systemd does not run this host: the scheduled defrag is a systemd timer`, {
      hint: "run 'etcdadm defrag --all --scheduled' at intervals another way (cron), or leave defrag.every empty",
      exitCode: 2,
    });
}

function specOf(ctx: PhaseContext<DefragScheduleOptions>): DefragScheduleSpec {
  const spec = ctx.options.schedule;
  if (!spec) throw new EtcdadmError('defrag --schedule: no interval given', { exitCode: 2 });
  return spec;
}

const schedulePreflight: Phase<DefragScheduleOptions> = phase<undefined, undefined, DefragScheduleOptions>({
  name: 'preflight',
  short: 'Check that this host has a member set up by etcdadm and that systemd runs it',
  async act(ctx) {
    specOf(ctx);
    if (!ctx.record.exists || ctx.record.derivedFrom)
      throw new EtcdadmError(`this host has no etcd member set up by etcdadm (no ${ctx.record.path})`, {
        hint: ctx.record.derivedFrom ? "run 'etcdadm adopt' first, which writes the record" : 'run etcdadm init or join first',
      });
    await checkDefragSchedule(ctx, 'defrag --schedule');
  },
});

const scheduleTimer: Phase<DefragScheduleOptions> = phase<undefined, undefined, DefragScheduleOptions>({
  name: 'timer',
  short: `Write ${DEFRAG_UNITS.service} (oneshot: defrag --all --scheduled) and ${DEFRAG_UNITS.timer}, enable it, record it`,
  act: (ctx) => installDefragTimer(ctx, specOf(ctx)),
});

export const DEFRAG_SCHEDULE_PHASES: readonly Phase<DefragScheduleOptions>[] = [schedulePreflight, scheduleTimer];

/** Stop, disable and remove the defrag timer and its service; idempotent. Also reset's. */
export function removeDefragTimer(ctx: PhaseContext): Promise<string[]> {
  return removeTimer(ctx, DEFRAG_UNITS);
}

const unscheduleTimer: Phase<DefragScheduleOptions> = phase<undefined, undefined, DefragScheduleOptions>({
  name: 'timer',
  short: `Stop, disable and remove ${DEFRAG_UNITS.timer} and its service; remove it from the record`,
  async act(ctx) {
    if (!(await timerInstalled(ctx, DEFRAG_UNITS))) ctx.log.info('No defrag timer is installed here');
    for (const f of await removeDefragTimer(ctx)) ctx.log.info(`Removed ${f}`);
    if (ctx.record.exists && !ctx.record.derivedFrom && (ctx.record.facts?.defrag || ctx.plan.settings.defrag.every))
      await ctx.record.update({ endDefrag: true, settings: { ...ctx.plan.settings, defrag: { ...ctx.plan.settings.defrag, every: '' } } });
  },
});

export const DEFRAG_UNSCHEDULE_PHASES: readonly Phase<DefragScheduleOptions>[] = [unscheduleTimer];

/** init and join: with defrag.every in the configuration, the timer is installed as --schedule installs it. */
export const defragTimerPhase: Phase = phase<undefined, undefined>({
  name: 'defrag-timer',
  short: 'Install the rolling defrag timer the configuration asks for (defrag.every), as defrag --schedule does',
  runIf: (ctx) => (ctx.plan.settings.defrag.every ? true : 'no defrag.every in the configuration'),
  act: (ctx) => installDefragTimer(ctx, resolveDefragSchedule({}, ctx.plan.settings.defrag)),
});
