/** `etcdadm download`: fetch an etcd release into the cache and verify its SHA-256; prints the archive path. */
import { Command } from '@commander-js/extra-typings';
import { resolvePlan } from '../../config/plan/index.js';
import { DOWNLOAD_PHASES } from '../../phases/download.js';
import { workflowCommand } from '../workflow.js';

export function downloadCommand(): Command<any, any, any> {
  const cmd = new Command('download');
  workflowCommand<Record<string, never>>(cmd, {
    name: 'download',
    set: 'download',
    phases: DOWNLOAD_PHASES,
    useRecord: false,
    unprivileged: true,
    rollback: true,
    options: () => ({}),
    // a download sets up no member: its plan is made on neutral host facts (TEST-NET-1), so it works on a host without any address
    plan: async (inv, layers) => resolvePlan(layers, { ...(await inv.host.facts()), hostname: 'download', addresses: [{ iface: 'eth0', address: '192.0.2.1', family: 4, internal: false }], defaultRouteIfaces: ['eth0'] }),
    contextEndpoints: () => [],
    example: 'Example:\n  etcdadm download --version 3.5.30\n',
  });
  return cmd;
}
