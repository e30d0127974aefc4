/**
 * `etcdadm host-agent` (hidden: not in --help, completion or man pages): the far end of an SSH Host. The operator's
 * etcdadm starts it over ssh on a managed host and drives that host with requests on its stdin; it answers on its
 * stdout (src/host/agent.ts, protocol in src/host/ssh-rpc.ts). Not for people: it speaks only that protocol.
 */
import { Command } from '@commander-js/extra-typings';

export function hostAgentCommand(): Command<any, any, any> {
  return new Command('host-agent').action(async () => {
    const { serveAgent } = await import('../../host/agent.js');
    try {
      await serveAgent(process.stdin, process.stdout);
    } catch (err) {
      process.stderr.write(`error: etcdadm host-agent: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
    process.exit();
  });
}
