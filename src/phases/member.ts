/**
 * `etcdadm member add|remove|promote` as phases on the runner: each is one change of the cluster, made by the one
 * implementation in src/cluster/membership.ts (the guards of etcd's runtime-reconfiguration rules included), so that
 * a dry run shows the guards' verdict and the change without making it.
 */
import { addMember, promoteMember, removeMember } from '../cluster/membership.js';
import { memberLabel, memberTitle } from '../cluster/quorum.js';
import { phase, type Phase } from '../run/phase.js';

export interface MemberAddOptions {
  peerURLs: string[];
  learner: boolean;
  force: boolean;
  /** The new member's name: print the ETCD_* settings it must start with. */
  name?: string;
}

const add: Phase<MemberAddOptions> = phase<undefined, undefined, MemberAddOptions>({
  name: 'add',
  short: 'Add the member after the quorum and one-change-at-a-time guards (a learner with --learner)',
  async act(ctx) {
    const o = ctx.options;
    const r = await addMember(await ctx.cluster(), o.peerURLs, { log: ctx.log, learner: o.learner, force: o.force, whenPending: 'refuse' });
    if (ctx.dryRun) return;
    ctx.out(`Member ${r.member.idHex} ${r.existed ? 'is already in' : 'added to'} cluster ${r.clusterIdHex} as ${r.member.isLearner ? 'a learner' : 'a voting member'}`);
    if (o.name) {
      const initial = r.members.flatMap((m) => m.peerURLs.map((u) => `${m.id === r.member.id ? o.name : m.name || m.idHex}=${u}`)).join(',');
      ctx.out('');
      ctx.out(`ETCD_NAME="${o.name}"`);
      ctx.out(`ETCD_INITIAL_CLUSTER="${initial}"`);
      ctx.out(`ETCD_INITIAL_ADVERTISE_PEER_URLS="${r.member.peerURLs.join(',')}"`);
      ctx.out('ETCD_INITIAL_CLUSTER_STATE="existing"');
    }
  },
});

export const MEMBER_ADD_PHASES: readonly Phase<MemberAddOptions>[] = [add];

export interface MemberRemoveOptions {
  /** Name, hex ID or peer URL. */
  target: string;
  force: boolean;
}

const remove: Phase<MemberRemoveOptions> = phase<undefined, undefined, MemberRemoveOptions>({
  name: 'remove',
  short: 'Remove the member after the quorum guard; leadership moves away first when it leads',
  async act(ctx) {
    const r = await removeMember(await ctx.cluster(), ctx.options.target, { log: ctx.log, force: ctx.options.force });
    if (ctx.dryRun) return;
    const moved = r.leaderMovedTo ? ` (leadership moved to ${memberLabel(r.leaderMovedTo)} first)` : '';
    ctx.out(`Member ${memberTitle(r.removed)} removed${moved}; ${r.members.length} member(s) left`);
  },
});

export const MEMBER_REMOVE_PHASES: readonly Phase<MemberRemoveOptions>[] = [remove];

export interface MemberPromoteOptions {
  target: string;
}

const promote: Phase<MemberPromoteOptions> = phase<undefined, undefined, MemberPromoteOptions>({
  name: 'promote',
  short: 'Promote the learner once it has caught up with the leader',
  async act(ctx) {
    const m = await promoteMember(await ctx.cluster(), ctx.options.target, { log: ctx.log });
    if (!ctx.dryRun) ctx.out(`Member ${memberTitle(m)} is a voting member`);
  },
});

export const MEMBER_PROMOTE_PHASES: readonly Phase<MemberPromoteOptions>[] = [promote];
