/**
 * What every command action shares, written once: the logger from the global flags, root and the host lock for
 * commands that change the host, the host record loaded once (a corrupt record is the same one-line error from
 * every command, before anything changes), the plan resolved once, a run context closed at the end, and failures
 * printed as one line with an exit code. Also the generated `<command> phase <name>` subcommands and --skip-phases.
 */
import { Option, type Command } from '@commander-js/extra-typings';
import { resolve as resolvePath } from 'node:path';
import { PATHS } from '../config/defaults.js';
import { loadConfigLayer } from '../config/file.js';
import { resolvePlan } from '../config/plan/index.js';
import type { SettingsLayer } from '../config/settings.js';
import type { HostFacts, Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import { LocalHost, type Host } from '../host/host.js';
import { acquireHostLock, type HostLock } from '../host/lock.js';
import { HostRecord } from '../host/record.js';
import type { Logger } from '../log/logger.js';
import { createRunContext, type ContextInput, type RunContext, type RunOptions } from '../run/context.js';
import { checkSkipPhases, runPhases } from '../run/runner.js';
import type { Phase } from '../run/phase.js';
import { parseS3Url, s3LocationFrom } from '../s3/location.js';
import { loggerFrom, reportFailure, stdout, type GlobalFlags } from './context.js';
import { addOptions, flagsLayer, settingOptions, type FlagSet } from './flags.js';

export type AnyCommand = Command<any, any, any>;

export interface Invocation {
  log: Logger;
  opts: Record<string, unknown>;
  cmd: AnyCommand;
  host: Host;
  /** Loaded once when the command reads it (`record: true`). */
  record: HostRecord;
}

export interface ActionSpec {
  /** Changes the host: must run as root, holds the host lock. */
  changesHost?: boolean;
  /** Reads the host record (every command that acts on this host's member). */
  record?: boolean;
}

function commandPath(cmd: AnyCommand): string {
  const names: string[] = [];
  for (let c: AnyCommand | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** A commander action: build the logger, check root, take the lock, load the record, run, report failures. */
export function action(fn: (inv: Invocation) => Promise<void>, spec: ActionSpec = {}) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as AnyCommand;
    const opts = cmd.optsWithGlobals() as Record<string, unknown> & GlobalFlags;
    let log: Logger | undefined;
    let lock: HostLock | undefined;
    const host = new LocalHost();
    try {
      log = loggerFrom(opts);
      if (spec.changesHost && !host.isPrivileged())
        throw new EtcdadmError(`etcdadm ${commandPath(cmd)} must run as root: it installs etcd and writes ${PATHS.configDir}, its certificates and the service`, {
          hint: `run it again with sudo, or as root`,
        });
      if (spec.changesHost) lock = await acquireHostLock(PATHS.lockFile, commandPath(cmd));
      const record = spec.record ? await HostRecord.load(host) : HostRecord.empty(host);
      await fn({ log, opts, cmd, host, record });
    } catch (err) {
      process.exitCode = reportFailure(err, log ?? loggerFrom({}));
    } finally {
      await lock?.release();
    }
  };
}

/** The endpoints given as arguments (join): "a,b" and "a b" both work. */
export function endpointArgs(cmd: AnyCommand): string[] {
  return (cmd.args as string[]).flatMap((a) => a.split(',')).filter(Boolean);
}

/**
 * The settings layers of a command: the host record's settings when it reads the record and there is one (what
 * init/join really did wins), else the --config file and the flags.
 */
export async function layersFor(inv: Invocation, set: FlagSet, opts: { useRecord: boolean; endpoints?: string[] }): Promise<SettingsLayer[]> {
  const recorded = opts.useRecord ? inv.record.layer() : undefined;
  if (recorded) {
    inv.log.debug(`acting on what ${inv.record.path} recorded`);
    return [recorded];
  }
  const version = typeof inv.opts.version === 'string' ? inv.opts.version : undefined;
  const flags = flagsLayer(inv.opts, set, opts.endpoints && opts.endpoints.length ? { join: { endpoints: opts.endpoints } } : {});
  const file = typeof inv.opts.config === 'string'
    ? await loadConfigLayer(inv.opts.config, { ...(version && flags.values.etcd?.version ? { etcdVersion: flags.values.etcd.version } : {}), onWarning: (w) => inv.log.warn(w) })
    : undefined;
  return file ? [file, flags] : [flags];
}

export async function planFor(inv: Invocation, set: FlagSet, opts: { useRecord: boolean; endpoints?: string[] }): Promise<Plan> {
  return resolvePlan(await layersFor(inv, set, opts), await inv.host.facts());
}

export function runOptions(opts: Record<string, unknown>): Partial<RunOptions> {
  // init --snapshot s3://bucket/key: the --s3-* options describe that URL's endpoint, not a destination
  const fromS3 = typeof opts.snapshot === 'string' && opts.snapshot.startsWith('s3://') ? parseS3Url(opts.snapshot, opts) : undefined;
  const s3 = fromS3 ? undefined : s3LocationFrom(opts);
  return {
    ...(s3 ? { s3 } : {}),
    ...(fromS3 ? { snapshotFrom: fromS3 } : {}),
    force: opts.force === true,
    skipRemoveMember: opts.skipRemoveMember === true,
    dryRun: opts.dryRun === true,
    ...(typeof opts.dir === 'string' || typeof opts.output === 'string' || typeof opts.endpoint === 'string'
      ? { snapshotTo: { ...(typeof opts.dir === 'string' ? { dir: opts.dir } : {}), ...(typeof opts.output === 'string' ? { output: opts.output } : {}), ...(typeof opts.endpoint === 'string' ? { endpoint: opts.endpoint } : {}) } }
      : {}),
    ...(typeof opts.snapshot === 'string' ? { snapshot: opts.snapshot } : {}),
    ...(typeof opts.bumpRevision === 'string' ? { bumpRevision: opts.bumpRevision } : {}),
    ...(typeof opts.certsBundle === 'string' ? { certsBundle: resolvePath(opts.certsBundle) } : {}),
  };
}

/** A run context for `inv`, closed by `withContext` when the command ends. */
export async function withContext<T>(
  inv: Invocation,
  plan: Plan,
  input: Omit<ContextInput, 'plan' | 'record' | 'host' | 'log' | 'command'> & { command: string },
  fn: (ctx: RunContext) => Promise<T>,
): Promise<T> {
  const ctx = createRunContext({ ...input, plan, record: inv.record, host: inv.host, log: inv.log, out: stdout, options: { ...runOptions(inv.opts), ...input.options } });
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

export const skipPhasesOption = (phases: readonly Phase[]): Option =>
  new Option('--skip-phases <phases>', `phases to leave out (comma-separated): ${phases.map((p) => p.name).join(', ')}`).argParser((v: string, prev: string[] | undefined) => [
    ...(prev ?? []),
    ...v.split(',').map((s) => s.trim()).filter(Boolean),
  ]);

export interface WorkflowSpec {
  name: string;
  set: FlagSet;
  phases: readonly Phase[];
  /** join: endpoints as arguments. */
  endpoints?: boolean;
  /** reset: the record's settings win. */
  useRecord: boolean;
  /** init, join: undo a failed run. */
  rollback: boolean;
  contextEndpoints: ContextInput['endpoints'];
  /** The settings layers, when not those of layersFor (upgrade: the record's, under the target version). */
  layers?: (inv: Invocation) => Promise<SettingsLayer[]>;
  /** Settings learned before the plan is resolved (join: the version the cluster runs), under the given layers. */
  discover?: (layers: SettingsLayer[], facts: HostFacts, log: Logger, options: Partial<RunOptions>) => Promise<SettingsLayer[]>;
  extraOptions?: () => Option[];
  example: string;
}

/** Runs a whole workflow or one phase of it. */
function runWorkflow(spec: WorkflowSpec, phases: readonly Phase[], whole: boolean) {
  return action(
    async (inv) => {
      const endpoints = spec.endpoints ? endpointArgs(inv.cmd) : undefined;
      const layers = spec.layers ? await spec.layers(inv) : await layersFor(inv, spec.set, { useRecord: spec.useRecord, ...(endpoints ? { endpoints } : {}) });
      const facts = await inv.host.facts();
      const plan = resolvePlan(spec.discover ? await spec.discover(layers, facts, inv.log.withPhase('preflight'), runOptions(inv.opts)) : layers, facts);
      const skip = whole ? checkSkipPhases(spec.phases, (inv.opts.skipPhases as string[] | undefined) ?? [], spec.name) : [];
      await withContext(inv, plan, { command: spec.name, endpoints: spec.contextEndpoints, rollback: whole && spec.rollback }, (ctx) =>
        runPhases(ctx, phases, { skip, rollbackOnFailure: whole && spec.rollback }),
      );
    },
    { changesHost: true, record: true },
  );
}

/** `<command>` running every phase, and `<command> phase <name>` for each, generated from the one phase list. */
export function workflowCommand(cmd: AnyCommand, spec: WorkflowSpec): void {
  const options = () => [...settingOptions(spec.set), ...(spec.extraOptions?.() ?? [])];
  addOptions(cmd, options());
  cmd.addOption(skipPhasesOption(spec.phases));
  cmd.action(runWorkflow(spec, spec.phases, true));
  const arg = spec.endpoints ? ' https://10.0.0.1:2379' : '';
  const phase = cmd.command('phase').description(`Run one phase of ${spec.name}; running every phase in order equals '${spec.name}'`);
  phase.addHelpText('after', `\nPhases, in order:\n${spec.phases.map((p) => `  ${p.name.padEnd(24)}${p.short}`).join('\n')}\n\nExample:\n  ${spec.phases.map((p) => `etcdadm ${spec.name} phase ${p.name}${arg}`).join('\n  ')}\n`);
  for (const p of spec.phases) {
    const sub = phase.command(p.name).summary(p.short).description(p.short + (p.long ? `\n\n${p.long}` : ''));
    if (spec.endpoints) sub.argument('[endpoints...]', 'client URL(s) of existing members');
    addOptions(sub, options());
    sub.addHelpText('after', `\nExample:\n  etcdadm ${spec.name} phase ${p.name}${arg}\n`);
    sub.action(runWorkflow(spec, [p], false));
  }
  cmd.addHelpText('after', `\n${spec.example}`);
}
