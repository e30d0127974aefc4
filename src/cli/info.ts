/** `etcdadm info`: the local member as etcd sees it. */
import { stringify } from 'yaml';
import type { Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import { clientFor, memberEndpoints } from '../phases/common.js';
import { findSelf } from '../phases/join.js';

export interface MemberInfo {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
  clusterId: string;
}

export async function localMemberInfo(plan: Plan): Promise<MemberInfo> {
  const client = await clientFor(plan, await memberEndpoints(plan));
  try {
    const list = await client.memberList(false);
    const self = findSelf(plan, list.members);
    if (!self)
      throw new EtcdadmError(`this host (${plan.urls.advertisePeer.join(',')}) is not a member of cluster ${list.clusterIdHex}`, {
        hint: 'join it with etcdadm join <endpoint>',
      });
    return { id: self.idHex, name: self.name, peerURLs: self.peerURLs, clientURLs: self.clientURLs, isLearner: self.isLearner, clusterId: list.clusterIdHex };
  } finally {
    client.close();
  }
}

export function formatInfo(info: MemberInfo, output: string): string {
  if (output === 'yaml') return stringify(info).trimEnd();
  if (output === 'table') {
    const rows: [string, string][] = [
      ['ID', info.id],
      ['NAME', info.name],
      ['PEER URLS', info.peerURLs.join(',')],
      ['CLIENT URLS', info.clientURLs.join(',')],
      ['IS LEARNER', String(info.isLearner)],
      ['CLUSTER ID', info.clusterId],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
  }
  return JSON.stringify(info, null, 2);
}
