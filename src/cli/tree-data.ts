/**
 * The command tree of this build: embedded at build time in the bundle and the executable (ETCDADM_CLI_TREE, made
 * by scripts/bundle.mjs from the same definitions), or built by `whole` from every command when run from the
 * compiled tree (development, tests).
 */
import type { CliCommand } from './tree.js';

declare const ETCDADM_CLI_TREE: string | undefined;

export async function cliTree(whole: () => Promise<CliCommand>): Promise<CliCommand> {
  if (typeof ETCDADM_CLI_TREE === 'string') return JSON.parse(ETCDADM_CLI_TREE) as CliCommand;
  return whole();
}
