/**
 * `etcdadm member list|add|remove|promote`: membership changes from any member host, through the one
 * implementation in src/cluster/membership.ts (the guards of etcd's runtime-reconfiguration rules included).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { addMember, promoteMember, removeMember } from '../../cluster/membership.js';
import { memberLabel, memberTitle } from '../../cluster/quorum.js';
import { action } from '../command.js';
import { stdout } from '../context.js';
import { formatMemberList, memberListView, OUTPUT_FORMATS, type OutputFormat } from '../output.js';
import { opsOptions, withCluster } from './ops.js';

export function memberCommand(): Command<any, any, any> {
  const member = new Command('member').description('List, add, remove and promote cluster members (from any member host)');
  member.addHelpText(
    'after',
    `
One membership change at a time: add a learner, start it (etcdadm join does both), promote it; remove members one by
one. Removals that would cost quorum are refused unless --force; the leader hands over leadership before it is removed.

Example:
  etcdadm member list -o table
  etcdadm member remove etcd-b
`,
  );
  const withOps = <C extends Command<any, any, any>>(c: C): C => {
    for (const o of opsOptions()) c.addOption(o);
    return c;
  };

  const list = withOps(
    member
      .command('list')
      .description('List the members: ID, started or not, name, peer and client URLs, learner or not')
      .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table')),
  );
  list.addHelpText('after', '\nExample:\n  etcdadm member list\n  etcdadm member list -o json\n');
  list.action(
    action(
      (inv) =>
        withCluster(inv, async (h) => {
          stdout(formatMemberList(memberListView(await h.members()), String(inv.opts.output ?? 'table') as OutputFormat));
        }),
      { record: true },
    ),
  );

  const add = withOps(
    member
      .command('add')
      .description('Add a member by its peer URL (a voting member unless --learner); then start etcd there with --initial-cluster-state existing')
      .argument('<peer-url>', "the new member's peer URL(s), e.g. https://10.0.0.4:2380 (comma-separated for several)")
      .addOption(new Option('--learner', 'add it as a learner (non-voting until promoted); recommended'))
      .addOption(new Option('--name <name>', "the new member's name, to print the ETCD_* settings it must start with"))
      .addOption(new Option('--force', 'add it although another change is pending or the healthy members do not make the new quorum')),
  );
  add.addHelpText('after', '\netcdadm join on the new host adds, starts and promotes it in one go; member add is the manual way.\n\nExample:\n  etcdadm member add https://10.0.0.4:2380 --learner --name etcd-d\n');
  add.action(
    action(
      (inv) =>
        withCluster(inv, async (h) => {
          const peerURLs = String(inv.cmd.args[0] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
          const r = await addMember(h, peerURLs, { log: inv.log, learner: inv.opts.learner === true, force: inv.opts.force === true, whenPending: 'refuse' });
          stdout(`Member ${r.member.idHex} ${r.existed ? 'is already in' : 'added to'} cluster ${r.clusterIdHex} as ${r.member.isLearner ? 'a learner' : 'a voting member'}`);
          if (typeof inv.opts.name === 'string' && inv.opts.name) {
            const name = inv.opts.name;
            const initial = r.members.flatMap((m) => m.peerURLs.map((u) => `${m.id === r.member.id ? name : m.name || m.idHex}=${u}`)).join(',');
            stdout('');
            stdout(`ETCD_NAME="${name}"`);
            stdout(`ETCD_INITIAL_CLUSTER="${initial}"`);
            stdout(`ETCD_INITIAL_ADVERTISE_PEER_URLS="${r.member.peerURLs.join(',')}"`);
            stdout('ETCD_INITIAL_CLUSTER_STATE="existing"');
          }
        }),
      { record: true },
    ),
  );

  const remove = withOps(
    member
      .command('remove')
      .description('Remove a member (by name, hex ID or peer URL); refused when it would cost quorum, unless --force')
      .argument('<member>', 'name, ID (hex, as etcdctl prints it) or peer URL of the member')
      .addOption(new Option('--force', 'remove it even when the quorum guard refuses (the cluster may lose quorum)')),
  );
  remove.addHelpText('after', '\nExample:\n  etcdadm member remove etcd-b\n  etcdadm member remove 8e9e05c52164694d\n');
  remove.action(
    action(
      (inv) =>
        withCluster(inv, async (h) => {
          const r = await removeMember(h, String(inv.cmd.args[0] ?? ''), { log: inv.log, force: inv.opts.force === true });
          const moved = r.leaderMovedTo ? ` (leadership moved to ${memberLabel(r.leaderMovedTo)} first)` : '';
          stdout(`Member ${memberTitle(r.removed)} removed${moved}; ${r.members.length} member(s) left`);
        }),
      { record: true },
    ),
  );

  const promote = withOps(
    member
      .command('promote')
      .description('Promote a learner to a voting member once it has caught up with the leader')
      .argument('<member>', 'name, ID (hex) or peer URL of the learner'),
  );
  promote.addHelpText('after', '\nExample:\n  etcdadm member promote etcd-d\n');
  promote.action(
    action(
      (inv) =>
        withCluster(inv, async (h) => {
          const m = await promoteMember(h, String(inv.cmd.args[0] ?? ''), { log: inv.log });
          stdout(`Member ${memberTitle(m)} is a voting member`);
        }),
      { record: true },
    ),
  );
  return member;
}
