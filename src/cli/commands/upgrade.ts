/**
 * `etcdadm upgrade plan` (any member host): the whole cluster against etcd's upgrade rules — members, cluster
 * version, proposed targets, the ordered steps and every blocker with its fix. `etcdadm upgrade apply --version X`
 * (each member host in turn): this member's step, as phases (src/phases/upgrade.ts). `upgrade plan -f cluster.yaml`:
 * the plan from the operator's machine, made on a host of the file (src/apply/read.ts).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { proposedTargets, planUpgrade, type UpgradePlan } from '../../cluster/upgrade.js';
import { resolvePlan } from '../../config/plan/index.js';
import type { SettingsLayer } from '../../config/settings.js';
import { compareVersions, normalizeVersion } from '../../config/version.js';
import { EtcdadmError } from '../../errors.js';
import { UPGRADE_APPLY_PHASES, UPGRADE_CANCEL_PHASES, observeUpgrade } from '../../phases/upgrade.js';
import { memberEndpoints } from '../../run/context.js';
import { action, clusterFileOption, withContext, type Invocation } from '../command.js';
import { workflowCommand } from '../workflow.js';
import { stdout } from '../context.js';
import { collectList, flagsLayer, settingOptions } from '../flags.js';
import { OUTPUT_FORMATS, render, renderTable, type OutputFormat } from '../output.js';

/** The record's settings (what this member was set up with), the release flags, and the target version if given. */
async function upgradeLayers(inv: Invocation, required: boolean): Promise<SettingsLayer[]> {
  const recorded = inv.record.layer();
  if (!recorded)
    throw new EtcdadmError(`no host record at ${inv.record.path}: upgrade runs on a member host set up by etcdadm init or join`, { hint: 'run it on a member host, as root' });
  if (inv.opts.version === undefined && required) throw new EtcdadmError('upgrade apply needs --version: the etcd version to move this member to', { hint: "see 'etcdadm upgrade plan' for the targets", exitCode: 2 });
  const version = givenVersion(inv.opts.version);
  return [recorded, flagsLayer(inv.opts, 'upgrade', version ? { etcd: { version } } : {})];
}

/** --version normalized (3.6.16), or undefined when not given; not a version is exit code 2. */
function givenVersion(raw: unknown): string | undefined {
  const version = raw === undefined ? undefined : normalizeVersion(String(raw));
  if (raw !== undefined && !version) throw new EtcdadmError(`invalid --version "${String(raw)}": not an etcd version (like 3.6.16)`, { exitCode: 2 });
  return version;
}

export interface UpgradePlanReport {
  members: { name: string; id: string; version: string | null; role: string; health: string }[];
  clusterVersion: string | null;
  /** The targets the release URL offers: the newest patch of the current minor and of the next. */
  targets: { patch?: string; minor?: string };
  /** Why the targets could not be listed, when they could not. */
  targetsUnavailable?: string;
  /** A downgrade enabled through etcd's downgrade API, to this cluster version. */
  downgrade: { targetVersion: string } | null;
  plan: UpgradePlan | null;
}

function planTable(r: UpgradePlanReport): string {
  const out = [renderTable(['NAME', 'ID', 'VERSION', 'ROLE', 'HEALTH'], r.members.map((m) => [m.name, m.id, m.version ?? '-', m.role, m.health]))];
  out.push(`Cluster version: ${r.clusterVersion ?? 'unknown'}`);
  if (r.downgrade) out.push(`Downgrade in progress: to ${r.downgrade.targetVersion} (each member: etcdadm upgrade apply --version <that minor's patch>; 'etcdadm upgrade cancel' ends it)`);
  out.push(
    r.targetsUnavailable
      ? `Available targets: unknown (${r.targetsUnavailable}); pass --version`
      : `Available targets: ${[r.targets.patch && `${r.targets.patch} (newest patch)`, r.targets.minor && `${r.targets.minor} (next minor)`].filter(Boolean).join(', ') || 'none newer'}`,
  );
  const p = r.plan;
  if (!p) return out.join('\n');
  out.push('', `Target: etcd ${p.to} (${p.kind === 'none' ? 'every member runs it' : p.kind.replace('-', ' ')})`);
  if (p.kind !== 'none') {
    out.push('Steps (one member at a time, each: snapshot, then restart on the new binary):');
    p.steps.forEach((s, i) => out.push(`  ${i + 1}. ${s.member} (${s.role}): ${s.from ?? '?'} -> ${s.to}${s.done ? '  [done]' : `  etcdadm upgrade apply --version ${s.to}`}`));
  }
  for (const w of p.warnings) out.push(`Warning: ${w}`);
  if (p.blockers.length) {
    out.push('', 'Blocked:');
    for (const b of p.blockers) out.push(`  - ${b.problem}`, `    fix: ${b.fix}`);
  } else if (p.kind !== 'none') out.push('', 'Nothing blocks this upgrade.');
  return out.join('\n');
}

/** The plan in the chosen format; exit code 3 when something blocks it. */
function showPlan(report: UpgradePlanReport, inv: Invocation): void {
  stdout(render(report, String(inv.opts.output ?? 'table') as OutputFormat, planTable));
  if (report.plan?.blockers.length) process.exitCode = 3;
}

function planSubcommand(): Command<any, any, any> {
  const cmd = new Command('plan')
    .description("Check the cluster against etcd's upgrade rules: members, cluster version, targets, the steps in order, and every blocker with its fix")
    .addOption(new Option('--version <version>', 'the etcd version to plan for (default: the newest next-minor patch the release URL offers, else the newest patch)'))
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table'))
    .addOption(new Option('--endpoints <urls>', "client URLs to ask; default: this host's member, then the others from the host record").argParser(collectList));
  for (const o of settingOptions('upgrade')) cmd.addOption(o);
  cmd.addOption(clusterFileOption());
  cmd.addHelpText(
    'after',
    "\nWith -f, from the operator's machine: the plan made on the first host of the Cluster document whose member answers\n(over SSH, as etcdadm apply reaches them), shown here.\n\nExit codes: 0 nothing blocks (or nothing to do), 3 blocked, 1 error.\n\nExample:\n  etcdadm upgrade plan\n  etcdadm upgrade plan --version 3.6.16 -o json\n  etcdadm upgrade plan -f cluster.yaml\n",
  );
  cmd.action(
    action(
      async (inv) => {
        const base = resolvePlan(await upgradeLayers(inv, false), await inv.host.facts());
        const given = Array.isArray(inv.opts.endpoints) && inv.opts.endpoints.length ? (inv.opts.endpoints as string[]) : undefined;
        const report = await withContext(inv, base, { command: 'upgrade plan', endpoints: (p, r) => given ?? memberEndpoints(p, r), requestTimeoutMs: 5000 }, async (ctx) => {
          // the observation upgrade apply's preflight makes, with the target chosen from what it saw
          let targets: { patch?: string; minor?: string } = {};
          const seen = await observeUpgrade(ctx, {
            serializable: true,
            choose: (st, offered) => {
              const versions = st.members.map((m) => m.version).filter((v): v is string => !!v).sort(compareVersions);
              const current = versions[0];
              targets = current && 'versions' in offered ? proposedTargets(current, offered.versions) : {};
              return typeof inv.opts.version === 'string' ? base.release.version : (targets.minor ?? targets.patch ?? (current && versions.at(-1) !== current ? versions.at(-1) : undefined));
            },
          });
          const plan = seen.target
            ? planUpgrade({
                members: seen.status.members,
                clusterVersion: seen.clusterVersion,
                target: seen.target,
                targetOffered: seen.targetOffered,
                releaseUrl: base.release.releaseUrl,
                offered: 'versions' in seen.offered ? seen.offered.versions : undefined,
                extraArgs: base.etcd.extraArgs,
                ...(seen.inProgress?.to === seen.target ? { resuming: inv.record.facts?.memberName ?? seen.selfName } : {}),
                ...(seen.status.downgrade ? { downgrade: seen.status.downgrade } : {}),
              })
            : null;
          return {
            members: seen.status.members.map((m) => ({ name: m.name, id: m.id, version: m.version, role: m.role, health: m.health })),
            clusterVersion: seen.clusterVersion,
            targets,
            ...('unavailable' in seen.offered ? { targetsUnavailable: seen.offered.unavailable } : {}),
            downgrade: seen.status.downgrade ?? null,
            plan,
          } satisfies UpgradePlanReport;
        });
        showPlan(report, inv);
      },
      {
        record: true,
        fromFile: {
          options: ['output', 'version'],
          run: async (inv, read) => {
            const version = givenVersion(inv.opts.version);
            const { readUpgradePlan } = await import('../../apply/read.js');
            showPlan(await readUpgradePlan<UpgradePlanReport>({ ...read, ...(version ? { version } : {}) }), inv);
          },
        },
      },
    ),
  );
  return cmd;
}

function applySubcommand(): Command<any, any, any> {
  const cmd = new Command('apply').description('Move this member to etcd --version: snapshot, hand leadership away, new env and binaries, restart, wait until it has caught up');
  workflowCommand<Record<string, never>>(cmd, {
    name: 'upgrade apply',
    set: 'upgrade',
    phases: UPGRADE_APPLY_PHASES,
    useRecord: true,
    // a failure before the restart puts the member back as it was (env, binaries, record, an enabled downgrade); once it
    // restarted on the target (restart commits), a failed or killed upgrade is finished by running the same command
    rollback: true,
    options: () => ({}),
    layers: (inv) => upgradeLayers(inv, true),
    contextEndpoints: memberEndpoints,
    extraOptions: () => [new Option('--version <version>', 'the etcd version to move this member to (one minor up, or a patch of the same minor)')],
    example: "Run on each member host in turn, followers first and the leader last ('etcdadm upgrade plan' lists the order).\n\nExample:\n  etcdadm upgrade plan\n  etcdadm upgrade apply --version 3.6.16 --dry-run\n  etcdadm upgrade apply --version 3.6.16\n",
  });
  return cmd;
}

function cancelSubcommand(): Command<any, any, any> {
  const cmd = new Command('cancel').description("Cancel a downgrade that has not completed (etcd's downgrade API): the cluster version goes back up once the members allow it");
  workflowCommand<Record<string, never>>(cmd, {
    name: 'upgrade cancel',
    unprivileged: true,
    set: 'upgrade',
    phases: UPGRADE_CANCEL_PHASES,
    useRecord: true,
    rollback: false,
    options: () => ({}),
    layers: (inv) => upgradeLayers(inv, false),
    contextEndpoints: (p, r, inv) => (Array.isArray(inv.opts.endpoints) && inv.opts.endpoints.length ? (inv.opts.endpoints as string[]) : memberEndpoints(p, r)),
    requestTimeoutMs: 5000,
    extraOptions: () => [new Option('--endpoints <urls>', "client URLs to ask; default: this host's member, then the others from the host record").argParser(collectList)],
    example: 'Members already on the older binary stay there: move them back with etcdadm upgrade apply --version <newer>.\n\nExample:\n  etcdadm upgrade cancel\n',
  });
  return cmd;
}

export function upgradeCommand(): Command<any, any, any> {
  const cmd = new Command('upgrade');
  cmd.addCommand(planSubcommand());
  cmd.addCommand(applySubcommand());
  cmd.addCommand(cancelSubcommand());
  cmd.addHelpText('after', "\nOne minor version at a time, one member at a time; see 'etcdadm upgrade plan' first.\n\nExample:\n  etcdadm upgrade plan\n  etcdadm upgrade apply --version 3.6.16\n");
  return cmd;
}
