/**
 * `etcdadm reset`: take this host out of its cluster safely and remove what etcdadm set up here. It acts on what
 * init/join recorded in /etc/etcd/etcdadm.yaml (data dir, init system, paths, URLs), not merely on its flags.
 * Phases: preflight, remove-member, stop, cleanup — each checks the world first, so re-running after a crash, or
 * running one phase alone (`etcdadm reset phase <name>`), is safe.
 *
 *   preflight      nothing of etcdadm here: say so and stop (exit 0); a recorded directory that is a system directory
 *                  (a hand-edited record): refuse
 *   remove-member  leave the cluster: refuse on the last member, or when the removal would cost quorum, unless
 *                  --force; move leadership away first when this member leads; send the removal through another
 *                  member (the code `etcdadm member remove` runs), which also works when this one is down
 *   stop           stop and disable etcd (or remove the static Pod manifest)
 *   cleanup        the data dir: deleted only when the cluster is reachable and provably no longer has this member,
 *                  else moved aside; only what etcd and etcdadm made is touched (a directory etcdadm did not create
 *                  stays). Then certificates, unit, env files, binaries, etcdctl wrapper, the host record.
 */
import { dirname } from 'node:path';
import { removeMember, findByPeerURLs } from '../cluster/membership.js';
import type { Plan } from '../config/types.js';
import type { Member } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import { moveAside, movedAside, removeEtcdData, systemDirProblem } from '../host/dirs.js';
import type { RecordFacts } from '../host/record.js';
import { pkiFiles } from '../pki/files.js';
import { uninstallRelease } from '../release/index.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { removeBackupUnits } from './backup.js';
import { removeRenewalTimer } from './certs.js';
import { removeDefragTimer } from './defrag-schedule.js';
import { refuse, type Refusal } from './preflight.js';

/** reset's own options. */
export interface ResetOptions {
  /** Reset the last member too, or when the cluster cannot be reached (the data dir is then moved aside). */
  force: boolean;
  /** Leave the member list alone. */
  skipRemoveMember: boolean;
}

// ------------------------------------------------------------------ preflight

export interface ResetWorld {
  record: boolean;
  unit: boolean;
  envFile: boolean;
  dataDir: boolean;
  certs: boolean;
  binaries: boolean;
}

export type ResetPreflight = { kind: 'reset' } | { kind: 'nothing' } | ({ kind: 'refuse' } & Refusal);

/** Whether there is anything to reset, and whether the directories reset would act on are etcd's own. Pure. */
export function decideResetPreflight(plan: Plan, w: ResetWorld): ResetPreflight {
  for (const [role, dir] of [['data dir', plan.member.dataDir], ['WAL dir', plan.member.walDir], ['certs dir', plan.pki.certsDir]] as const) {
    if (!dir) continue;
    const p = systemDirProblem(dir);
    if (p)
      return {
        kind: 'refuse',
        message: `refusing to reset: the ${role} ${dir} is not a directory of etcd's own (${p})`,
        hint: `${w.record ? `fix ${plan.files.record}` : 'pass the directories etcdadm set up'}; etcdadm changed nothing`,
      };
  }
  return Object.values(w).some(Boolean) ? { kind: 'reset' } : { kind: 'nothing' };
}

export const resetPreflightPhase: Phase = phase<ResetWorld, ResetPreflight, ResetOptions>({
  name: 'preflight',
  short: 'Check that there is something of etcdadm to reset, and that its directories are etcd\'s own',
  async observe(ctx) {
    const { plan, host } = ctx;
    const anyOf = async (paths: string[]) => (await Promise.all(paths.map((p) => host.exists(p)))).some(Boolean);
    return {
      record: ctx.record.exists,
      unit: await ctx.init.isInstalled(plan),
      envFile: await anyOf([plan.files.envFile, plan.files.etcdctlEnvFile]),
      dataDir: await anyOf([`${plan.member.dataDir}/member`]),
      certs: await anyOf(Object.values(plan.pki.files).flatMap((p) => [p.certPath, p.keyPath])),
      binaries: await anyOf([...Object.values(plan.install.binaries), plan.install.etcdctlWrapper]),
    };
  },
  decide: decideResetPreflight,
  async act(_ctx, d) {
    if (d.kind === 'refuse') refuse(d);
    if (d.kind === 'nothing') return { done: 'This host has nothing of etcdadm to reset' };
  },
});

// ------------------------------------------------------------------ remove-member

export interface RemoveWorld {
  hasClientCert: boolean;
  /** The member list, or why it could not be read. */
  list?: { clusterIdHex: string; members: Member[] } | { error: EtcdadmError };
  record: Readonly<RecordFacts> | undefined;
}

export type RemoveDecision =
  | { kind: 'skip'; why: string; warn?: boolean }
  | { kind: 'gone'; why: string }
  | { kind: 'remove'; member: Member }
  | ({ kind: 'refuse' } & Refusal);

/** This host's member: by peer URL, else by the recorded member ID. */
export function selfIn(plan: Plan, members: readonly Member[], record: Readonly<RecordFacts> | undefined): Member | undefined {
  return findByPeerURLs(members, plan.member.urls.advertisePeer) ?? members.find((m) => record?.memberId !== undefined && m.idHex === record.memberId);
}

/** How reset leaves the cluster. Pure. */
export function decideRemoval(plan: Plan, w: RemoveWorld, options: ResetOptions): RemoveDecision {
  if (options.skipRemoveMember) return { kind: 'skip', why: "--skip-remove-member: not changing the cluster's member list" };
  if (!w.hasClientCert) {
    if (options.force) return { kind: 'skip', why: `no client certificate in ${plan.pki.certsDir}; cannot reach the cluster, not removing the member (--force)`, warn: true };
    return {
      kind: 'refuse',
      message: `cannot leave the cluster: the client certificate ${plan.pki.files['etcdctl-etcd-client'].certPath} is missing`,
      hint: 'remove the member from another host (etcdadm member remove <name>) and run reset --skip-remove-member, or pass --force',
    };
  }
  if (!w.list || 'error' in w.list) {
    if (options.force) return { kind: 'skip', why: 'cannot reach the cluster; not removing the member (--force)', warn: true };
    const err = w.list && 'error' in w.list ? w.list.error : undefined;
    return {
      kind: 'refuse',
      message: `cannot reach the cluster to leave it${err ? `: ${err.message}` : ''}`,
      hint: 'start a member or check the network; --force resets this host without removing the member (remove it later from another host)',
    };
  }
  const self = selfIn(plan, w.list.members, w.record);
  if (!self) return { kind: 'gone', why: 'This host is not a member of the cluster (any more)' };
  if (w.list.members.length === 1) {
    if (options.force) return { kind: 'skip', why: '--force: resetting the last member of the cluster; its data dir will be moved aside', warn: true };
    return {
      kind: 'refuse',
      message: `${self.name || self.idHex} is the last member of cluster ${w.list.clusterIdHex}: reset would destroy the cluster and its only copy of the data`,
      hint: 'take a snapshot first (etcdctl.sh snapshot save FILE), then pass --force; the data dir is moved aside, not deleted',
    };
  }
  return { kind: 'remove', member: self };
}

async function readMembers(ctx: PhaseContext<unknown>): Promise<RemoveWorld['list']> {
  try {
    const h = await ctx.cluster();
    const l = await h.members();
    return { clusterIdHex: l.clusterIdHex, members: l.members };
  } catch (err) {
    return { error: err instanceof EtcdadmError ? err : new EtcdadmError(describe(err), { cause: err }) };
  }
}

export const removeMemberPhase: Phase = phase<RemoveWorld, RemoveDecision, ResetOptions>({
  name: 'remove-member',
  short: 'Remove this member from the cluster (through another member; leadership moves first)',
  commits: 'a member that left its cluster cannot come back: the rest of reset is finished by running it again',
  async observe(ctx) {
    const hasClientCert = await ctx.host.exists(ctx.plan.pki.files['etcdctl-etcd-client'].certPath);
    if (ctx.options.skipRemoveMember || !hasClientCert) return { hasClientCert, record: ctx.record.facts };
    return { hasClientCert, list: await readMembers(ctx), record: ctx.record.facts };
  },
  decide: decideRemoval,
  async act(ctx, d) {
    const { log } = ctx;
    switch (d.kind) {
      case 'refuse':
        refuse(d);
      // eslint-disable-next-line no-fallthrough
      case 'skip':
        if (d.warn) log.warn(d.why);
        else log.info(d.why);
        return;
      case 'gone':
        log.info(d.why);
        return;
      case 'remove':
        // quorum guard, leadership transfer, removal through another member, lost answers: as `etcdadm member remove`
        await removeMember(await ctx.cluster(), d.member.idHex, { log, force: ctx.options.force });
    }
  },
});

// ------------------------------------------------------------------ stop

export const resetStopPhase: Phase = phase<undefined, undefined, ResetOptions>({
  name: 'stop',
  short: 'Stop and disable etcd',
  async act(ctx) {
    const { plan, log } = ctx;
    if (!(await ctx.init.isInstalled(plan)) && !(await ctx.init.isActive(plan))) {
      log.info('etcd is not set up to run here');
      return;
    }
    await ctx.init.stop(plan);
    log.info(plan.service.initSystem === 'systemd' ? `Stopped and disabled ${plan.service.unitName}` : `Removed ${plan.service.podManifestFile}`);
  },
});

// ------------------------------------------------------------------ cleanup

export interface CleanupWorld {
  dataHasMember: boolean;
  /** Whether the cluster was reached and no longer lists this member. */
  provenGone: boolean;
}

export type DataDirDecision = { kind: 'delete'; why: string } | { kind: 'move-aside'; why: string } | { kind: 'none' };

/** What happens to the data dir: deleted only with proof it is unused, else moved aside. Pure. */
export function decideDataDir(w: CleanupWorld): DataDirDecision {
  if (!w.dataHasMember) return { kind: 'none' };
  if (w.provenGone) return { kind: 'delete', why: 'the member is no longer in the cluster' };
  return { kind: 'move-aside', why: 'the cluster may still need it (last member, --skip-remove-member, or the cluster was not reached)' };
}

export const cleanupPhase: Phase = phase<CleanupWorld, DataDirDecision, ResetOptions>({
  name: 'cleanup',
  short: "Remove etcd's data (or move it aside), certificates, unit, env files, binaries and the host record",
  async observe(ctx) {
    const { plan, host } = ctx;
    const dataHasMember = (await host.stat(`${plan.member.dataDir}/member`))?.kind === 'dir';
    let provenGone = false;
    if (dataHasMember && (await host.exists(plan.pki.files['etcdctl-etcd-client'].certPath))) {
      const list = await readMembers(ctx);
      provenGone = list !== undefined && !('error' in list) && selfIn(plan, list.members, ctx.record.facts) === undefined;
    }
    return { dataHasMember, provenGone };
  },
  decide: (_plan, w) => decideDataDir(w),
  async act(ctx, d) {
    const { plan, host, log } = ctx;
    const m = plan.member;
    const dirs: ['data dir' | 'WAL dir', string][] = [['data dir', m.dataDir], ...(m.walDir ? [['WAL dir', m.walDir] as ['WAL dir', string]] : [])];
    for (const [role, dir] of dirs) {
      const created = ctx.record.created(dir);
      if (d.kind === 'delete') {
        const what = await removeEtcdData(host, role, dir, created);
        if (what === 'dir') log.info(`Removed the ${role} ${dir} (${d.why})`);
        if (what === 'content') log.info(`Removed etcd's data from the ${role} ${dir}, which etcdadm did not create and leaves in place (${d.why})`);
      } else if (d.kind === 'move-aside') {
        const to = await moveAside(host, role, dir, created);
        if (to) log.warn(movedAside(role, dir, to, d.why));
      } else if (created && ((await host.list(dir)) ?? ['x']).length === 0) {
        await host.removeTree(dir);
      }
    }
    let certs = 0;
    for (const p of Object.values(pkiFiles(plan.pki.certsDir))) for (const f of [p.certPath, p.keyPath]) if (await host.remove(f)) certs++;
    if (certs) log.info(`Removed ${certs} certificate and key files from ${plan.pki.certsDir}`);
    // an empty certs dir goes whoever made it (the CA copy of a join makes it): nothing is lost with an empty directory
    if (((await host.list(plan.pki.certsDir)) ?? ['x']).length === 0) await host.removeTree(plan.pki.certsDir).catch(() => undefined);
    // scheduled backups of this member: their timer would only fail from now on (the snapshots themselves stay)
    for (const f of await removeBackupUnits(ctx)) log.info(`Removed ${f}`);
    // the renewal timer of these certificates
    for (const f of await removeRenewalTimer(ctx)) log.info(`Removed ${f}`);
    // the rolling defrag's timer: a run from a host that left the cluster has nothing to connect to
    for (const f of await removeDefragTimer(ctx)) log.info(`Removed ${f}`);
    if (await ctx.init.isInstalled(plan)) log.info(`Removed ${plan.service.initSystem === 'systemd' ? plan.service.unitFile : plan.service.podManifestFile}`);
    await ctx.init.remove(plan);
    for (const f of [plan.files.envFile, plan.files.etcdctlEnvFile, plan.install.etcdctlWrapper]) if (await host.remove(f)) log.info(`Removed ${f}`);
    // a host taken over from etcdadm v0.1.x: the binaries it copied in are its setup's, as its own reset removes them
    const adopted = ctx.record.derivedFrom !== undefined || ctx.record.facts?.adopted !== undefined;
    const removed = await uninstallRelease(host, plan.release.installDir, log, { copies: adopted });
    if (removed.length) log.info(`Removed etcd from ${plan.release.installDir}`);
    // an install dir of the setup's own (created for it: a custom --install-dir of etcdadm v0.1.x), once empty
    if (ctx.record.created(plan.release.installDir) && ((await host.list(plan.release.installDir)) ?? ['x']).length === 0) {
      await host.removeTree(plan.release.installDir);
      log.info(`Removed ${plan.release.installDir}`);
    }
    if (ctx.record.exists) {
      await ctx.record.remove();
      log.info(`Removed ${plan.files.record}`);
    }
    const configDir = dirname(plan.files.record);
    if (((await host.list(configDir)) ?? ['x']).length === 0) await host.removeTree(configDir).catch(() => undefined);
    log.info('This host is clean');
  },
});

export const RESET_PHASES: readonly Phase<ResetOptions>[] = [resetPreflightPhase, removeMemberPhase, resetStopPhase, cleanupPhase];
