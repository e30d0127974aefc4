/**
 * `etcdadm snapshot save`: preflight (the destination is writable and the member answers, before any streaming),
 * save (the Maintenance.Snapshot stream to a temp file, fsync, rename; then its JSON sidecar). Default: the local
 * member, into /var/backups/etcdadm (0700; snapshots 0600: they hold every secret in the cluster).
 */
import { dirname, join, resolve } from 'node:path';
import { PATHS } from '../config/defaults.js';
import type { Plan } from '../config/types.js';
import type { EtcdStatus } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import type { PhaseContext, RunOptions } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { sidecarPath, snapshotName, type SnapshotSidecar } from '../snapshot/catalog.js';
import { prepareSnapshotDir, saveSnapshot } from '../snapshot/save.js';

/** Where the snapshot goes and which member it comes from (pure). */
export function snapshotTarget(plan: Plan, options: RunOptions, memberName: string, now = new Date()): { path: string; endpoint: string } {
  const to = options.snapshotTo ?? {};
  if (to.dir && to.output) throw new EtcdadmError('give --dir or --output, not both', { exitCode: 2 });
  const path = to.output ? resolve(to.output) : join(resolve(to.dir ?? PATHS.backupDir), snapshotName(memberName, now));
  return { path, endpoint: to.endpoint ?? plan.member.urls.localClient };
}

async function memberStatus(ctx: PhaseContext, endpoint: string): Promise<EtcdStatus> {
  const h = await ctx.cluster();
  try {
    return await h.client.status(endpoint);
  } catch (err) {
    throw new EtcdadmError(`no etcd member answers at ${endpoint}: ${describe(err)}`, { hint: 'start the member, or pass --endpoint with the client URL of one that runs' });
  }
}

const preflight: Phase = phase<undefined, undefined>({
  name: 'preflight',
  short: 'Check that the destination is writable and the member answers, before any streaming',
  async act(ctx) {
    const { path, endpoint } = snapshotTarget(ctx.plan, ctx.options, ctx.plan.member.name);
    await prepareSnapshotDir(dirname(path));
    if (await ctx.host.exists(path)) throw new EtcdadmError(`${path} exists already`, { hint: 'choose another --output; etcdadm never overwrites a snapshot', exitCode: 2 });
    const st = await memberStatus(ctx, endpoint);
    ctx.log.info(`Saving a snapshot of member ${st.memberIdHex} at ${endpoint} (etcd ${st.version}, about ${st.dbSize} bytes) to ${path}`);
  },
});

/** Save a snapshot of the member at `endpoint` to `path` with its sidecar (also upgrade apply's snapshot). */
export async function takeSnapshot(ctx: PhaseContext, endpoint: string, path: string | ((memberName: string) => string)): Promise<SnapshotSidecar & { path: string }> {
  const { plan, log } = ctx;
  const h = await ctx.cluster();
  const st = await memberStatus(ctx, endpoint);
  const members = await h.members().catch(() => undefined);
  const name = members?.members.find((m) => m.idHex === st.memberIdHex)?.name || plan.member.name;
  const file = typeof path === 'string' ? path : path(name);
  const revision = await h.client.revision(endpoint);
  const progress = log.progress(`snapshot ${file}`);
  const r = await h.timed(() => saveSnapshot(h.client, endpoint, file, (bytes) => progress.update(bytes, st.dbSize || undefined)));
  progress.done();
  const sidecar: SnapshotSidecar = {
    clusterId: st.clusterId.toString(16),
    memberName: name,
    memberId: st.memberIdHex,
    revision: Number(revision),
    etcdVersion: st.version,
    size: r.bytes,
    sha256: r.sha256,
    time: new Date().toISOString(),
  };
  await ctx.host.write(sidecarPath(file), `${JSON.stringify(sidecar, null, 2)}\n`, { mode: 0o600 });
  log.info(`Saved ${file} of member ${name} (${r.bytes} bytes, revision ${sidecar.revision}, SHA-256 ${r.sha256.slice(0, 12)}...)`);
  return { ...sidecar, path: file };
}

const save: Phase = phase<undefined, undefined>({
  name: 'save',
  short: 'Stream the snapshot to a temp file, fsync, rename; then write its JSON sidecar',
  async act(ctx) {
    const { endpoint } = snapshotTarget(ctx.plan, ctx.options, ctx.plan.member.name);
    const saved = await takeSnapshot(ctx, endpoint, (name) => snapshotTarget(ctx.plan, ctx.options, name).path);
    ctx.out(saved.path);
  },
});

export const SNAPSHOT_SAVE_PHASES: readonly Phase[] = [preflight, save];
