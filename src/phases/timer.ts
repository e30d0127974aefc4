/**
 * The systemd timers etcdadm installs (scheduled backups, certificate renewal, the rolling defrag), the acts they share:
 * write the oneshot service and its timer, enable the timer (restarted when it ran already, so that a changed
 * calendar counts now), and stop, disable and remove both. Idempotent.
 */
import type { SystemdTimers } from '../initsystem/index.js';
import type { PhaseContext } from '../run/context.js';

/** A timer and the oneshot service it starts. */
export interface TimerUnits {
  service: string;
  timer: string;
  serviceFile: string;
  timerFile: string;
}

export const timersOf = (ctx: PhaseContext): SystemdTimers => ctx.timers;

/** Enable and start the timer; restarted when it was active, so that a changed OnCalendar= takes effect now. */
export async function enableTimer(ctx: PhaseContext, units: TimerUnits): Promise<void> {
  const t = timersOf(ctx);
  const before = await t.state(units.timer);
  await t.enableNow(units.timer, before.active === 'active');
  const after = await t.state(units.timer);
  ctx.log.info(`${units.timer} is ${after.enabled} and ${after.active}${after.nextElapse ? `; next run ${after.nextElapse}` : ''}`);
}

/** Whether either unit file is installed. */
export async function timerInstalled(ctx: PhaseContext, units: TimerUnits): Promise<boolean> {
  return (await Promise.all([units.timerFile, units.serviceFile].map((p) => ctx.host.exists(p)))).some(Boolean);
}

/** Stop and disable both units (when installed), remove their files, daemon-reload; the files removed. */
export async function removeTimer(ctx: PhaseContext, units: TimerUnits): Promise<string[]> {
  const t = timersOf(ctx);
  if (await timerInstalled(ctx, units)) await t.disableNow([units.timer, units.service]);
  return t.removeFiles([units.timerFile, units.serviceFile]);
}
