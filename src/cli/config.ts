/**
 * `etcdadm config`: the configuration document. `print init-defaults|join-defaults` (a complete, commented, valid
 * document), `validate --config FILE`, and `view` (the settings this host was set up with, from its record).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { stringify } from 'yaml';
import { DEFAULTS } from '../config/defaults.js';
import { CONFIG_API_VERSION } from '../config/document.js';
import { defaultsDocument, loadConfigFile } from '../config/file.js';
import { EtcdadmError } from '../errors.js';
import { readState } from '../host/state.js';
import type { Logger } from '../log/logger.js';
import { stdout } from './context.js';

type Act = (fn: (log: Logger, opts: Record<string, unknown>) => Promise<void>) => (...args: unknown[]) => Promise<void>;

export function configCommand(act: Act): Command<any, any, any> {
  const config = new Command('config').description('Print, validate and view etcdadm configuration documents');
  config.addHelpText('after', '\nExample:\n  etcdadm config print init-defaults > etcdadm.yaml\n  etcdadm config validate --config etcdadm.yaml\n  etcdadm init --config etcdadm.yaml\n');

  const print = config.command('print').description('Print a complete, commented configuration document with the defaults');
  for (const [name, kind] of [
    ['init-defaults', 'InitConfiguration'],
    ['join-defaults', 'JoinConfiguration'],
  ] as const) {
    print
      .command(name)
      .description(`Print the defaults as a ${kind} document`)
      .addHelpText('after', `\nExample:\n  etcdadm config print ${name} > etcdadm.yaml\n`)
      .action(act(async () => void process.stdout.write(defaultsDocument(kind))));
  }
  print.addHelpText('after', '\nExample:\n  etcdadm config print init-defaults\n');

  config
    .command('validate')
    .description('Check a configuration document: every error names the field, the file and the line')
    .addOption(new Option('--config <file>', 'the document to check').makeOptionMandatory())
    .addOption(new Option('--version <version>', 'the etcd version it will run with (for version-dependent checks)'))
    .addHelpText('after', '\nExample:\n  etcdadm config validate --config /etc/etcdadm/init.yaml\n')
    .action(
      act(async (log, opts) => {
        const file = String(opts.config);
        await loadConfigFile(file, { ...(typeof opts.version === 'string' ? { etcdVersion: opts.version } : {}), onWarning: (w) => log.warn(w) });
        stdout(`${file}: valid`);
      }),
    );

  config
    .command('view')
    .description(`Show the configuration this host was set up with (from ${DEFAULTS.stateFile})`)
    .addHelpText('after', '\nExample:\n  etcdadm config view\n')
    .action(
      act(async () => {
        const state = await readState(DEFAULTS.stateFile);
        if (!state) throw new EtcdadmError(`this host has no record of an etcdadm setup (${DEFAULTS.stateFile})`, { hint: 'run etcdadm init or join first' });
        if (!state.settings) throw new EtcdadmError(`${DEFAULTS.stateFile} was written by an older etcdadm and holds no settings`, { hint: 'run etcdadm init or join again to record them' });
        const kind = state.createdBy === 'join' ? 'JoinConfiguration' : 'InitConfiguration';
        const { join, ...rest } = state.settings;
        const doc = { apiVersion: CONFIG_API_VERSION, kind, ...rest, ...(kind === 'JoinConfiguration' ? { join } : {}) };
        process.stdout.write(`# The settings ${state.memberName} was set up with (${state.createdBy}, ${state.updatedAt})\n${stringify(doc)}`);
      }),
    );
  return config;
}
