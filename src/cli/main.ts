/**
 * etcdadm's command line. Parsing and help only: every action resolves a Plan once and hands it to phases or to the
 * concern modules.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { DEFAULTS } from '../config/defaults.js';
import { resolveMemberPlan, resolveRecordedPlan, resolveRelease } from '../config/resolve.js';
import type { ConfigDocument } from '../config/document.js';
import { loadConfigFile } from '../config/file.js';
import type { MemberFlags } from '../config/types.js';
import { configCommand } from './config.js';
import { acquireHostLock, type HostLock } from '../host/lock.js';
import { readState } from '../host/state.js';
import { Timings } from '../log/timings.js';
import { JOIN_PHASES } from '../phases/join.js';
import { runReset } from '../phases/reset.js';
import { formatInfo, localMemberInfo } from './info.js';
import { memberCommand } from './member.js';
import { statusCommand } from './status.js';
import { gatherHostFacts } from '../host/facts.js';
import { Logger } from '../log/logger.js';
import { downloadRelease } from '../release/index.js';
import { INIT_PHASES, initPreflight } from '../phases/init.js';
import { runPhases } from '../phases/runner.js';
import type { Phase } from '../phases/types.js';
import { loggerFrom, reportFailure, stdout, type GlobalFlags } from './context.js';
import { addOptions, configOption, memberOptions, toMemberFlags, type FlagSet } from './flags.js';
import { versionCommand } from './version.js';

declare const ETCDADM_VERSION: string | undefined;
export const CLI_VERSION = typeof ETCDADM_VERSION === 'string' ? ETCDADM_VERSION : '0.0.0-dev';

/** The plan of what etcdadm already set up here (from /etc/etcd/etcdadm.yaml), flags filling in without a record. */
async function recordedPlan(opts: Record<string, unknown>, log: Logger) {
  const state = await readState(DEFAULTS.stateFile);
  if (!state) log.debug(`no ${DEFAULTS.stateFile}; using flags, --config and defaults`);
  const flags = toMemberFlags(opts);
  return resolveRecordedPlan(flags, await gatherHostFacts(), state, await configFile(opts, flags, log));
}

/** The --config document, when given: parsed and validated (errors name field, file and line), warnings logged. */
async function configFile(opts: Record<string, unknown>, flags: MemberFlags, log: Logger): Promise<ConfigDocument | undefined> {
  if (typeof opts.config !== 'string') return undefined;
  return loadConfigFile(opts.config, { ...(flags.version ? { etcdVersion: flags.version } : {}), onWarning: (w) => log.warn(w) });
}

type Action = (log: Logger, opts: Record<string, unknown>, cmd: Command<any, any, any>) => Promise<void>;

/**
 * Wrap an action: build the logger from global flags, run, turn failures into one line and an exit code.
 * `changesHost` actions hold the host lock, so that two etcdadm commands never change the same host at once.
 */
function act(fn: Action, opts: { changesHost?: boolean } = {}) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command<any, any, any>;
    const flags = cmd.optsWithGlobals() as Record<string, unknown> & GlobalFlags;
    let log = new Logger();
    let lock: HostLock | undefined;
    try {
      log = loggerFrom(flags);
      if (opts.changesHost) lock = await acquireHostLock(DEFAULTS.lockFile, commandPath(cmd));
      await fn(log, flags, cmd);
    } catch (err) {
      process.exitCode = reportFailure(err, log);
    } finally {
      await lock?.release();
    }
  };
}

function commandPath(cmd: Command<any, any, any>): string {
  const names: string[] = [];
  for (let c: Command<any, any, any> | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The endpoints given as arguments (join): "a,b" and "a b" both work. */
function endpointArgs(cmd: Command<any, any, any>): string[] {
  return (cmd.args as string[]).flatMap((a) => a.split(',')).filter(Boolean);
}

async function memberPlan(opts: Record<string, unknown>, cmd: Command<any, any, any>, withEndpoints: boolean, log: Logger) {
  const flags = toMemberFlags(opts);
  if (withEndpoints) flags.endpoints = endpointArgs(cmd);
  return resolveMemberPlan(flags, await gatherHostFacts(), await configFile(opts, flags, log));
}

function phaseCommands(parent: Command<any, any, any>, phases: readonly Phase[], set: FlagSet, commandName: string): void {
  const join = set === 'join';
  const phase = parent.command('phase').description(`Run one phase of ${commandName}; running every phase in order equals '${commandName}'`);
  phase.addHelpText('after', `\nExample:\n  ${phases.map((p) => `etcdadm ${commandName} phase ${p.name}${join ? ' https://10.0.0.1:2379' : ''}`).join('\n  ')}\n`);
  for (const p of phases) {
    const sub = phase.command(p.name).summary(p.short).description(p.short + (p.long ? `\n\n${p.long}` : ''));
    if (join) sub.argument('[endpoints...]', 'client URL(s) of existing members');
    addOptions(sub, memberOptions(set));
    sub.addHelpText('after', `\nExample:\n  etcdadm ${commandName} phase ${p.name}${join ? ' https://10.0.0.1:2379' : ''}\n`);
    sub.action(
      act(async (log, opts, cmd) => {
        const plan = await memberPlan(opts, cmd, join, log);
        await runPhases([p], { plan, log, out: stdout });
      }, { changesHost: true }),
    );
  }
}

export function buildProgram(): Command<any, any, any> {
  const program = new Command()
    .name('etcdadm')
    .description('Create and operate TLS-secured etcd clusters on Linux hosts')
    .addOption(new Option('-l, --log-level <level>', 'log level: debug, info, warn, error').default('info'))
    .addOption(new Option('--log-format <format>', 'log format: text or json').default('text'))
    .showHelpAfterError()
    .enablePositionalOptions(false);
  program.addHelpText('after', `\nExample:\n  etcdadm init\n  etcdadm join https://10.0.0.1:2379\n  etcdadm reset\n`);

  const init = program
    .command('init')
    .description('Initialize a new etcd cluster: install etcd, create the PKI, start a one-member cluster and print the join command');
  addOptions(init, memberOptions('init'));
  init.addHelpText('after', `\nExample:\n  etcdadm init\n  etcdadm init --version 3.5.30 --release-url file:///srv/etcd-releases --name etcd-a\n`);
  init.action(
    act(async (log, opts, cmd) => {
      const plan = await memberPlan(opts, cmd, false, log);
      await initPreflight(plan, log);
      await runPhases(INIT_PHASES, { plan, log, out: stdout });
    }, { changesHost: true }),
  );
  phaseCommands(init, INIT_PHASES, 'init', 'init');

  const join = program
    .command('join')
    .description('Join this host to an existing cluster: certificates from the cluster CA, install etcd, add the member, start it')
    .argument('[endpoints...]', "client URL(s) of existing members, e.g. https://10.0.0.1:2379 (comma-separated or several; or join.endpoints in --config)");
  addOptions(join, memberOptions('join'));
  join.addHelpText('after', `\nBefore joining, copy the cluster CA from a member:\n  rsync -avR /etc/etcd/pki/ca.* <this host>:/\n\nExample:\n  etcdadm join https://10.0.0.1:2379\n`);
  join.action(
    act(async (log, opts, cmd) => {
      const plan = await memberPlan(opts, cmd, true, log);
      await runPhases(JOIN_PHASES, { plan, log, out: stdout });
    }, { changesHost: true }),
  );
  phaseCommands(join, JOIN_PHASES, 'join', 'join');

  const reset = program
    .command('reset')
    .description('Remove this member from its cluster and remove etcd, its data and its certificates from this host')
    .addOption(configOption())
    .addOption(new Option('--skip-remove-member', 'do not remove the member from the cluster (its data dir is then moved aside, not deleted)'))
    .addOption(new Option('--force', 'reset even the last member of a cluster, or when the cluster cannot be reached (the data dir is moved aside)'))
    .addOption(new Option('--data-dir <dir>', 'data dir, when this host has no record of its setup (/etc/etcd/etcdadm.yaml)'))
    .addOption(new Option('--certs-dir <dir>', 'certificates dir, when this host has no record'))
    .addOption(new Option('--install-dir <dir>', 'install dir, when this host has no record'))
    .addOption(new Option('--init-system <name>', 'init system, when this host has no record').choices(['systemd', 'kubelet']));
  reset.addHelpText('after', `\nreset acts on what init/join recorded in /etc/etcd/etcdadm.yaml; the flags only fill in when there is no record.\n\nExample:\n  etcdadm reset\n`);
  reset.action(
    act(async (log, opts) => {
      const plan = await recordedPlan(opts, log);
      await runReset({ plan, log, timings: new Timings(), out: stdout }, { skipRemoveMember: opts.skipRemoveMember === true, force: opts.force === true });
    }, { changesHost: true }),
  );

  const info = program
    .command('info')
    .description('Show the local member: ID, name, peer and client URLs, learner or not')
    .addOption(new Option('-o, --output <format>', 'json, yaml or table').choices(['json', 'yaml', 'table']).default('json'));
  info.addHelpText('after', '\nExample:\n  etcdadm info -o table\n');
  info.action(
    act(async (log, opts) => {
      const plan = await recordedPlan(opts, log);
      stdout(formatInfo(await localMemberInfo(plan), String(opts.output)));
    }),
  );

  const download = program.command('download').description('Download an etcd release into the cache and verify its SHA-256');
  addOptions(download, memberOptions('download'));
  download.addHelpText('after', `\nExample:\n  etcdadm download --version 3.5.30\n`);
  download.action(
    act(async (log, opts) => {
      const flags = toMemberFlags(opts);
      const r = await downloadRelease(resolveRelease(flags, await configFile(opts, flags, log)), log.withPhase('download'));
      stdout(r.archivePath);
    }),
  );

  program.addCommand(configCommand(act));
  program.addCommand(statusCommand(act, recordedPlan));
  program.addCommand(memberCommand(act, recordedPlan));
  program.addCommand(versionCommand(CLI_VERSION, act));
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride((err) => {
    // commander already printed the message (and help after errors); keep its exit code
    process.exit(err.exitCode);
  });
  await program.parseAsync(argv);
}

// Run when executed as the CLI (the esbuild bundle, or node build/src/cli/main.js).
const entry = process.argv[1] ?? '';
if (/etcdadm(\.cjs)?$|cli[\\/]main\.js$/.test(entry)) {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = 1;
  });
}
