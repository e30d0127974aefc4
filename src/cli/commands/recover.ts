/**
 * `etcdadm recover`: on the one surviving member of a cluster that lost quorum for good, a one-member cluster from
 * this member's own data that new hosts can join; as phases (src/phases/recover.ts), the decision in
 * src/cluster/recover.ts.
 */
import { Command } from '@commander-js/extra-typings';
import { RECOVER_PHASES } from '../../phases/recover.js';
import { workflowCommand } from '../workflow.js';

export function recoverCommand(): Command<any, any, any> {
  const cmd = new Command('recover');
  workflowCommand<Record<string, never>>(cmd, {
    name: 'recover',
    set: 'ops',
    phases: RECOVER_PHASES,
    useRecord: true,
    // before the forced start a failure puts the member back (started again, the copy removed); once etcd rewrote its
    // membership (force-new-cluster commits), a recovery is finished by running it again (the record notes where it stands)
    rollback: true,
    options: () => ({}),
    // this member only: its own data decides, and the others are probed one by one with short timeouts
    contextEndpoints: (plan) => [plan.member.urls.localClient],
    example:
      "Refused while quorum holds or any other voting member answers (use 'etcdadm member remove' and 'etcdadm join' then).\n" +
      'Run it again after a crash: the host record notes the recovery under way, and the re-run finishes it.\n\n' +
      'Example:\n  etcdadm recover --dry-run\n  etcdadm recover\n  etcdadm status\n',
  });
  return cmd;
}
