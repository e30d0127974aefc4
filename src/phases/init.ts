/**
 * `etcdadm init`: a new one-member cluster on this host. Phases, in etcdadm's order after preflight:
 * preflight, install, certificates, snapshot, configure, start, etcdctl, health, backup (only with backup.every in
 * the configuration: the scheduled backups, see phases/backup.ts), cert-renewal (only with pki.autoRenew),
 * defrag-timer (only with defrag.every: phases/defrag-schedule.ts), post-init-instructions.
 */
import { basename, dirname, join } from 'node:path';
import type { Plan } from '../config/types.js';
import { initialCluster } from '../config/urls.js';
import { EtcdadmError } from '../errors.js';
import { moveAside, movedAside } from '../host/dirs.js';
import { waitQuorumRead } from '../cluster/health.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { renderEnvFile, type ClusterFacts } from '../service/render.js';
import { parseBumpRevision, restoreInvocation } from '../snapshot/restore.js';
import {
  checkCA,
  checkSnapshot,
  localSnapshot,
  decideInitTakeover,
  hostProblem,
  observeHost,
  portProblem,
  refuse,
  type HostObservation,
  type InitTakeover,
  type Refusal,
  type SnapshotSource,
} from './preflight.js';
import { readCheckedBundle } from './bundle.js';
import { backupPhase, checkBackupSchedule } from './backup.js';
import { checkRenewalTimer, renewalTimerPhase } from './certs.js';
import { checkDefragSchedule, defragTimerPhase } from './defrag-schedule.js';
import {
  certificatesPhase,
  clusterToken,
  dataDirHasMember,
  ensureDataDirs,
  etcdctlPhase,
  grantServiceUser,
  installPhase,
  newClusterToken,
  recordFacts,
  startPhase,
  waitOptions,
} from './shared.js';

/** init's own options. */
export interface InitOptions extends SnapshotSource {
  /** Take over a host set up before (etcd stopped, its data moved aside). */
  force: boolean;
  /**
   * --initial-cluster: a cluster bootstrapped together (etcd's static bootstrap: every member started with the whole
   * list and one token), this host one of them. Without it, a new one-member cluster.
   */
  initialCluster?: { name: string; peerURLs: string[] }[];
  /** --cluster-token: the token every member of that bootstrap shares (its member and cluster IDs derive from it). */
  clusterToken?: string;
  /** --certs-bundle: this host's certificates signed on a CA host, instead of a CA here. */
  certsBundle?: string;
}

function initClusterFacts(plan: Plan, token: string, members?: InitOptions['initialCluster']): ClusterFacts {
  return { initialCluster: initialCluster(members ?? [{ name: plan.member.name, peerURLs: plan.member.urls.advertisePeer }]), state: 'new', token };
}

/** A cluster token as etcd.env and etcd's ID derivation take it. */
export const CLUSTER_TOKEN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Why a static bootstrap (--initial-cluster) cannot go ahead on this host: this member must be in the list under its
 * name with exactly its peer URLs, a token must be shared, and a snapshot restore is a one-member start. Pure.
 */
export function bootstrapProblem(plan: Plan, o: Pick<InitOptions, 'initialCluster' | 'clusterToken' | 'snapshot' | 'snapshotFrom'>): Refusal | undefined {
  if (!o.initialCluster) return o.clusterToken ? { message: '--cluster-token is for a cluster bootstrapped together', hint: 'give --initial-cluster with every member, or leave out --cluster-token', exitCode: 2 } : undefined;
  const self = o.initialCluster.find((m) => m.name === plan.member.name);
  const mine = [...plan.member.urls.advertisePeer].sort().join(',');
  if (!self)
    return { message: `--initial-cluster does not list this member (${plan.member.name})`, hint: `add ${plan.member.name}=${plan.member.urls.advertisePeer[0]} to it, or pass --name with this host's name in it`, exitCode: 2 };
  if ([...self.peerURLs].sort().join(',') !== mine)
    return { message: `--initial-cluster gives ${plan.member.name} the peer URLs ${self.peerURLs.join(',')}, but this member advertises ${mine}`, hint: 'make them the same (member.advertisePeerURLs, or --initial-cluster)', exitCode: 2 };
  if (!o.clusterToken)
    return { message: 'a cluster bootstrapped together needs one --cluster-token for every member', hint: 'give every member the same --cluster-token (a random string)', exitCode: 2 };
  if (!CLUSTER_TOKEN.test(o.clusterToken)) return { message: `invalid --cluster-token "${o.clusterToken}": letters, digits, ".", "_" and "-", at most 128`, hint: 'use a random string such as the output of: openssl rand -hex 16', exitCode: 2 };
  if (o.snapshot || o.snapshotFrom) return { message: '--snapshot restores a one-member cluster; it cannot be combined with --initial-cluster', hint: 'restore on one host (etcdadm init --snapshot), then join the others', exitCode: 2 };
  return undefined;
}

export const initPreflightPhase: Phase<InitOptions> = phase<HostObservation, { problem?: ReturnType<typeof hostProblem>; takeover: InitTakeover; ports: ReturnType<typeof portProblem> }, InitOptions>({
  name: 'preflight',
  short: 'Check the host before changing it: directories, free space, ports, the CA, the snapshot, an earlier setup',
  long: 'Refuses (unless --force) when etcd already runs here or the data dir holds a member; refuses always when a directory is not dedicated to etcd, its filesystem has too little free space, or a port etcd needs is taken. Records the run in /etc/etcd/etcdadm.yaml.',
  observe: (ctx) => observeHost(ctx),
  decide: (plan, obs, options) => ({
    problem: bootstrapProblem(plan, options) ?? hostProblem(plan, obs),
    takeover: decideInitTakeover(plan, obs, options),
    ports: portProblem(obs.portsTaken),
  }),
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d.problem) refuse(d.problem);
    if (d.takeover.kind === 'refuse') refuse(d.takeover);
    if (d.takeover.kind !== 'take-over' && d.ports) refuse(d.ports);
    const bundle = ctx.options.certsBundle;
    if (bundle) {
      await readCheckedBundle(ctx, bundle);
      if (plan.settings.pki.autoRenew)
        refuse({ message: 'pki.autoRenew is true, but a host set up with a certs bundle holds no CA key to renew with', hint: "leave pki.autoRenew off here: renew on a CA host ('etcdadm certs bundle') and 'etcdadm certs import' the new bundle", exitCode: 2 });
    } else await checkCA(ctx, false);
    await checkSnapshot(ctx);
    await checkBackupSchedule(ctx);
    if (ctx.plan.settings.pki.autoRenew) await checkRenewalTimer(ctx, 'pki.autoRenew is true');
    if (ctx.plan.settings.defrag.every) await checkDefragSchedule(ctx, `defrag.every is ${ctx.plan.settings.defrag.every}`);
    if (d.takeover.kind === 'resume') {
      log.info(`Resuming the interrupted init of ${plan.member.name} recorded in ${plan.files.record}`);
      return;
    }
    if (d.takeover.kind === 'take-over') {
      log.warn('--force: taking over a host where etcd was set up before');
      if (d.takeover.stop) await ctx.init.stop(plan);
      if (d.takeover.moveData) {
        const to = await moveAside(ctx.host, 'data dir', plan.member.dataDir, ctx.record.created(plan.member.dataDir));
        if (to) log.warn(movedAside('data dir', plan.member.dataDir, to));
      }
      if (d.ports) refuse(d.ports);
    }
    // a new cluster always gets a new random token (never an earlier cluster's: its IDs would come back); a cluster
    // bootstrapped together shares the one its members were given
    await ctx.record.begin({ createdBy: 'init', clusterToken: ctx.options.clusterToken ?? newClusterToken(), memberName: plan.member.name, settings: plan.settings });
    log.info('The host is ready for etcd');
  },
});

export const snapshotPhase: Phase = phase<boolean, 'restore' | 'keep', InitOptions>({
  name: 'snapshot',
  short: 'Restore the data dir from a snapshot (--snapshot)',
  long: 'With --snapshot FILE, restores FILE into --data-dir (etcdutl on 3.5+, etcdctl on 3.4) so the new cluster starts with its data. Without --snapshot it does nothing.',
  runIf: (ctx) => (localSnapshot(ctx.options) ? true : 'no --snapshot given; the cluster starts empty'),
  observe: dataDirHasMember,
  decide: (_plan, member) => (member ? 'keep' : 'restore'),
  async dryRun(ctx, decision) {
    if (decision === 'keep') return [`nothing: ${ctx.plan.member.dataDir} already holds a member`];
    return [`restore ${localSnapshot(ctx.options)} into ${ctx.plan.member.dataDir} (0700) with this member's name and peer URLs and a new cluster token`];
  },
  async act(ctx, decision) {
    const { plan, host, log } = ctx;
    const file = localSnapshot(ctx.options)!;
    const dataDir = plan.member.dataDir;
    if (decision === 'keep') {
      log.info(`${dataDir} already holds a member; not restoring the snapshot over it`);
      return;
    }
    await checkSnapshot(ctx);
    const token = clusterToken(ctx);
    await recordFacts(ctx, { clusterToken: token });
    const parent = dirname(dataDir);
    await host.mkdir(parent, 0o755);
    // the restore goes into a temp dir beside the data dir (one filesystem: renamed into place when complete)
    const prefix = `.${basename(dataDir)}.restore-`;
    for (const stale of ((await host.list(parent)) ?? []).filter((n) => n.startsWith(prefix))) await host.removeTree(join(parent, stale));
    const tmp = await host.mkdtemp(join(parent, prefix));
    const useUtl = await host.exists(plan.install.binaries.etcdutl);
    const tool = useUtl ? plan.install.binaries.etcdutl : plan.install.binaries.etcdctl;
    const help = await host.exec(tool, ['snapshot', 'restore', '--help'], useUtl ? {} : { env: { ETCDCTL_API: '3' } });
    const how = restoreInvocation({
      file,
      name: plan.member.name,
      initialCluster: initClusterFacts(plan, token).initialCluster,
      token,
      peerUrls: plan.member.urls.advertisePeer,
      dataDir: join(tmp, 'data'),
      etcdutl: useUtl,
      supportsBump: `${help.stdout}${help.stderr}`.includes('--bump-revision'),
      bumpRevision: parseBumpRevision(ctx.options.bumpRevision),
    });
    if (how.warning) log.warn(how.warning);
    log.info(`Restoring ${file} into ${dataDir} with ${basename(tool)}${how.bumped ? ` (revision raised by ${how.bumped}, older revisions marked compacted)` : ''}`);
    const r = await host.exec(tool, how.args, { env: how.env, timeoutMs: 60 * 60_000 });
    if (r.code !== 0) {
      await host.removeTree(tmp);
      const last = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? '';
      throw new EtcdadmError(`restoring the snapshot ${file} failed: ${last}`, { hint: 'check that the file is an etcd v3 snapshot' });
    }
    const existed = await host.exists(dataDir);
    if (existed) await host.removeTree(dataDir); // preflight proved it holds nothing of etcd's
    await host.rename(join(tmp, 'data'), dataDir);
    await host.removeTree(tmp);
    if (!existed) await recordFacts(ctx, { addCreatedDirs: [dataDir] });
    await grantServiceUser(ctx, 'data');
    log.info(`Restored the snapshot into ${dataDir}`);
  },
});

export const initConfigurePhase: Phase = phase<undefined, undefined, InitOptions>({
  name: 'configure',
  short: 'Write etcd.env, the systemd unit and the host record',
  long: 'Writes /etc/etcd/etcd.env (a new one-member cluster, or with --initial-cluster every member bootstrapped together), the etcd unit (systemd) and /etc/etcd/etcdadm.yaml, the record of what etcdadm set up on this host.',
  async act(ctx) {
    const { plan, host, log } = ctx;
    const token = clusterToken(ctx);
    await recordFacts(ctx, { clusterToken: token });
    await ensureDataDirs(ctx);
    await host.write(plan.files.envFile, renderEnvFile(plan, initClusterFacts(plan, token, ctx.options.initialCluster)), { mode: 0o644 });
    log.info(`Wrote ${plan.files.envFile}`);
    await ctx.init.configure(plan);
    if (plan.service.initSystem === 'systemd') log.info(`Wrote ${plan.service.unitFile}`);
    log.debug(`Recorded this host's setup in ${plan.files.record}`);
  },
});

/** Wait for a quorum read through the local client URL, then record who this member is. */
export async function healthAndRecord(ctx: PhaseContext): Promise<void> {
  const { plan, log } = ctx;
  const url = plan.member.urls.localClient;
  log.info(`Waiting for etcd at ${url} to answer a quorum read (up to ${Math.round(plan.healthTimeoutMs / 1000)}s)`);
  const h = await ctx.cluster();
  await waitQuorumRead(h, url, waitOptions(ctx));
  const list = await h.via([url]).members({ refresh: true, serializable: true });
  const self = list.members.find((m) => m.id === list.memberId);
  await recordFacts(ctx, { memberId: list.memberIdHex, clusterId: list.clusterIdHex, clusterEndpoints: list.members.flatMap((m) => m.clientURLs) });
  log.info(`etcd is healthy: member ${self?.name || plan.member.name} (${list.memberIdHex}) of cluster ${list.clusterIdHex}`);
}

export const healthPhase: Phase = phase<undefined, undefined, InitOptions>({
  name: 'health',
  short: 'Wait until etcd answers a quorum read',
  dryRun: (ctx) => [`wait until etcd at ${ctx.plan.member.urls.localClient} answers a quorum read, then record its member and cluster IDs`],
  act: (ctx) => healthAndRecord(ctx),
});

export const postInitInstructionsPhase: Phase = phase<undefined, undefined, InitOptions>({
  name: 'post-init-instructions',
  short: 'Print how to add members',
  async act(ctx) {
    const { plan, log } = ctx;
    await recordFacts(ctx, { complete: true }); // the last phase: from now on a new init here is refused
    const endpoint = plan.member.urls.advertiseClient[0]!;
    log.info('To add another member to the cluster, copy the CA cert/key to its file system and, run');
    log.info(`\tetcdadm join ${endpoint}`);
    ctx.out(`etcdadm join ${endpoint}`);
  },
});

export const INIT_PHASES: readonly Phase<InitOptions>[] = [
  initPreflightPhase,
  installPhase,
  certificatesPhase(true),
  snapshotPhase,
  initConfigurePhase,
  startPhase,
  etcdctlPhase,
  healthPhase,
  backupPhase,
  renewalTimerPhase,
  defragTimerPhase,
  postInitInstructionsPhase,
];
