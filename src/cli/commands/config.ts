/**
 * `etcdadm config`: the configuration document. `print init-defaults|join-defaults` (a complete, commented, valid
 * document), `validate --config FILE`, and `view` (the settings this host was set up with, from its record).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { PATHS } from '../../config/defaults.js';
import { CONFIG_API_VERSION } from '../../config/document.js';
import { clusterDocument, defaultsDocument, loadConfigFile } from '../../config/file.js';
import { mergeSettings } from '../../config/settings.js';
import { EtcdadmError } from '../../errors.js';
import { action } from '../command.js';
import { stdout } from '../context.js';
import { render } from '../output.js';
import { stringify } from 'yaml';

export function configCommand(): Command<any, any, any> {
  const config = new Command('config');
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
      .action(action(async () => void process.stdout.write(defaultsDocument(kind))));
  }
  print
    .command('cluster-defaults')
    .description('Print a commented Cluster document (the whole cluster, for etcdadm apply -f): ssh, hosts and every section at its default')
    .addHelpText('after', '\nExample:\n  etcdadm config print cluster-defaults > cluster.yaml\n')
    .action(action(async () => void process.stdout.write(clusterDocument())));
  print.addHelpText('after', '\nExample:\n  etcdadm config print init-defaults\n  etcdadm config print cluster-defaults\n');

  config
    .command('validate')
    .description('Check a configuration document: every error names the field, the file and the line')
    .addOption(new Option('--config <file>', 'the document to check').makeOptionMandatory())
    .addOption(new Option('--version <version>', 'the etcd version it will run with (for version-dependent checks)'))
    .addHelpText('after', '\nExample:\n  etcdadm config validate --config /etc/etcdadm/init.yaml\n')
    .action(
      action(async ({ log, opts }) => {
        const file = String(opts.config);
        await loadConfigFile(file, { ...(typeof opts.version === 'string' ? { etcdVersion: opts.version } : {}), onWarning: (w) => log.warn(w) });
        stdout(`${file}: valid`);
      }),
    );

  config
    .command('view')
    .description(`Show the configuration this host was set up with (from ${PATHS.recordFile}), every field with the value in effect`)
    .addOption(new Option('-o, --output <format>', 'yaml or json').choices(['yaml', 'json']).default('yaml'))
    .addHelpText('after', '\nExample:\n  etcdadm config view\n  etcdadm config view -o json\n')
    .action(
      action(
        async ({ record, opts }) => {
          const layer = record.layer();
          const facts = record.facts;
          if (!layer || !facts) throw new EtcdadmError(`this host has no record of an etcdadm setup (${record.path})`, { hint: 'run etcdadm init or join first' });
          const kind = facts.createdBy === 'join' ? 'JoinConfiguration' : 'InitConfiguration';
          const { join, ...rest } = mergeSettings([layer]);
          const doc = { apiVersion: CONFIG_API_VERSION, kind, ...rest, ...(kind === 'JoinConfiguration' ? { join } : {}) };
          if (opts.output === 'json') return stdout(render(doc, 'json', () => ''));
          const header = record.derivedFrom
            ? `# What ${record.derivedFrom} set up for ${facts.memberName}, derived from its files (no record written: etcdadm adopt writes it)`
            : `# The settings ${facts.memberName} was set up with (${facts.createdBy}${facts.adopted ? `, adopted from ${facts.adopted.from} at ${facts.adopted.at}` : ''}, ${record.updatedAt ?? 'unknown time'})`;
          process.stdout.write(`${header}\n${stringify(doc)}`);
        },
        { record: true },
      ),
    );
  return config;
}
