/**
 * What every command action shares, written once: the logger from the global flags, root and the host lock for
 * commands that change the host, the host record loaded once (a corrupt record is the same one-line error from
 * every command, before anything changes), the plan resolved once, a run context closed at the end, and failures
 * printed as one line with an exit code. The commands that change a host are declared in workflow.ts. What only
 * some commands use (the config file's schema, the plan, the run context with its etcd client) is imported when
 * used, so a light command (version, completion, --help) loads none of it. A read command given `-f cluster.yaml`
 * reads the hosts of that file from this machine instead (`fromFile`): no root, no lock, no record here.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Option, type Command } from '@commander-js/extra-typings';
import type { ReadOptions } from '../apply/read.js';
import { PATHS } from '../config/defaults.js';
import type { SettingsLayer } from '../config/settings.js';
import type { Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import type { Host, HostLock } from '../host/host.js';
import { LocalHost } from '../host/local.js';
import type { HostRecord } from '../host/record.js';
import type { LegacyVerdict } from '../adopt/index.js';
import type { Logger } from '../log/logger.js';
import type { ContextInput, RunContext } from '../run/context.js';
import { loggerFrom, reportFailure, stdout, type GlobalFlags } from './context.js';
import { flagsLayer, type FlagSet } from './flags.js';

export type AnyCommand = Command<any, any, any>;

export interface Invocation {
  log: Logger;
  opts: Record<string, unknown>;
  cmd: AnyCommand;
  host: Host;
  /**
   * Loaded once when the command reads it (`record: true`). Without one on a host another tool set up (etcdadm
   * v0.1.x), the record derived from its files, not written (`record.derivedFrom`): see src/adopt/.
   */
  record: HostRecord;
  /** What src/adopt/ found on a host without a record (undefined when there is a record or it was not looked for). */
  legacy?: LegacyVerdict;
}

export interface ActionSpec {
  /** Changes the host: must run as root, holds the host lock (per invocation when a function of the options). */
  changesHost?: boolean | ((opts: Record<string, unknown>) => boolean);
  /** Reads the host record (every command that acts on this host's member). */
  record?: boolean;
  /**
   * Without a record, look for a host another tool set up and derive its record (default: when `record`). False
   * for commands that set a host up (init, join): a derived record would read as one of their own earlier runs.
   */
  legacy?: boolean;
  /** `etcdadm adopt --version`: the etcd version when neither the binary nor the member tells it. */
  legacyVersion?: (opts: Record<string, unknown>) => string | undefined;
  /**
   * A read command with `-f, --file <cluster.yaml>` (clusterFileOption): given, `run` reads the hosts of that
   * Cluster document over SSH from this machine (src/apply/read.ts) instead of this host — no root check, no host
   * lock, no host record here. Its other options given with -f, but for `options` (attribute names), are refused.
   */
  fromFile?: { options: readonly string[]; run: (inv: Invocation, read: ReadOptions) => Promise<void> };
}

/** `-f, --file <cluster.yaml>` of the read commands (ActionSpec.fromFile). */
export const clusterFileOption = (): Option =>
  new Option('-f, --file <cluster.yaml>', "read the cluster from this machine over SSH, through the hosts of a Cluster document (etcdadm apply's; etcdadm must be on them)");

/** With -f the command reads other machines: an option about this host given with it is one line (exit 2). */
function refuseWithFile(cmd: AnyCommand, allowed: readonly string[]): void {
  for (const o of cmd.options) {
    const name = o.attributeName();
    if (name === 'file' || allowed.includes(name) || cmd.getOptionValueSource(name) !== 'cli') continue;
    throw new EtcdadmError(`etcdadm ${commandPath(cmd)}: ${o.long ?? o.flags} does not go with -f`, {
      hint: 'with -f the hosts of the file are read over SSH: leave it out, or run the command on a member host without -f',
      exitCode: 2,
    });
  }
}

export function commandPath(cmd: AnyCommand): string {
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
    const file = spec.fromFile && typeof opts.file === 'string' ? opts.file : undefined;
    const changesHost = file === undefined && (typeof spec.changesHost === 'function' ? spec.changesHost(opts) : spec.changesHost === true);
    try {
      log = loggerFrom(opts);
      if (spec.fromFile && file !== undefined) {
        refuseWithFile(cmd, spec.fromFile.options);
        const { HostRecord } = await import('../host/record.js');
        await spec.fromFile.run({ log, opts, cmd, host, record: HostRecord.empty(host) }, { file: resolve(file), home: homedir(), log });
        return;
      }
      if (changesHost && !host.isPrivileged())
        throw new EtcdadmError(`etcdadm ${commandPath(cmd)} must run as root: it installs etcd and writes ${PATHS.configDir}, its certificates and the service`, {
          hint: `run it again with sudo, or as root`,
        });
      if (changesHost) lock = await host.lock(PATHS.lockFile, commandPath(cmd));
      const { HostRecord } = await import('../host/record.js');
      let record = spec.record ? await HostRecord.load(host) : HostRecord.empty(host);
      let legacy: LegacyVerdict | undefined;
      if (spec.record && (spec.legacy ?? true) && !record.exists) {
        const { detectLegacy, LEGACY_NAME } = await import('../adopt/index.js');
        const version = spec.legacyVersion?.(opts);
        legacy = await detectLegacy(host, version ? { versionFlag: version } : {});
        if (legacy.kind === 'derived') {
          record = HostRecord.derived(host, legacy.host.facts, legacy.host.settings, LEGACY_NAME);
          log.debug(`no ${record.path}: acting on what ${LEGACY_NAME} set up here`, { found: legacy.host.found.join('; ') });
        }
      }
      await fn({ log, opts, cmd, host, record, ...(legacy ? { legacy } : {}) });
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
  const { loadConfigLayer } = await import('../config/file.js');
  const file = typeof inv.opts.config === 'string'
    ? await loadConfigLayer(inv.opts.config, { ...(version && flags.values.etcd?.version ? { etcdVersion: flags.values.etcd.version } : {}), onWarning: (w) => inv.log.warn(w) })
    : undefined;
  return file ? [file, flags] : [flags];
}

export async function planFor(inv: Invocation, set: FlagSet, opts: { useRecord: boolean; endpoints?: string[] }): Promise<Plan> {
  const { resolvePlan } = await import('../config/plan/index.js');
  return resolvePlan(await layersFor(inv, set, opts), await inv.host.facts());
}

/** A run context for `inv`, closed by `withContext` when the command ends. */
export async function withContext<T, O = Record<string, never>>(
  inv: Invocation,
  plan: Plan,
  input: Omit<ContextInput<O>, 'plan' | 'record' | 'host' | 'log' | 'command' | 'options'> & { command: string; options?: O },
  fn: (ctx: RunContext<O>) => Promise<T>,
): Promise<T> {
  const { createRunContext } = await import('../run/context.js');
  const ctx = createRunContext<O>({ ...input, options: input.options ?? ({} as O), plan, record: inv.record, host: inv.host, log: inv.log, out: stdout });
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

