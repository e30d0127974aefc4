/**
 * Preflight: the first phase of init and join. Everything that can be checked before the host is changed is checked
 * here — dedicated directories, free space, ports, the CA, the snapshot, what already runs on this host — and the
 * run is recorded in the host record. The decisions are pure functions of the plan and what was observed (tested
 * without root); the observations are a few reads.
 */
import { basename, dirname, join } from 'node:path';
import { MIN_FREE_BYTES, PATHS } from '../config/defaults.js';
import type { Plan } from '../config/types.js';
import { pkiSpecOf } from '../config/plan/pki.js';
import { urlHost, urlPort } from '../config/urls.js';
import type { Member } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import { foreignEntries, overlapProblem, systemDirProblem, type DirRole } from '../host/dirs.js';
import type { RecordFacts } from '../host/record.js';
import { findByPeerURLs } from '../cluster/membership.js';
import { pairPaths, prepareCA } from '../pki/index.js';
import { insecureReleaseProblem } from '../release/spec.js';
import type { PhaseContext } from '../run/context.js';
import type { S3Location } from '../s3/location.js';
import { joinEndpoints } from '../run/context.js';
import { s3Url } from '../s3/location.js';
import { parseBumpRevision } from '../snapshot/restore.js';
import { prepareSnapshotDir } from '../snapshot/save.js';
import { verifySnapshotWithSidecar } from '../snapshot/verify.js';

// ------------------------------------------------------------------ what is observed

export interface DirState {
  role: DirRole;
  path: string;
  kind: 'missing' | 'dir' | 'file' | 'symlink' | 'other';
  entries: string[];
}

export interface HostObservation {
  record: Readonly<RecordFacts> | undefined;
  /** etcd runs here (the unit is active, or the static Pod manifest is there). */
  etcdActive: boolean;
  dirs: DirState[];
  /** Free bytes where the data and WAL dirs live. */
  free: { role: DirRole; path: string; bytes: number }[];
  /** Listen addresses already taken by another process. */
  portsTaken: { host: string; port: number }[];
}

async function dirState(ctx: PhaseContext, role: DirRole, path: string): Promise<DirState> {
  const st = await ctx.host.stat(path);
  const kind = st?.kind ?? 'missing';
  return { role, path, kind, entries: kind === 'dir' ? ((await ctx.host.list(path)) ?? []) : [] };
}

/** What preflight looks at on the host (`etcdActive` when the caller already asked the init system). */
export async function observeHost(ctx: PhaseContext, known: { etcdActive?: boolean } = {}): Promise<HostObservation> {
  const { plan, host } = ctx;
  const m = plan.member;
  const dirs = [await dirState(ctx, 'data dir', m.dataDir), ...(m.walDir ? [await dirState(ctx, 'WAL dir', m.walDir)] : []), await dirState(ctx, 'certs dir', plan.pki.certsDir)];
  const free = [];
  for (const d of dirs.filter((d) => d.role !== 'certs dir')) free.push({ role: d.role, path: d.path, bytes: await host.freeBytes(d.path) });
  const etcdActive = known.etcdActive ?? (await ctx.init.isActive(plan));
  const portsTaken: HostObservation['portsTaken'] = [];
  if (!etcdActive) {
    const listen = [...new Set([...m.urls.listenClient, ...m.urls.listenPeer, ...m.urls.listenMetrics])];
    for (const u of listen) {
      const h = urlHost(u);
      const port = urlPort(u);
      if (await host.portInUse(h, port)) portsTaken.push({ host: h, port });
    }
  }
  return { record: ctx.record.facts, etcdActive, dirs, free, portsTaken };
}

// ------------------------------------------------------------------ pure checks

export interface Refusal {
  message: string;
  hint: string;
  exitCode?: number;
}

export function refuse(r: Refusal): never {
  throw new EtcdadmError(r.message, { hint: r.hint, ...(r.exitCode ? { exitCode: r.exitCode } : {}) });
}

/** Directories that are not dedicated to etcd: system directories, or one inside another. */
export function dirRuleProblem(plan: Plan): Refusal | undefined {
  const dirs: { role: DirRole | 'install dir'; path: string }[] = [
    { role: 'data dir', path: plan.member.dataDir },
    ...(plan.member.walDir ? [{ role: 'WAL dir' as const, path: plan.member.walDir }] : []),
    { role: 'certs dir', path: plan.pki.certsDir },
  ];
  for (const d of dirs) {
    const p = systemDirProblem(d.path);
    if (p) return { message: `${p}: it cannot be the ${d.role}`, hint: `give etcd a directory of its own, such as ${d.role === 'certs dir' ? '/etc/etcd/pki' : '/var/lib/etcd'}`, exitCode: 2 };
  }
  const overlap = overlapProblem([...dirs, { role: 'install dir', path: plan.release.installDir }]);
  if (overlap) return { message: overlap, hint: 'give the data, WAL and certs dirs directories of their own', exitCode: 2 };
  return undefined;
}

/** Directories that exist but are no directory, or hold what neither etcd nor etcdadm made. */
export function dirContentProblem(dirs: readonly DirState[]): Refusal | undefined {
  for (const d of dirs) {
    if (d.kind !== 'missing' && d.kind !== 'dir')
      return { message: `the ${d.role} ${d.path} exists but is not a directory`, hint: `remove it or choose another ${d.role}`, exitCode: 2 };
    const foreign = foreignEntries(d.role, d.entries);
    if (foreign.length)
      return {
        message: `the ${d.role} ${d.path} holds files that are not etcd's or etcdadm's (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''})`,
        hint: `give etcd a dedicated ${d.role}, or empty this one`,
        exitCode: 2,
      };
  }
  return undefined;
}

/** Filesystems without room for etcd's first WAL segment and backend. */
export function freeSpaceProblem(free: HostObservation['free'], min = MIN_FREE_BYTES): Refusal | undefined {
  const low = free.find((f) => f.bytes < min);
  if (!low) return undefined;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  return {
    message: `the filesystem of the ${low.role} ${low.path} has ${mib(low.bytes)} free; etcd needs at least ${mib(min)} (it preallocates 64 MiB WAL segments)`,
    hint: `free space there, or choose another ${low.role}`,
  };
}

export function portProblem(taken: HostObservation['portsTaken']): Refusal | undefined {
  const t = taken[0];
  if (!t) return undefined;
  return {
    message: `port ${t.port} on ${t.host} is already in use by another process`,
    hint: `find it with 'ss -ltnp sport = :${t.port}' and stop it, or give etcd other ports`,
  };
}

/** The checks every init and join makes first, in order; the first problem found. */
export function hostProblem(plan: Plan, obs: HostObservation): Refusal | undefined {
  return releaseTransportProblem(plan) ?? dirRuleProblem(plan) ?? dirContentProblem(obs.dirs) ?? freeSpaceProblem(obs.free);
}

/** A plain http release URL without the operator's consent: refused in preflight, before the host record is written. */
export function releaseTransportProblem(plan: Plan): Refusal | undefined {
  const e = insecureReleaseProblem(plan.release);
  return e && { message: e.message, hint: e.hint ?? '', exitCode: e.exitCode };
}

// ------------------------------------------------------------------ init: take over, resume or start fresh

export type InitTakeover =
  | { kind: 'fresh' }
  /** An init of this member that was interrupted: its etcd and data are its own; finish it. */
  | { kind: 'resume' }
  /** --force over an earlier setup: stop etcd, move the data dir aside, start a new cluster with a new token. */
  | { kind: 'take-over'; stop: boolean; moveData: boolean }
  | ({ kind: 'refuse' } & Refusal);

const hasMember = (obs: HostObservation) => obs.dirs.some((d) => d.role === 'data dir' && d.entries.includes('member'));

/** What init does about what it finds on the host. Pure. */
export function decideInitTakeover(plan: Plan, obs: HostObservation, options: { force: boolean }): InitTakeover {
  const member = hasMember(obs);
  const r = obs.record;
  const resuming = r !== undefined && r.createdBy === 'init' && r.complete !== true && r.memberName === plan.member.name;
  if (!obs.etcdActive && !member) return resuming ? { kind: 'resume' } : { kind: 'fresh' };
  if (resuming && !options.force) return { kind: 'resume' };
  if (!options.force) {
    const what = obs.etcdActive
      ? `etcd is already running on this host (${plan.service.initSystem === 'systemd' ? plan.service.unitName : plan.service.podManifestFile} is active)`
      : `the data dir ${plan.member.dataDir} already holds an etcd member`;
    return {
      kind: 'refuse',
      message: `${what}; refusing to initialize a new cluster over it`,
      hint: "run 'etcdadm reset' first, or pass --force to stop it and move the data dir aside (it is never deleted)",
    };
  }
  return { kind: 'take-over', stop: obs.etcdActive, moveData: member };
}

// ------------------------------------------------------------------ join: what runs here already

export interface LocalEtcdObservation {
  active: boolean;
  /** The local member as it answers with this host's client certificate. */
  local?: { clusterId: string; memberId: string } | { error: string };
  /** The cluster to join, as its endpoints answer. */
  target?: { clusterId: string; members: Member[] } | { error: string };
}

export type LocalEtcdDecision =
  | { kind: 'none' }
  /** This host already is a started voting member of that cluster, and its join finished: nothing to do. */
  | { kind: 'member'; why: string }
  /** This host's own member of that cluster, not finished yet (a learner, or the join was interrupted): go on, keep it running. */
  | { kind: 'continue'; why: string }
  /** etcd runs here but is proven not to be a member serving that cluster: stop it. */
  | { kind: 'stop'; why: string }
  | ({ kind: 'refuse' } & Refusal);

/** Whether a local etcd may be stopped before joining, or is already this cluster's member. Pure. */
export function decideLocalEtcd(plan: Plan, obs: LocalEtcdObservation, record: Readonly<RecordFacts> | undefined): LocalEtcdDecision {
  if (!obs.active) return { kind: 'none' };
  const local = obs.local && 'clusterId' in obs.local ? obs.local : undefined;
  const target = obs.target && 'clusterId' in obs.target ? obs.target : undefined;
  const endpoints = plan.join.endpoints.join(',');
  if (!target) {
    const why = obs.target && 'error' in obs.target ? obs.target.error : 'not asked';
    return {
      kind: 'refuse',
      message: `etcd runs on this host, and the cluster at ${endpoints} cannot be asked whether it is one of its members (${why})`,
      hint: "check the endpoint and the network; to replace this host's etcd, run 'etcdadm reset' first",
    };
  }
  const self = findByPeerURLs(target.members, plan.member.urls.advertisePeer);
  if (local && local.clusterId === target.clusterId) {
    if (!target.members.some((m) => m.idHex === local.memberId))
      return { kind: 'stop', why: `etcd on this host was member ${local.memberId} of cluster ${target.clusterId} and has been removed from it` };
    if (self && self.idHex === local.memberId) {
      if (!self.isLearner && self.name !== '' && record?.complete === true)
        return { kind: 'member', why: `This host is already member ${self.name} (${self.idHex}) of cluster ${target.clusterId}; nothing to do` };
      return { kind: 'continue', why: `etcd on this host is member ${self.idHex} of cluster ${target.clusterId}; finishing its join` };
    }
    return {
      kind: 'refuse',
      message: `etcd on this host is member ${local.memberId} of cluster ${target.clusterId} already, with other peer URLs than ${plan.member.urls.advertisePeer.join(',')}`,
      hint: "pass the --bind-address (or --config) it was set up with, or run 'etcdadm reset' first",
    };
  }
  if (self && self.name !== '')
    return {
      kind: 'refuse',
      message: `the cluster at ${endpoints} has this host's peer URL as member ${self.name} (${self.idHex}), but the etcd running here ${local ? `is member ${local.memberId} of cluster ${local.clusterId}` : 'does not answer'}`,
      hint: `look at it first (${plan.service.initSystem === 'systemd' ? `journalctl -u ${plan.service.unitName}` : 'the kubelet log'}); to replace it, remove the member and run 'etcdadm reset' on this host`,
    };
  const why = local ? `etcd on this host belongs to another cluster (${local.clusterId})` : "etcd on this host does not answer and this host's peer URL is no started member of the cluster";
  return { kind: 'stop', why };
}

export async function observeLocalEtcd(ctx: PhaseContext): Promise<LocalEtcdObservation> {
  const { plan } = ctx;
  const active = await ctx.init.isActive(plan);
  if (!active) return { active };
  joinEndpoints(plan);
  let h;
  try {
    h = await ctx.cluster();
  } catch (err) {
    const error = err instanceof EtcdadmError ? err.message : describe(err);
    return { active, local: { error }, target: { error } };
  }
  const [local, target] = await Promise.all([
    h.client.status(plan.member.urls.localClient).then(
      (s) => ({ clusterId: s.clusterId.toString(16), memberId: s.memberIdHex }),
      (err: unknown) => ({ error: err instanceof EtcdadmError ? err.message : describe(err) }),
    ),
    h.members({ serializable: true }).then(
      (l) => ({ clusterId: l.clusterIdHex, members: l.members }),
      (err: unknown) => ({ error: err instanceof EtcdadmError ? err.message : describe(err) }),
    ),
  ]);
  return { active, local, target };
}

// ------------------------------------------------------------------ CA and snapshot

/** The cluster CA must be in the certs dir before a join (or valid when present before an init). */
export async function checkCA(ctx: PhaseContext, required: boolean): Promise<void> {
  const { plan } = ctx;
  const ca = pairPaths(plan.pki.certsDir, 'ca');
  const present = (await ctx.host.exists(ca.certPath)) || (await ctx.host.exists(ca.keyPath));
  if (!present && !required) return;
  await prepareCA(ctx.host, pkiSpecOf(plan), ctx.log, { allowCreate: !required });
}

/** The local file init restores: --snapshot FILE, or where an s3:// snapshot is downloaded to (pure). */
/** Where init's data comes from: --snapshot FILE, or s3://bucket/key (downloaded first); --bump-revision as given. */
export interface SnapshotSource {
  snapshot?: string;
  snapshotFrom?: { location: S3Location; key: string };
  bumpRevision?: string;
}

export function localSnapshot(options: SnapshotSource): string | undefined {
  if (options.snapshotFrom) return join(PATHS.backupDir, 'restore', basename(options.snapshotFrom.key));
  return options.snapshot;
}

export async function checkSnapshot(ctx: PhaseContext<SnapshotSource>): Promise<void> {
  const file = localSnapshot(ctx.options);
  if (!file) return;
  if (ctx.plan.member.walDir)
    refuse({ message: 'restoring a snapshot into a cluster with a separate WAL dir (member.walDir) is not supported', hint: 'restore without member.walDir, or restore with etcdutl yourself', exitCode: 2 });
  parseBumpRevision(ctx.options.bumpRevision);
  const from = ctx.options.snapshotFrom;
  if (from && ctx.dryRun) {
    ctx.dryRun.note(`download ${s3Url(from.location, from.key)} to ${file} (0600) and check it against its sidecar, then verify it as a snapshot`);
    return;
  }
  if (from) {
    const url = s3Url(from.location, from.key);
    // downloaded once per run (preflight; the snapshot phase of the same run uses that copy)
    await ctx.once(`download ${url} ${file}`, async () => {
      // the S3 client is loaded only by the runs that use it
      const { openStore } = await import('../s3/store.js');
      await prepareSnapshotDir(ctx.host, dirname(file));
      const store = await openStore(from.location, { host: ctx.host });
      try {
        ctx.log.info(`Downloading ${url} to ${file}`);
        await store.download(from.key, file);
      } finally {
        store.close();
      }
    });
  }
  try {
    // verified once per run (preflight, then the snapshot phase) while the file stays the same
    const st = await ctx.host.stat(file);
    const facts = await ctx.once(`snapshot ${file} ${st?.size} ${st?.mtimeMs}`, () => verifySnapshotWithSidecar(ctx.host, file));
    const of = facts.sidecar ? ` of member ${facts.sidecar.memberName}, revision ${facts.sidecar.revision}, taken ${facts.sidecar.time}` : '';
    ctx.log.info(`Snapshot ${file} is intact (${facts.size} bytes${of}; SHA-256 ${facts.sha256.slice(0, 12)}...)`);
  } catch (err) {
    if (from) await ctx.host.removeTree(file); // a download that is no snapshot is of no use to anyone
    throw err;
  }
}
