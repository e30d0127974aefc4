/** `etcdadm version`: the CLI's own version (never on --version, which is etcd's, as in etcdadm). */
import { Command, Option } from '@commander-js/extra-typings';
import { stringify } from 'yaml';
import { EtcdadmError } from '../../errors.js';
import { action } from '../command.js';
import { stdout } from '../context.js';

declare const ETCDADM_COMMIT: string | undefined;

export function versionInfo(version: string) {
  return {
    version: `v${version}`,
    gitCommit: typeof ETCDADM_COMMIT === 'string' ? ETCDADM_COMMIT : 'unknown',
    nodeVersion: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
}

export function versionCommand(version: string): Command<any, any, any> {
  const cmd = new Command('version')
    .description("Print etcdadm's own version")
    .addOption(new Option('--short', 'print only the version number'))
    .addOption(new Option('-o, --output <format>', 'output format: json or yaml').choices(['json', 'yaml']));
  cmd.addHelpText('after', '\nExample:\n  etcdadm version --short\n  etcdadm version -o json\n');
  cmd.action(
    action(async ({ opts }) => {
      const info = versionInfo(version);
      if (opts.output === 'json') stdout(JSON.stringify(info, null, 2));
      else if (opts.output === 'yaml') stdout(stringify(info).trimEnd());
      else if (opts.short) stdout(info.version);
      else if (opts.output !== undefined) throw new EtcdadmError(`invalid --output ${String(opts.output)}`, { exitCode: 2 });
      else stdout(`etcdadm version: ${JSON.stringify(info)}`);
    }),
  );
  return cmd;
}
