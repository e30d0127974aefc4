/**
 * `etcdadm version`: the CLI's own version (never on --version, which is etcd's, as in etcdadm): version, git
 * commit, build date (the commit's date: reproducible builds) and the runtime that runs it — embedded in the
 * executable, or the node on PATH for the bundle.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { isSea } from 'node:sea';
import { action } from '../command.js';
import { stdout } from '../context.js';

declare const ETCDADM_COMMIT: string | undefined;
declare const ETCDADM_BUILD_DATE: string | undefined;

export interface VersionInfo {
  version: string;
  gitCommit: string;
  buildDate: string;
  runtime: string;
  platform: string;
}

export function versionInfo(version: string): VersionInfo {
  return {
    version: `v${version}`,
    gitCommit: typeof ETCDADM_COMMIT === 'string' ? ETCDADM_COMMIT : 'unknown',
    buildDate: typeof ETCDADM_BUILD_DATE === 'string' ? ETCDADM_BUILD_DATE : 'unknown',
    runtime: `node ${process.version}${isSea() ? ' (embedded)' : ` (${process.execPath})`}`,
    platform: `${process.platform}/${process.arch}`,
  };
}

export function versionCommand(version: string): Command<any, any, any> {
  const cmd = new Command('version')
    .addOption(new Option('--short', 'print only the version number'))
    .addOption(new Option('-o, --output <format>', 'output format: json or yaml').choices(['json', 'yaml']));
  cmd.addHelpText('after', '\nExample:\n  etcdadm version --short\n  etcdadm version -o json\n');
  cmd.action(
    action(async ({ opts }) => {
      const info = versionInfo(version);
      if (opts.output === 'json') stdout(JSON.stringify(info, null, 2));
      else if (opts.output === 'yaml') stdout((await import('yaml')).stringify(info).trimEnd());
      else if (opts.short) stdout(info.version);
      else stdout(`etcdadm version: ${JSON.stringify(info)}`);
    }),
  );
  return cmd;
}
