/**
 * How `init --snapshot` restores a snapshot into a data dir (pure): the tool (etcdutl on 3.5+, etcdctl on 3.4), its
 * arguments, and the revision bump. etcd's recovery guide advises restoring with `--bump-revision` and
 * `--mark-compacted` where clients watch (Kubernetes): a restored cluster otherwise serves revisions again that
 * watchers have already seen with other contents, and the bump makes every old revision a compacted one, so those
 * watchers start over instead of missing changes.
 */
import { EtcdadmError } from '../errors.js';

/** etcd's restore flags take a uint64; a billion is far beyond the writes any cluster makes between two snapshots. */
export const DEFAULT_BUMP_REVISION = 1_000_000_000;
const MAX_BUMP_REVISION = 2n ** 62n;

/** `--bump-revision` as given (undefined: the default); 0 restores the revisions as they are. */
export function parseBumpRevision(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_BUMP_REVISION;
  if (!/^\d+$/.test(raw.trim()) || BigInt(raw.trim()) > MAX_BUMP_REVISION)
    throw new EtcdadmError(`invalid --bump-revision "${raw}": must be a whole number from 0 to 2^62`, { hint: `use ${DEFAULT_BUMP_REVISION} (the default) or 0 to keep the revisions as they are`, exitCode: 2 });
  return Number(raw.trim());
}

export interface RestoreInput {
  file: string;
  name: string;
  initialCluster: string;
  token: string;
  peerUrls: string[];
  dataDir: string;
  /** The installed etcd has etcdutl (3.5+); else 3.4's etcdctl restores. */
  etcdutl: boolean;
  /** The restore tool offers --bump-revision/--mark-compacted (etcdutl 3.5.10+, 3.6, 3.7). */
  supportsBump: boolean;
  bumpRevision: number;
}

export interface RestoreInvocation {
  args: string[];
  /** Extra environment (3.4's etcdctl needs ETCDCTL_API=3). */
  env: Record<string, string>;
  /** The bump applied (0: none). */
  bumped: number;
  /** Why no bump was applied although one was asked for, if so. */
  warning?: string;
}

export function restoreInvocation(i: RestoreInput): RestoreInvocation {
  const args = [
    'snapshot', 'restore', i.file,
    '--name', i.name,
    '--initial-cluster', i.initialCluster,
    '--initial-cluster-token', i.token,
    '--initial-advertise-peer-urls', i.peerUrls.join(','),
    '--data-dir', i.dataDir,
  ];
  const env: Record<string, string> = i.etcdutl ? {} : { ETCDCTL_API: '3' };
  if (i.bumpRevision === 0) return { args, env, bumped: 0 };
  if (!i.supportsBump)
    return {
      args,
      env,
      bumped: 0,
      warning: `this etcd's ${i.etcdutl ? 'etcdutl' : 'etcdctl'} cannot bump the revision (etcdutl 3.5.10 and later can): the restored cluster serves the snapshot's revisions again, so restart every client that watches (e.g. the Kubernetes API servers)`,
    };
  return { args: [...args, '--bump-revision', String(i.bumpRevision), '--mark-compacted'], env, bumped: i.bumpRevision };
}
