/** `etcdadm init`, `join` and `reset`: the phase workflows, each with `phase <name>` subcommands, --skip-phases and --dry-run. */
import { Command, Option } from '@commander-js/extra-typings';
import { resolve } from 'node:path';
import { INIT_PHASES, type InitOptions } from '../../phases/init.js';
import { JOIN_PHASES, type JoinOptions } from '../../phases/join.js';
import { withClusterVersion } from '../../phases/join-version.js';
import { RESET_PHASES, type ResetOptions } from '../../phases/reset.js';
import { joinEndpoints, memberEndpoints } from '../../run/context.js';
import { parseInitialCluster } from '../../config/urls.js';
import { parseS3Url, s3Options } from '../../s3/location.js';
import { DEFAULT_BUMP_REVISION } from '../../snapshot/restore.js';
import type { Invocation } from '../command.js';
import { workflowCommand } from '../workflow.js';

/** init's options: --force, and --snapshot (a file, or s3://bucket/key whose endpoint the --s3-* options give). */
export function initOptions(inv: Invocation): InitOptions {
  const o = inv.opts;
  const snapshot = typeof o.snapshot === 'string' ? o.snapshot : undefined;
  return {
    force: o.force === true,
    ...(snapshot?.startsWith('s3://') ? { snapshotFrom: parseS3Url(snapshot, o) } : snapshot !== undefined ? { snapshot } : {}),
    ...(typeof o.bumpRevision === 'string' ? { bumpRevision: o.bumpRevision } : {}),
    ...(typeof o.initialCluster === 'string' ? { initialCluster: parseInitialCluster(o.initialCluster) } : {}),
    ...(typeof o.clusterToken === 'string' ? { clusterToken: o.clusterToken } : {}),
    ...(typeof o.certsBundle === 'string' ? { certsBundle: resolve(o.certsBundle) } : {}),
  };
}

export function initCommand(): Command<any, any, any> {
  const cmd = new Command('init');
  workflowCommand<InitOptions>(cmd, {
    name: 'init',
    set: 'init',
    phases: INIT_PHASES,
    useRecord: false,
    rollback: true,
    options: initOptions,
    contextEndpoints: (plan) => [plan.member.urls.localClient],
    extraOptions: () => [
      new Option('--snapshot <file>', 'restore the new cluster from this etcd snapshot, a file or s3://bucket/key (checked before anything is installed)'),
      new Option('--bump-revision <n>', `with --snapshot: raise the restored revision by n and mark the older ones compacted, so watchers (Kubernetes) start over; 0 keeps the revisions (default: ${DEFAULT_BUMP_REVISION} where the etcd restoring has it, 3.5.10+)`),
      new Option('--force', 'take over a host where etcd already runs or the data dir holds a member (the data dir is moved aside, never deleted)'),
      new Option('--initial-cluster <members>', "bootstrap several members together (etcd's static bootstrap): every member, this one included, as name=https://host:2380, comma-separated; run init on each with the same list and --cluster-token"),
      new Option('--cluster-token <token>', 'with --initial-cluster: the token every member shares (its member and cluster IDs derive from it)'),
      new Option('--certs-bundle <file>', "this host's certificates from 'etcdadm certs bundle' on a CA host, instead of a CA here"),
      // for --snapshot s3://bucket/key: the endpoint, region, path style, CA and credentials file
      ...s3Options().filter((o) => !/--s3-(bucket|prefix)\b/.test(o.flags)),
    ],
    example: 'Example:\n  etcdadm init\n  etcdadm init --snapshot /var/backups/etcdadm/etcd-snapshot-node-a-20261201T120000.000Z.db\n  etcdadm init --version 3.5.30 --release-url file:///srv/etcd-releases --name etcd-a\n  etcdadm init --skip-phases etcdctl\n  etcdadm init --dry-run\n',
  });
  return cmd;
}

export function joinCommand(): Command<any, any, any> {
  const cmd = new Command('join')
    .argument('[endpoints...]', 'client URL(s) of existing members, e.g. https://10.0.0.1:2379 (comma-separated or several; or join.endpoints in --config)');
  workflowCommand<JoinOptions>(cmd, {
    name: 'join',
    set: 'join',
    phases: JOIN_PHASES,
    endpoints: true,
    useRecord: false,
    rollback: true,
    options: (inv) => ({
      force: inv.opts.force === true,
      ...(typeof inv.opts.certsBundle === 'string' ? { certsBundle: resolve(inv.opts.certsBundle) } : {}),
      ...(typeof inv.opts.replace === 'string' ? { replace: inv.opts.replace } : {}),
    }),
    contextEndpoints: (plan) => joinEndpoints(plan),
    discover: (inv, layers, facts, log) =>
      withClusterVersion(inv.host, layers, facts, log, {
        ...(typeof inv.opts.certsBundle === 'string' ? { certsBundle: resolve(inv.opts.certsBundle) } : {}),
        ...(typeof inv.opts.replace === 'string' ? { replace: { target: inv.opts.replace, before: inv.record.facts?.replaced } } : {}),
      }),
    extraOptions: () => [
      new Option('--force', 'join even when the data dir belongs to another cluster (it is moved aside, never deleted)'),
      new Option('--replace <member>', 'take the place of a failed member (name, ID or peer URL): it is removed through the quorum guard (refused while it still answers) and this host joins under its name'),
      new Option('--certs-bundle <file>', "this host's certificates from 'etcdadm certs bundle' on a CA host, instead of copying ca.key here"),
    ],
    example: 'Before joining, copy the cluster CA from a member:\n  rsync -avR /etc/etcd/pki/ca.* <this host>:/\nor, keeping ca.key on the CA hosts, make a bundle there (etcdadm certs bundle --name <this host> --address <its IP>).\n\nExample:\n  etcdadm join https://10.0.0.1:2379\n  etcdadm join --certs-bundle /root/host2.bundle https://10.0.0.1:2379\n  etcdadm join --replace etcd-c https://10.0.0.1:2379   (etcd-c\'s host failed for good)\n',
  });
  return cmd;
}

export function resetCommand(): Command<any, any, any> {
  const cmd = new Command('reset');
  workflowCommand<ResetOptions>(cmd, {
    name: 'reset',
    set: 'reset',
    phases: RESET_PHASES,
    useRecord: true,
    // on a host etcdadm v0.1.x set up, what its files say (custom dirs included) is what reset removes: no --adopt
    legacy: 'use',
    // until the member left its cluster (remove-member commits); after that a failed reset is finished by running it again
    rollback: true,
    options: (inv) => ({ force: inv.opts.force === true, skipRemoveMember: inv.opts.skipRemoveMember === true }),
    contextEndpoints: memberEndpoints,
    extraOptions: () => [
      new Option('--skip-remove-member', 'do not remove the member from the cluster (its data dir is then moved aside, not deleted)'),
      new Option('--force', 'reset even the last member of a cluster, or when the cluster cannot be reached (the data dir is moved aside)'),
    ],
    example: 'reset acts on what init/join recorded in /etc/etcd/etcdadm.yaml; the flags only fill in when there is no record.\n\nExample:\n  etcdadm reset\n  etcdadm reset --dry-run\n  etcdadm reset phase remove-member\n',
  });
  return cmd;
}
