/**
 * etcdadm's command line: the program and its commands (one module each under cli/commands/). Parsing and help
 * only; every action goes through cli/command.ts (root, lock, record, plan, run context, one-line errors).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { backupCommand } from './commands/backup.js';
import { certsCommand } from './commands/certs.js';
import { configCommand } from './commands/config.js';
import { downloadCommand } from './commands/download.js';
import { infoCommand } from './commands/info.js';
import { initCommand, joinCommand, resetCommand } from './commands/lifecycle.js';
import { memberCommand } from './commands/member.js';
import { recoverCommand } from './commands/recover.js';
import { upgradeCommand } from './commands/upgrade.js';
import { snapshotCommand } from './commands/snapshot.js';
import { statusCommand } from './commands/status.js';
import { versionCommand } from './commands/version.js';

declare const ETCDADM_VERSION: string | undefined;
export const CLI_VERSION = typeof ETCDADM_VERSION === 'string' ? ETCDADM_VERSION : '0.0.0-dev';

export function buildProgram(): Command<any, any, any> {
  const program = new Command()
    .name('etcdadm')
    .description('Create and operate TLS-secured etcd clusters on Linux hosts')
    .addOption(new Option('-l, --log-level <level>', 'log level: debug, info, warn, error').default('info'))
    .addOption(new Option('--log-format <format>', 'log format: text or json').default('text'))
    .showHelpAfterError()
    .enablePositionalOptions(false);
  program.addHelpText('after', `\nExample:\n  etcdadm init\n  etcdadm join https://10.0.0.1:2379\n  etcdadm reset\n`);
  for (const c of [initCommand(), joinCommand(), resetCommand(), infoCommand(), downloadCommand(), configCommand(), statusCommand(), memberCommand(), recoverCommand(), upgradeCommand(), snapshotCommand(), backupCommand(), certsCommand(), versionCommand(CLI_VERSION)])
    program.addCommand(c);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride((err) => {
    // commander already printed the message (and help after errors); keep its exit code
    process.exit(err.exitCode);
  });
  await program.parseAsync(argv);
  // Every command closes what it opened; should anything still hold the event loop (a socket the kernel keeps
  // connecting), the command still ends by its own deadline: monitoring calls `status` with a timeout.
  setTimeout(() => process.exit(), 1000).unref();
}

// Run when executed as the CLI (the esbuild bundle, or node build/src/cli/main.js).
const entry = process.argv[1] ?? '';
if (/etcdadm(\.cjs)?$|cli[\\/]main\.js$/.test(entry)) {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = 1;
  });
}
