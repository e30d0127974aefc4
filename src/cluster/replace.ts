/**
 * `etcdadm join --replace <member>`: the one-step replacement of a failed host, decided here (pure). The member the
 * operator names (name, hex ID or peer URL) is removed — through the same quorum guard as `member remove` — and this
 * host joins in its place as every join does, learner first. Rules:
 *
 * - a member that still answers is never replaced: only one whose client URLs all fail to answer (its host is gone,
 *   or etcd there is stopped for good). Moving a working member is `reset` there and `join` here;
 * - the new member takes the replaced one's name unless --name (or member.name in --config) says otherwise;
 * - crash-safe: the replacement is written to the host record before the removal, so a run that stopped after the
 *   removal finds the member gone, knows why, and goes on with the join (under the same name).
 */
import { memberTitle } from './quorum.js';
import type { MemberStatus } from './status.js';
import type { RecordFacts } from '../host/record.js';

/** The member removed by an earlier run of `join --replace` on this host (host record). */
export type Replaced = NonNullable<RecordFacts['replaced']>;

export type ReplaceDecision =
  /** Remove this member, then join. */
  | { kind: 'remove'; id: string; name: string; why: string }
  /** An earlier run removed it already: join under its name. */
  | { kind: 'gone'; id: string; name: string; why: string }
  | { kind: 'refuse'; message: string; hint: string; exitCode: number };

type Listed = Pick<MemberStatus, 'name' | 'id' | 'peerURLs' | 'clientURLs' | 'health'>;

function normalizeId(t: string): string | undefined {
  const s = t.trim().replace(/^0x/i, '').toLowerCase();
  return /^[0-9a-f]{1,16}$/.test(s) ? s.replace(/^0+(?=.)/, '') : undefined;
}

/** The members `target` names: by name, else by hex ID, else by peer URL. */
export function matchMembers<M extends Pick<Listed, 'name' | 'id' | 'peerURLs'>>(members: readonly M[], target: string): M[] {
  const t = target.trim();
  const byName = members.filter((m) => m.name !== '' && m.name === t);
  if (byName.length > 0) return byName;
  const id = normalizeId(t);
  const byId = id ? members.filter((m) => m.id === id) : [];
  if (byId.length > 0) return byId;
  const url = t.replace(/\/+$/, '');
  return members.filter((m) => m.peerURLs.includes(url));
}

function named(r: Replaced, target: string): boolean {
  const id = normalizeId(target);
  return r.name === target.trim() || (id !== undefined && r.id === id);
}

/**
 * What `join --replace <target>` does, from the member list with health as this host sees it and what an earlier run
 * recorded. The quorum guard itself is the removal's (cluster/membership.ts removeMember).
 */
export function decideReplacement(members: readonly Listed[], target: string, before: Replaced | undefined): ReplaceDecision {
  const found = matchMembers(members, target);
  if (found.length > 1)
    return { kind: 'refuse', message: `several members match "${target}": ${found.map((x) => memberTitle({ name: x.name, idHex: x.id })).join(', ')}`, hint: 'name the member to replace by its ID (etcdadm member list)', exitCode: 2 };
  const m = found[0];
  if (!m) {
    if (before && named(before, target))
      return { kind: 'gone', id: before.id, name: before.name, why: `member ${memberTitle({ name: before.name, idHex: before.id })} was removed by an earlier run of this join; joining in its place` };
    return {
      kind: 'refuse',
      message: `no member is named "${target}" or has it as ID or peer URL, so there is nothing to replace`,
      hint: `the members are ${members.map((x) => memberTitle({ name: x.name, idHex: x.id })).join(', ') || 'none'}; to add this host without replacing one, run join without --replace`,
      exitCode: 2,
    };
  }
  const title = memberTitle({ name: m.name, idHex: m.id });
  if (m.health !== 'unreachable')
    return {
      kind: 'refuse',
      message: `member ${title} still answers at ${m.clientURLs.join(',') || m.peerURLs.join(',')} (${m.health}): a member that answers is not replaced`,
      hint: `to move a working member, run 'etcdadm reset' on its host and join this one; if its host is failing, stop etcd there for good first`,
      exitCode: 2,
    };
  return { kind: 'remove', id: m.id, name: m.name, why: `member ${title} does not answer at ${m.clientURLs.join(',') || '(no client URL)'}; it will be removed and this host joins in its place` };
}
