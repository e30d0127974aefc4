/**
 * etcdadm's command line: the program and its commands (one module each under cli/commands/). Parsing and help
 * only; every action goes through cli/command.ts (root, lock, record, plan, run context, one-line errors).
 *
 * Only the command being run is loaded: every other command is a stub with its name and description (enough for
 * `etcdadm --help` and commander's "unknown command" suggestions). A command's module, and the gRPC client, PKI
 * and S3 code it imports, are loaded by `import()` when that command runs — in the bundle too (esbuild keeps a
 * module reached only through `import()` uninitialised until then).
 */
import { Command, Option } from '@commander-js/extra-typings';

declare const ETCDADM_VERSION: string | undefined;
export const CLI_VERSION = typeof ETCDADM_VERSION === 'string' ? ETCDADM_VERSION : '0.0.0-dev';

export interface CommandEntry {
  name: string;
  /** The command's one-line description, here once: the stub and the loaded command both show it. */
  description: string;
  load: () => Promise<Command<any, any, any>>;
}

/** Every top-level command, in the order `--help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'init', description: 'Initialize a new etcd cluster: install etcd, create the PKI, start a one-member cluster and print the join command', load: async () => (await import('./commands/lifecycle.js')).initCommand() },
  { name: 'join', description: 'Join this host to an existing cluster: certificates from the cluster CA, install etcd, add the member, start it', load: async () => (await import('./commands/lifecycle.js')).joinCommand() },
  { name: 'reset', description: 'Remove this member from its cluster and remove etcd, its data and its certificates from this host', load: async () => (await import('./commands/lifecycle.js')).resetCommand() },
  { name: 'apply', description: 'Make the hosts of a Cluster document match it, from this machine over SSH: bare hosts bootstrapped together, later edits carried out one safe step at a time (--dry-run prints the plan)', load: async () => (await import('./commands/apply.js')).applyCommand() },
  { name: 'adopt', description: 'Take over a member set up by etcdadm v0.1.x: derive the host record from its files and write it', load: async () => (await import('./commands/adopt.js')).adoptCommand() },
  { name: 'info', description: 'Show the local member: ID, name, peer and client URLs, learner or not', load: async () => (await import('./commands/info.js')).infoCommand() },
  { name: 'download', description: 'Download an etcd release into the cache and verify its SHA-256', load: async () => (await import('./commands/download.js')).downloadCommand() },
  { name: 'config', description: 'Print, validate and view etcdadm configuration documents', load: async () => (await import('./commands/config.js')).configCommand() },
  { name: 'status', description: "Show the health of the whole cluster: every member's role, health, version, DB size and raft state, quorum and how many members it can lose", load: async () => (await import('./commands/status.js')).statusCommand() },
  { name: 'member', description: 'List, add, remove and promote cluster members (from any member host)', load: async () => (await import('./commands/member.js')).memberCommand() },
  { name: 'recover', description: 'On the one surviving member of a cluster that lost quorum for good: restart it once with --force-new-cluster on its own data (copied aside first), leaving a one-member cluster that new hosts can join', load: async () => (await import('./commands/recover.js')).recoverCommand() },
  { name: 'upgrade', description: 'Rolling upgrades of etcd: plan the move of the whole cluster, apply it member by member', load: async () => (await import('./commands/upgrade.js')).upgradeCommand() },
  { name: 'reconfigure', description: 'Roll this member onto changed settings (etcd.env): hand leadership away, restart, wait until it has caught up; put back when it does not come back healthy', load: async () => (await import('./commands/reconfigure.js')).reconfigureCommand() },
  { name: 'check', description: 'The doctor: named checks of the cluster (members, versions, data hashes, quota, fragmentation, alarms, disk latency, peers, leader changes, certificates, learners, backups), each with its verdict, measured value and fix', load: async () => (await import('./commands/check.js')).checkCommand() },
  { name: 'defrag', description: 'Defragment this member, or every member one at a time (followers first, the leader last), when enough of its file is free', load: async () => (await import('./commands/maintenance.js')).defragCommand() },
  { name: 'alarm', description: 'List and disarm the cluster\'s alarms (NOSPACE, CORRUPT)', load: async () => (await import('./commands/maintenance.js')).alarmCommand() },
  { name: 'maintain', description: 'Recover from a full database (NOSPACE): compact, defragment every member, check the quota, disarm the alarm', load: async () => (await import('./commands/maintenance.js')).maintainCommand() },
  { name: 'monitoring', description: "Prometheus alert rules for this cluster, with etcd's own thresholds", load: async () => (await import('./commands/maintenance.js')).monitoringCommand() },
  { name: 'snapshot', description: "Snapshots of the cluster's data: save, list, verify, prune", load: async () => (await import('./commands/snapshot.js')).snapshotCommand() },
  { name: 'backup', description: 'Scheduled snapshots of the local member: schedule, unschedule, run, status', load: async () => (await import('./commands/backup.js')).backupCommand() },
  { name: 'certs', description: "The cluster's certificates on this host: expiry, renewal, bundles for joins without the CA key", load: async () => (await import('./commands/certs.js')).certsCommand() },
  { name: 'version', description: "Print etcdadm's own version", load: async () => (await import('./commands/version.js')).versionCommand(CLI_VERSION) },
  { name: 'completion', description: 'Print the shell completion script for bash, zsh or fish: commands, subcommands, flags, phase names and flag choices', load: async () => (await import('./commands/completion.js')).completionCommand(wholeTree) },
];

/**
 * Commands that are not for people: not listed by --help, nor in completion scripts and man pages, and loaded only
 * when invoked by name. `host-agent` is the far end of an SSH Host (src/host/ssh.ts).
 */
export const HIDDEN_COMMANDS: readonly CommandEntry[] = [
  { name: 'host-agent', description: 'Serve an SSH Host: requests on stdin, answers on stdout (started over ssh by another etcdadm)', load: async () => (await import('./commands/host-agent.js')).hostAgentCommand() },
];

/** Every command's definition as data (completion without the tree a build embeds). */
async function wholeTree() {
  const { describeCommand } = await import('./tree.js');
  return describeCommand(await buildProgram('all'));
}

const GLOBAL_VALUE_FLAGS = new Set(['-l', '--log-level', '--log-format']);

/** The top-level command named in argv (argv without node and script), or undefined (`--help`, nothing, a typo). */
export function invokedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (GLOBAL_VALUE_FLAGS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    // `etcdadm help init` shows init's help: init is the command to load
    if (a === 'help') return args.slice(i + 1).find((x) => !x.startsWith('-'));
    return a;
  }
  return undefined;
}

function programShell(): Command<any, any, any> {
  const program = new Command()
    .name('etcdadm')
    .description('Create and operate TLS-secured etcd clusters on Linux hosts')
    .addOption(new Option('-l, --log-level <level>', 'log level: debug, info, warn, error').default('info'))
    .addOption(new Option('--log-format <format>', 'log format: text or json').default('text'))
    .showHelpAfterError()
    .enablePositionalOptions(false);
  program.addHelpText('after', `\nExample:\n  etcdadm init\n  etcdadm join https://10.0.0.1:2379\n  etcdadm reset\n`);
  return program;
}

async function loaded(entry: CommandEntry): Promise<Command<any, any, any>> {
  return (await entry.load()).description(entry.description);
}

/**
 * The program for one invocation: the command named in `args` loaded, the others as stubs (`load: 'all'` loads
 * every command: what completion scripts and man pages are generated from).
 */
export async function buildProgram(args: readonly string[] | 'all' = 'all'): Promise<Command<any, any, any>> {
  const program = programShell();
  const wanted = args === 'all' ? undefined : invokedCommand(args);
  for (const entry of COMMANDS) {
    if (args === 'all' || entry.name === wanted) program.addCommand(await loaded(entry));
    else program.command(entry.name).description(entry.description);
  }
  const hidden = args === 'all' ? undefined : HIDDEN_COMMANDS.find((e) => e.name === wanted);
  if (hidden) program.addCommand(await loaded(hidden), { hidden: true });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv.slice(2));
  program.exitOverride((err) => {
    // commander already printed the message (and help after errors); keep its exit code
    process.exit(err.exitCode);
  });
  await program.parseAsync(argv);
  // Every command closes what it opened; should anything still hold the event loop (a socket the kernel keeps
  // connecting), the command still ends by its own deadline: monitoring calls `status` with a timeout.
  setTimeout(() => process.exit(), 1000).unref();
}

/** Run main as the CLI, failures as one line. */
export function runCli(): void {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = 1;
  });
}

// Run when executed as the CLI from the compiled tree (node build/src/cli/main.js); the bundle and the executable
// start at cli/entry.ts.
if (/cli[\\/]main\.js$/.test(process.argv[1] ?? '')) runCli();
