/**
 * Cluster status fixtures for decision tests: a member as `etcdadm status` reports it (healthy follower unless told
 * otherwise) and a cluster of such members, its counts derived from them.
 */
import type { ClusterStatus, MemberStatus } from '../../src/cluster/status.js';

const MiB = 1024 * 1024;

export const memberStatus = (name: string, over: Partial<MemberStatus> = {}): MemberStatus => ({
  name,
  id: name.replace(/\D/g, '') || '1',
  peerURLs: [`https://${name}:2380`],
  clientURLs: [`https://${name}:2379`],
  role: 'follower',
  isLearner: false,
  health: 'healthy',
  endpoint: `https://${name}:2379`,
  version: '3.6.16',
  dbSize: 4 * MiB,
  dbSizeInUse: 3 * MiB,
  raftTerm: 2,
  raftIndex: 10,
  raftAppliedIndex: 10,
  alarms: [],
  error: null,
  ...over,
});

export const clusterStatus = (members: MemberStatus[], over: Partial<ClusterStatus> = {}): ClusterStatus => ({
  clusterId: 'c1',
  version: '3.6.16',
  mixedVersions: false,
  leaderId: '1',
  leaderName: 'm1',
  voters: members.filter((m) => !m.isLearner).length,
  learners: members.filter((m) => m.isLearner).length,
  healthyVoters: members.filter((m) => !m.isLearner && m.health === 'healthy').length,
  quorum: 2,
  hasQuorum: true,
  canLose: 1,
  health: 'healthy',
  problems: [],
  members,
  ...over,
});
