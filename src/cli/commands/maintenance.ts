/**
 * `etcdadm defrag`, `etcdadm alarm list|disarm` and `etcdadm maintain` (NOSPACE recovery): src/phases/maintenance.ts
 * on the one runner, from any member host. They change the cluster's members, not this host: no root, no host lock.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { parseThreshold } from '../../cluster/defrag.js';
import { DEFRAG_LOCK, LOCK_TTL_SEC } from '../../cluster/lock.js';
import type { Plan } from '../../config/types.js';
import { EtcdadmError } from '../../errors.js';
import { DEFRAG_SCHEDULE_PHASES, DEFRAG_UNITS, DEFRAG_UNSCHEDULE_PHASES, resolveDefragSchedule } from '../../phases/defrag-schedule.js';
import { ALARM_DISARM_PHASES, DEFRAG_PHASES, MAINTAIN_PHASES, type AlarmDisarmOptions, type DefragOptions, type MaintainOptions } from '../../phases/maintenance.js';
import { action, type Invocation } from '../command.js';
import { stdout } from '../context.js';
import { OUTPUT_FORMATS, render, type OutputFormat } from '../output.js';
import { clusterChangeCommand } from '../workflow.js';
import { opsOptions, withCluster } from './ops.js';

/** --threshold, else the recorded defrag.threshold (20% unless set at init/join or by defrag --schedule). */
function threshold(inv: Invocation, plan: Plan): number {
  const text = String(inv.opts.threshold ?? plan.settings.defrag.threshold);
  const t = parseThreshold(text);
  if (t === undefined) throw new EtcdadmError(`invalid --threshold "${text}": a share of the file that is free, such as 20% (0% to 99%)`, { exitCode: 2 });
  return t;
}

const thresholdOption = () => new Option('--threshold <share>', 'defragment a member only when more than this share of its file is free (file size − size in use) (default: defrag.threshold, 20%)');
const forceOption = () => new Option('--force', 'go on while a member is down (the healthy members only)');

/** defrag's options: which members, the threshold, --scheduled; with --schedule the validated schedule (exit 2). */
function defragOptions(inv: Invocation, plan: Plan): DefragOptions {
  const base = { all: inv.opts.all === true, force: inv.opts.force === true, scheduled: inv.opts.scheduled === true };
  if (inv.opts.unschedule === true) return { ...base, threshold: 0 };
  if (typeof inv.opts.schedule === 'string') {
    const schedule = resolveDefragSchedule({ every: inv.opts.schedule, ...(typeof inv.opts.threshold === 'string' ? { threshold: inv.opts.threshold } : {}) }, plan.settings.defrag);
    return { ...base, all: true, threshold: parseThreshold(schedule.threshold)!, schedule };
  }
  return { ...base, threshold: threshold(inv, plan) };
}

export function defragCommand(): Command<any, any, any> {
  const cmd = new Command('defrag');
  clusterChangeCommand<DefragOptions>(cmd, {
    requestTimeoutMs: 10_000,
    name: 'defrag',
    phases: DEFRAG_PHASES,
    variants: [
      { flag: 'schedule', name: 'defrag --schedule', phases: DEFRAG_SCHEDULE_PHASES, changesHost: true, rollback: true },
      { flag: 'unschedule', name: 'defrag --unschedule', phases: DEFRAG_UNSCHEDULE_PHASES, changesHost: true, rollback: true },
    ],
    options: defragOptions,
    flags: () => [
      new Option('--all', 'every member, one at a time: followers first, the leader last (leadership moved away first)'),
      thresholdOption(),
      forceOption(),
      new Option('--schedule <interval>', `install ${DEFRAG_UNITS.timer}: the rolling defrag (--all) every <interval> (1m-30m dividing an hour, 1h-12h dividing a day, 1d, 7d) from this host, at --threshold (phases: ${DEFRAG_SCHEDULE_PHASES.map((p) => p.name).join(', ')})`).conflicts(['unschedule', 'all', 'force', 'scheduled']),
      new Option('--unschedule', `remove ${DEFRAG_UNITS.timer} (phases: ${DEFRAG_UNSCHEDULE_PHASES.map((p) => p.name).join(', ')})`).conflicts(['threshold', 'all', 'force', 'scheduled']),
      new Option('--scheduled', "as the timer's service runs it: while another host is running the rolling defrag, say so and exit 0 (without it: refused)"),
    ],
    example: `Defragmentation rewrites a member's database file without its free pages; the member serves no reads or
writes meanwhile, so members go one at a time and each is waited for until it serves again. One defragmentation
runs at a time per cluster: a run takes the lock ${DEFRAG_LOCK} in etcd (a key on a lease it keeps alive; gone
${LOCK_TTL_SEC} s after its host stops) and another host's run is refused meanwhile — or, the timer's, skipped.
--schedule arms a timer for the rolling defrag; arm it on several hosts and one run goes per cluster at a time.

Example:
  etcdadm defrag
  etcdadm defrag --all --threshold 30%
  etcdadm defrag --all --dry-run
  etcdadm defrag --schedule 1d --threshold 20%
  etcdadm defrag --unschedule
`,
  });
  return cmd;
}

export function maintainCommand(): Command<any, any, any> {
  const cmd = new Command('maintain');
  clusterChangeCommand<MaintainOptions>(cmd, {
    requestTimeoutMs: 10_000,
    name: 'maintain',
    phases: MAINTAIN_PHASES,
    options: (inv, plan) => {
      const text = String(inv.opts.retainRevisions ?? '0');
      if (!/^\d+$/.test(text)) throw new EtcdadmError(`invalid --retain-revisions "${text}": a number of revisions (0 or more)`, { exitCode: 2 });
      return { threshold: threshold(inv, plan), force: inv.opts.force === true, retainRevisions: BigInt(text) };
    },
    flags: () => [new Option('--retain-revisions <n>', 'revisions of history the compaction keeps (default: 0, compact at the current revision)'), thresholdOption(), forceOption()],
    example: `etcd's recovery from "mvcc: database space exceeded" (the NOSPACE alarm: every write refused) as one command:
compact the history, defragment every member, check each database is below the quota, disarm NOSPACE. Safe to run
again; with nothing to do it changes nothing.

Example:
  etcdadm maintain --dry-run
  etcdadm maintain
  etcdadm maintain --retain-revisions 1000
`,
  });
  return cmd;
}

export function alarmCommand(): Command<any, any, any> {
  const alarm = new Command('alarm');
  alarm.addHelpText('after', '\nExample:\n  etcdadm alarm list\n  etcdadm alarm disarm\n');
  const list = alarm
    .command('list')
    .description('The active alarms (NOSPACE: the database reached its quota; CORRUPT: a member diverged), by member')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table'));
  for (const o of opsOptions()) list.addOption(o);
  list.addHelpText('after', '\nExample:\n  etcdadm alarm list\n  etcdadm alarm list -o json\n');
  list.action(
    action(
      (inv) =>
        withCluster(inv, async (h) => {
          const [alarms, st] = await Promise.all([h.client.alarms(), h.status()]);
          const rows = alarms
            .filter((a) => a.alarm !== 'NONE')
            .map((a) => ({ member: st.members.find((m) => m.id === a.memberIdHex)?.name ?? '', id: a.memberIdHex, alarm: a.alarm }));
          stdout(render({ alarms: rows }, String(inv.opts.output ?? 'table') as OutputFormat, (d) => (d.alarms.length ? d.alarms.map((r) => `${r.alarm}\t${r.member || r.id}\t${r.id}`).join('\n') : 'no active alarm')));
        }),
      { record: true },
    ),
  );
  clusterChangeCommand<AlarmDisarmOptions>(alarm.command('disarm').description('Disarm the active alarms (all, or one member\'s with --member)'), {
    name: 'alarm disarm',
    phases: ALARM_DISARM_PHASES,
    options: (inv) => (typeof inv.opts.member === 'string' && inv.opts.member ? { member: inv.opts.member } : {}),
    flags: () => [new Option('--member <name-or-id>', "only this member's alarms")],
    example: `Disarming NOSPACE while a database is still at its quota only lets the next write raise it again: run
etcdadm maintain instead, which frees the space first.

Example:
  etcdadm alarm disarm
  etcdadm alarm disarm --member etcd-b
`,
  });
  return alarm;
}

export function monitoringCommand(): Command<any, any, any> {
  const monitoring = new Command('monitoring');
  monitoring.addHelpText('after', '\nExample:\n  etcdadm monitoring rules > /etc/prometheus/rules/etcd.yml\n');
  const rules = monitoring
    .command('rules')
    .description("Print Prometheus alert rules for this cluster: etcd's own alerts and thresholds, with its quorum and quota written in")
    .addOption(new Option('--job <name>', 'the Prometheus job label the members are scraped under').default('etcd'));
  for (const o of opsOptions()) rules.addOption(o);
  rules.addHelpText(
    'after',
    `
etcd serves /metrics and /health without client certificates on member.listenMetricsURLs (default
http://127.0.0.1:2381); list an address Prometheus can reach there (http://<host address>:2381) to scrape it from
another host.

Example:
  etcdadm monitoring rules > /etc/prometheus/rules/etcd.yml
  promtool check rules /etc/prometheus/rules/etcd.yml
`,
  );
  rules.action(
    action(
      (inv) =>
        withCluster(inv, async (h, ctx) => {
          const list = await h.members();
          const { prometheusRules } = await import('../../cluster/monitoring.js');
          stdout(
            prometheusRules({
              job: String(inv.opts.job ?? 'etcd'),
              voters: list.members.filter((m) => !m.isLearner).length,
              quotaBytes: ctx.plan.etcd.quotaBackendBytes,
              clusterId: list.clusterIdHex,
            }).trimEnd(),
          );
        }),
      { record: true },
    ),
  );
  return monitoring;
}
