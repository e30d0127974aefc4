/**
 * `etcdadm member list|add|remove|promote`: membership changes from any member host, through the one
 * implementation in src/cluster/membership.ts (the guards of etcd's runtime-reconfiguration rules included).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { MEMBER_ADD_PHASES, MEMBER_PROMOTE_PHASES, MEMBER_REMOVE_PHASES, type MemberAddOptions, type MemberPromoteOptions, type MemberRemoveOptions } from '../../phases/member.js';
import { action, type AnyCommand } from '../command.js';
import { clusterChangeCommand, type WorkflowSpec } from '../workflow.js';
import { stdout } from '../context.js';
import { formatMemberList, memberListView, OUTPUT_FORMATS, type OutputFormat } from '../output.js';
import { opsOptions, withCluster } from './ops.js';

export function memberCommand(): Command<any, any, any> {
  const member = new Command('member');
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

  /** A membership change: one change of the cluster each. */
  const change = <O>(cmd: AnyCommand, spec: Pick<WorkflowSpec<O>, 'name' | 'phases' | 'options' | 'args' | 'example'> & { flags: Option[] }): void =>
    clusterChangeCommand<O>(cmd, { ...spec, flags: () => spec.flags });

  change<MemberAddOptions>(
    member
      .command('add')
      .description('Add a member by its peer URL (a voting member unless --learner); then start etcd there with --initial-cluster-state existing')
      .argument('<peer-url>', "the new member's peer URL(s), e.g. https://10.0.0.4:2380 (comma-separated for several)"),
    {
      name: 'member add',
      phases: MEMBER_ADD_PHASES,
      options: (inv) => ({
        peerURLs: String(inv.cmd.args[0] ?? '').split(',').map((s) => s.trim()).filter(Boolean),
        learner: inv.opts.learner === true,
        force: inv.opts.force === true,
        ...(typeof inv.opts.name === 'string' && inv.opts.name ? { name: inv.opts.name } : {}),
      }),
      args: [{ spec: '<peer-url>', description: "the new member's peer URL(s)" }],
      flags: [
        new Option('--learner', 'add it as a learner (non-voting until promoted); recommended'),
        new Option('--name <name>', "the new member's name, to print the ETCD_* settings it must start with"),
        new Option('--force', 'add it although another change is pending or the healthy members do not make the new quorum'),
      ],
      example: 'etcdadm join on the new host adds, starts and promotes it in one go; member add is the manual way.\n\nExample:\n  etcdadm member add https://10.0.0.4:2380 --learner --name etcd-d\n  etcdadm member add https://10.0.0.4:2380 --learner --dry-run\n',
    },
  );

  change<MemberRemoveOptions>(
    member
      .command('remove')
      .description('Remove a member (by name, hex ID or peer URL); refused when it would cost quorum, unless --force')
      .argument('<member>', 'name, ID (hex, as etcdctl prints it) or peer URL of the member'),
    {
      name: 'member remove',
      phases: MEMBER_REMOVE_PHASES,
      options: (inv) => ({ target: String(inv.cmd.args[0] ?? ''), force: inv.opts.force === true }),
      args: [{ spec: '<member>', description: 'name, ID (hex) or peer URL of the member' }],
      flags: [new Option('--force', 'remove it even when the quorum guard refuses (the cluster may lose quorum)')],
      example: 'Example:\n  etcdadm member remove etcd-b\n  etcdadm member remove 8e9e05c52164694d\n  etcdadm member remove etcd-b --dry-run\n',
    },
  );

  change<MemberPromoteOptions>(
    member.command('promote').description('Promote a learner to a voting member once it has caught up with the leader').argument('<member>', 'name, ID (hex) or peer URL of the learner'),
    {
      name: 'member promote',
      phases: MEMBER_PROMOTE_PHASES,
      options: (inv) => ({ target: String(inv.cmd.args[0] ?? '') }),
      args: [{ spec: '<member>', description: 'name, ID (hex) or peer URL of the learner' }],
      flags: [],
      example: 'Example:\n  etcdadm member promote etcd-d\n',
    },
  );
  return member;
}
