/**
 * `etcdadm adopt`: take over a member set up by etcdadm v0.1.x (no host record): show what its files say and write
 * the host record, so that renewals, upgrades, backups and the rest work on it as on a host set up here.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { ADOPT_PHASES, type AdoptOptions } from '../../phases/adopt.js';
import { memberEndpoints } from '../../run/context.js';
import { workflowCommand } from '../workflow.js';

export function adoptCommand(): Command<any, any, any> {
  const cmd = new Command('adopt');
  workflowCommand<AdoptOptions>(cmd, {
    name: 'adopt',
    set: 'ops',
    phases: ADOPT_PHASES,
    useRecord: true,
    legacy: 'adopt',
    rollback: true,
    options: (inv) => ({ verdict: inv.legacy, from: inv.record.derivedFrom }),
    contextEndpoints: memberEndpoints,
    extraOptions: () => [new Option('--version <version>', 'the etcd version this member runs, when neither its etcd binary nor the member itself tells it')],
    example: `adopt writes /etc/etcd/etcdadm.yaml and changes nothing else: etcd keeps running as it is. Run it on each
member host, or pass --adopt to the first command that changes the host. Read commands (status, info, certs
check-expiration, upgrade plan) work on such a host without it.

Example:
  etcdadm adopt --dry-run
  etcdadm adopt
  etcdadm config view
`,
  });
  return cmd;
}
