/**
 * Every command that changes a host is declared the same way, as a workflow: its phases, its own typed options
 * (parsed and checked here, before anything changes; invalid input is exit code 2), whether a failed run is rolled
 * back through the journal, how its plan is resolved and which endpoints its cluster handle talks to. From that one
 * declaration come the command itself, `<command> phase <name>` for each phase, `--skip-phases` and `--dry-run`.
 */
import { Option } from '@commander-js/extra-typings';
import { resolvePlan } from '../config/plan/index.js';
import type { SettingsLayer } from '../config/settings.js';
import type { HostFacts, Plan } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { HostRecord } from '../host/record.js';
import type { Phase } from '../run/phase.js';
import { EtcdadmError } from '../errors.js';
import { adoptFirstPhase } from '../phases/adopt.js';
import { checkSkipPhases, runPhases } from '../run/runner.js';
import { action, endpointArgs, layersFor, withContext, type ActionSpec, type AnyCommand, type Invocation } from './command.js';
import { addOptions, settingOptions, type FlagSet } from './flags.js';
import { memberEndpoints } from '../run/context.js';
import { opsOptions } from './commands/ops.js';

export interface WorkflowSpec<O> {
  /** The command as typed after `etcdadm`: "init", "certs renew", "member add". */
  name: string;
  phases: readonly Phase<O>[];
  /**
   * A failed run (every phase, not `phase <name>`) is rolled back through the journal: the host, the service, the
   * timers and the members added are put back as they were. Declared per command; false where a re-run finishes
   * instead (reset, upgrade apply, recover: see docs/commands.md).
   */
  rollback: boolean;
  /** The flags that are settings (flags.ts), layered over --config (or, with useRecord, the host record's settings). */
  set: FlagSet;
  useRecord: boolean;
  /** The settings layers, when not those of layersFor (upgrade: the record's, under the target version). */
  layers?: (inv: Invocation) => Promise<SettingsLayer[]>;
  /** The plan, when not resolved from the layers on this host's facts (download: no member, neutral facts). */
  plan?: (inv: Invocation, layers: SettingsLayer[]) => Promise<Plan>;
  /** Settings learned before the plan is resolved (join: the version the cluster runs), under the given layers. */
  discover?: (inv: Invocation, layers: SettingsLayer[], facts: HostFacts, log: Logger) => Promise<SettingsLayer[]>;
  /** The command's own options from its flags and arguments (and the plan), checked (exit code 2) before anything changes. */
  options: (inv: Invocation, plan: Plan) => O | Promise<O>;
  /** The client URLs the run's cluster handle talks to, best first. */
  contextEndpoints: (plan: Plan, record: HostRecord, inv: Invocation) => string[];
  requestTimeoutMs?: number;
  /** join: the endpoints are the arguments. */
  endpoints?: boolean;
  /** Positional arguments of the command and of each `phase` subcommand, e.g. '<file>'. */
  args?: readonly { spec: string; description: string }[];
  extraOptions?: () => Option[];
  /**
   * A flag that runs another phase list of the same command (certs renew --schedule, defrag --schedule <interval>):
   * given (true, or a value), its phases run instead. `changesHost` and `rollback` override the command's for that
   * list (defrag changes only the cluster; its --schedule writes units on this host: root, the host lock, rollback).
   */
  variants?: readonly Variant<O>[];
  /**
   * Runs without the root check and the host lock: it changes only the cluster (member add/remove/promote, upgrade
   * cancel) or a cache the caller names (download). Default false.
   */
  unprivileged?: boolean;
  /**
   * On a host another tool set up (etcdadm v0.1.x: no record, one derived from its files, src/adopt/):
   * 'consent' (the default for commands that act on the record) runs only with --adopt, which writes the record
   * first; 'use' acts on the derived record without writing it (reset, which removes it anyway; the changes of the
   * cluster's members, which write nothing on the host); 'adopt' is
   * `etcdadm adopt` itself. Commands that do not use the record (init, join, download) never derive one.
   */
  legacy?: 'consent' | 'use' | 'adopt';
  /** `-f cluster.yaml` on the whole command (snapshot save): what runs instead, from this machine (ActionSpec.fromFile). */
  fromFile?: ActionSpec['fromFile'];
  /** After a failure, before it is reported (backup run records it). */
  onFailure?: (inv: Invocation, err: unknown) => Promise<void>;
  example: string;
}

export interface Variant<O> {
  flag: string;
  name: string;
  phases: readonly Phase<O>[];
  changesHost?: boolean;
  rollback?: boolean;
}

export const skipPhasesOption = (phases: readonly Phase[]): Option =>
  new Option('--skip-phases <phases>', `phases to leave out (comma-separated): ${phases.map((p) => p.name).join(', ')}`).argParser((v: string, prev: string[] | undefined) => [
    ...(prev ?? []),
    ...v.split(',').map((s) => s.trim()).filter(Boolean),
  ]);

export const dryRunOption = (): Option => new Option('--dry-run', 'observe and decide as a real run does, print what it would change, change nothing');

/** The phases a run of `spec` takes: a variant's when its flag is given. */
function selected<O>(spec: WorkflowSpec<O>, opts: Record<string, unknown>): Variant<O> {
  const v = spec.variants?.find((x) => opts[x.flag] !== undefined && opts[x.flag] !== false);
  return v ?? { flag: '', name: spec.name, phases: spec.phases };
}

/** Runs a whole workflow (`one` undefined) or one phase of it. */
function runWorkflow<O>(spec: WorkflowSpec<O>, one: Phase<O> | undefined) {
  return action(
    async (inv) => {
      try {
        const endpoints = spec.endpoints ? endpointArgs(inv.cmd) : undefined;
        const layers = spec.layers ? await spec.layers(inv) : await layersFor(inv, spec.set, { useRecord: spec.useRecord, ...(endpoints ? { endpoints } : {}) });
        const facts = await inv.host.facts();
        const plan: Plan = spec.plan ? await spec.plan(inv, layers) : resolvePlan(spec.discover ? await spec.discover(inv, layers, facts, inv.log.withPhase('preflight')) : layers, facts);
        const options = await spec.options(inv, plan);
        const chosen: Variant<O> = one ? { flag: '', name: spec.name, phases: [one] } : selected(spec, inv.opts);
        const run = { name: chosen.name, phases: [...adoptFirst(spec, inv), ...chosen.phases] };
        const skip = one ? [] : checkSkipPhases(run.phases, (inv.opts.skipPhases as string[] | undefined) ?? [], run.name);
        const rollback = !one && (chosen.rollback ?? spec.rollback);
        await withContext<void, O>(
          inv,
          plan,
          { command: run.name, options, endpoints: (p, r) => spec.contextEndpoints(p, r, inv), rollback, dryRun: inv.opts.dryRun === true, ...(spec.requestTimeoutMs ? { requestTimeoutMs: spec.requestTimeoutMs } : {}) },
          (ctx) => runPhases(ctx, run.phases, { skip, rollbackOnFailure: rollback }),
        );
      } catch (err) {
        if (spec.onFailure && inv.opts.dryRun !== true) await spec.onFailure(inv, err);
        throw err;
      }
    },
    {
      changesHost: (opts) => (one ? undefined : selected(spec, opts).changesHost) ?? spec.unprivileged !== true,
      record: true,
      legacy: spec.useRecord,
      ...(spec.legacy === 'adopt' ? { legacyVersion: (o: Record<string, unknown>) => (typeof o.version === 'string' ? o.version : undefined) } : {}),
      ...(!one && spec.fromFile ? { fromFile: spec.fromFile } : {}),
    },
  );
}

/**
 * On a host another tool set up, the phase that writes its record before a changing command acts (with --adopt);
 * without --adopt, the refusal that says how to take the host over. Nothing for a host with a record.
 */
function adoptFirst<O>(spec: WorkflowSpec<O>, inv: Invocation): Phase<O>[] {
  const from = inv.record.derivedFrom;
  if (!from || (spec.legacy ?? 'consent') !== 'consent') return [];
  if (inv.opts.adopt !== true)
    throw new EtcdadmError(`this host's etcd was set up by ${from} and has no host record (${inv.record.path}): etcdadm ${spec.name} acts only on a member it manages`, {
      hint: `run 'etcdadm adopt' first (it shows what it derived from ${from}'s files and writes the record), or run this again with --adopt`,
    });
  return [adoptFirstPhase as Phase<O>];
}

export const adoptOption = (): Option => new Option('--adopt', 'on a host set up by etcdadm v0.1.x (no host record): take it over first, writing the record derived from its files (etcdadm adopt)');

/** `<command>` running every phase, and `<command> phase <name>` for each, generated from the one declaration. */
export function workflowCommand<O>(cmd: AnyCommand, spec: WorkflowSpec<O>): void {
  const adopt = spec.useRecord && (spec.legacy ?? 'consent') === 'consent';
  const options = () => [...settingOptions(spec.set), ...(spec.extraOptions?.() ?? []), ...(adopt ? [adoptOption()] : []), dryRunOption()];
  const args = spec.endpoints ? [{ spec: '[endpoints...]', description: 'client URL(s) of existing members' }] : (spec.args ?? []);
  addOptions(cmd, options());
  cmd.addOption(skipPhasesOption(spec.phases));
  cmd.action(runWorkflow(spec, undefined));
  const argText = spec.endpoints ? ' https://10.0.0.1:2379' : args.length ? ` ${args.map((a) => a.spec).join(' ')}` : '';
  const phase = cmd.command('phase').description(`Run one phase of ${spec.name}; running every phase in order equals '${spec.name}'`);
  phase.addHelpText('after', `\nPhases, in order:\n${spec.phases.map((p) => `  ${p.name.padEnd(24)}${p.short}`).join('\n')}\n\nExample:\n  ${spec.phases.map((p) => `etcdadm ${spec.name} phase ${p.name}${argText}`).join('\n  ')}\n`);
  for (const p of spec.phases) {
    const sub = phase.command(p.name).summary(p.short).description(p.short + (p.long ? `\n\n${p.long}` : ''));
    for (const a of args) sub.argument(a.spec, a.description);
    addOptions(sub, options());
    sub.addHelpText('after', `\nExample:\n  etcdadm ${spec.name} phase ${p.name}${argText}\n`);
    sub.action(runWorkflow(spec, p));
  }
  cmd.addHelpText('after', `\nPhases: ${spec.phases.map((p) => p.name).join(', ')} (etcdadm ${spec.name} phase --help).\n\n${spec.example}`);
}

/**
 * A change of the cluster's members from any member host (member add/remove/promote, defrag, alarm disarm,
 * maintain): a workflow on the host record's endpoints (or --endpoints), without the root check and the host lock,
 * and not rolled back — each step is done once done (join takes back a member it added that never started).
 */
export function clusterChangeCommand<O>(
  cmd: AnyCommand,
  spec: Pick<WorkflowSpec<O>, 'name' | 'phases' | 'options' | 'args' | 'example' | 'variants'> & { flags: () => Option[]; requestTimeoutMs?: number },
): void {
  workflowCommand<O>(cmd, {
    ...spec,
    set: 'ops',
    useRecord: true,
    unprivileged: true,
    rollback: false,
    // on a host etcdadm v0.1.x set up, the record derived from its files tells the endpoints: nothing here is written
    legacy: 'use',
    contextEndpoints: (p, r, inv) => (Array.isArray(inv.opts.endpoints) && inv.opts.endpoints.length ? (inv.opts.endpoints as string[]) : memberEndpoints(p, r)),
    requestTimeoutMs: spec.requestTimeoutMs ?? 5000,
    extraOptions: () => [...opsOptions().filter((o) => o.long === '--endpoints'), ...spec.flags()],
  });
}
