/**
 * `etcdadm snapshot save`: preflight (the destination is writable, the member answers and, with --s3-bucket, the
 * bucket answers to the credentials, before any streaming), save (the Maintenance.Snapshot stream to a temp file,
 * fsync, rename; then its JSON sidecar), upload (with --s3-bucket: the snapshot, then its sidecar, to
 * `<prefix><name>` and `<prefix><name>.json`, checked; the local copy stays). Default: the local member, into
 * /var/backups/etcdadm (0700; snapshots 0600: they hold every secret in the cluster).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { PATHS } from '../config/defaults.js';
import type { Plan } from '../config/types.js';
import type { EtcdStatus } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import type { PhaseContext, RunOptions } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { s3Url, snapshotKey, type S3Location } from '../s3/location.js';
import type { S3Store } from '../s3/store.js';
import { listSnapshots, readSidecar, sidecarPath, snapshotName, snapshotSeries, type SnapshotSidecar } from '../snapshot/catalog.js';
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
    if (ctx.options.s3) {
      const store = await openS3(ctx.options.s3);
      store.close();
      ctx.log.info(`Bucket ${ctx.options.s3.bucket} at ${ctx.options.s3.endpoint} answers; the snapshot goes to ${s3Url(ctx.options.s3, snapshotKey(ctx.options.s3, basename(path)))} as well`);
    }
    ctx.log.info(`Saving a snapshot of member ${st.memberIdHex} at ${endpoint} (etcd ${st.version}, about ${st.dbSize} bytes) to ${path}`);
  },
});

/** The S3 client is loaded only by the runs that use it. */
export async function openS3(loc: S3Location): Promise<S3Store> {
  const { openStore } = await import('../s3/store.js');
  return openStore(loc);
}

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

/** The snapshot the upload phase sends: --output's file, else the newest in --dir (the one save just wrote). */
async function savedSnapshot(ctx: PhaseContext): Promise<{ path: string; sidecar: SnapshotSidecar | null }> {
  const to = ctx.options.snapshotTo ?? {};
  if (to.output) {
    const path = resolve(to.output);
    if (!(await ctx.host.exists(path))) throw new EtcdadmError(`${path} does not exist: there is nothing to upload`, { hint: "run 'etcdadm snapshot save' (every phase) first" });
    return { path, sidecar: await readSidecar(path) };
  }
  const dir = resolve(to.dir ?? PATHS.backupDir);
  const newest = (await listSnapshots(dir))[0];
  if (!newest) throw new EtcdadmError(`there is no snapshot in ${dir} to upload`, { hint: "run 'etcdadm snapshot save' (every phase) first" });
  return { path: newest.path, sidecar: newest.sidecar };
}

const upload: Phase = phase<undefined, undefined>({
  name: 'upload',
  short: 'With --s3-bucket: upload the snapshot and its sidecar in checked parts (the local copy stays)',
  long: 'Aborts what an earlier failed upload of this member left unfinished under the prefix first. An object of the same name that is not this snapshot is an error, never overwritten.',
  runIf: (ctx) => (ctx.options.s3 ? true : 'no --s3-bucket given'),
  async act(ctx) {
    const { path, sidecar } = await savedSnapshot(ctx);
    ctx.out(await uploadSnapshot(ctx, ctx.options.s3!, path, sidecar));
  },
});

/**
 * Upload the snapshot at `path` (and its sidecar) to the bucket under its name; returns its s3:// URL. Also the
 * scheduled backups' upload. Never overwrites another object; a failure says that the local copy is kept.
 */
export async function uploadSnapshot(ctx: PhaseContext, loc: S3Location, path: string, sidecar: SnapshotSidecar | null): Promise<string> {
  const key = snapshotKey(loc, basename(path));
  const url = s3Url(loc, key);
  let store: S3Store | undefined;
  try {
    store = await openS3(loc);
    const there = await store.head(key);
    if (there && sidecar && there.metadata.sha256 === sidecar.sha256 && there.size === sidecar.size) {
      ctx.log.info(`${url} is this snapshot already (same size and SHA-256)`);
    } else if (there) {
      throw new EtcdadmError(`${url} exists already and is not ${path}`, { hint: 'etcdadm never overwrites a stored snapshot: choose another --s3-prefix or --output name', exitCode: 2 });
    } else {
      const progress = ctx.log.progress(`upload ${url}`);
      // what a failed upload of this member's snapshots left unfinished (this name, or one of its series)
      const series = sidecar ? snapshotSeries(sidecar.memberName) : undefined;
      const r = await store.upload(path, key, {
        abortStale: series ? snapshotKey(loc, series.prefix) : key,
        staleMatch: (k) => k === key || (series?.pattern.test(k.slice(loc.prefix.length)) ?? false),
        onProgress: (b, t) => progress.update(b, t),
      });
      progress.done();
      ctx.log.info(`Uploaded ${path} to ${url} (${r.size} bytes${r.parts ? ` in ${r.parts} parts` : ''}; size, ETag and SHA-256 checked)`);
    }
    if (await ctx.host.exists(sidecarPath(path))) await store.upload(sidecarPath(path), `${key}.json`);
    return url;
  } catch (err) {
    const e = err instanceof EtcdadmError ? err : new EtcdadmError(`uploading ${path} to ${url} failed: ${describe(err)}`, { cause: err });
    throw new EtcdadmError(e.message, { hint: `the snapshot is kept at ${path}${e.hint ? `; ${e.hint.charAt(0).toLowerCase()}${e.hint.slice(1)}` : ''}`, exitCode: e.exitCode, cause: e.cause ?? err });
  } finally {
    store?.close();
  }
}

export const SNAPSHOT_SAVE_PHASES: readonly Phase[] = [preflight, save, upload];
