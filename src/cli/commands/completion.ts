/**
 * `etcdadm completion bash|zsh|fish`: the completion script, generated from the command tree. The executable and
 * the bundle carry that tree as data (made at build time from the same definitions, scripts/build.mjs), so this
 * command loads no other command; run from the compiled tree, it builds the tree from every command.
 */
import { Argument, Command } from '@commander-js/extra-typings';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import { action } from '../command.js';
import { cliTree } from '../tree-data.js';
import type { CliCommand } from '../tree.js';

/** `whole`: the tree of every command, for a run without the embedded one (main.ts passes it: no import cycle). */
export function completionCommand(whole: () => Promise<CliCommand>): Command<any, any, any> {
  const cmd = new Command('completion').addArgument(new Argument('<shell>', 'bash, zsh or fish').choices([...SHELLS]));
  cmd.addHelpText(
    'after',
    '\nExample:\n  etcdadm completion bash > /etc/bash_completion.d/etcdadm\n  source <(etcdadm completion bash)\n  etcdadm completion zsh > "${fpath[1]}/_etcdadm"\n  etcdadm completion fish > ~/.config/fish/completions/etcdadm.fish\n',
  );
  cmd.action(action(async ({ cmd }) => void process.stdout.write(completionScript(cmd.processedArgs[0] as Shell, await cliTree(whole)))));
  return cmd;
}
