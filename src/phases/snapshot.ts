/**
 * `etcdadm snapshot save`: preflight (the destination is writable, the member answers and, with --s3-bucket, the
 * bucket answers to the credentials, before any streaming), save (the Maintenance.Snapshot stream to a temp file,
 * fsync, rename; then its JSON sidecar), upload (with --s3-bucket: the snapshot, then its sidecar, to
 * `<prefix><name>` and `<prefix><name>.json`, checked; the local copy stays). Default: the local member, into
 * /var/backups/etcdadm (0700; snapshots 0600: they hold every secret in the cluster).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { PATHS } from '../config/defaults.js';
import { validateMemberName } from '../config/document.js';
import type { Plan } from '../config/types.js';
import type { Host } from '../host/host.js';
import type { EtcdStatus } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { s3Url, snapshotKey, type S3Location } from '../s3/location.js';
import type { S3Store } from '../s3/store.js';
import { listSnapshots, pruneDecision, pruneSnapshots, readSidecar, seriesOf, sidecarPath, snapshotName, snapshotSeries, type SnapshotSidecar } from '../snapshot/catalog.js';
import { listStoredSnapshots, pruneStoredSnapshots } from '../snapshot/remote.js';
import { prepareSnapshotDir, saveSnapshot } from '../snapshot/save.js';

/** snapshot save's own options: where to (a dir, or one file), from which member's client URL, and the bucket. */
export interface SnapshotSaveOptions {
  dir?: string;
  output?: string;
  endpoint?: string;
  /** --s3-*: the bucket (credentials are read when the store opens). */
  s3?: S3Location;
}

/** Where the snapshot goes and which member it comes from (pure). */
export function snapshotTarget(plan: Plan, options: SnapshotSaveOptions, memberName: string, now = new Date()): { path: string; endpoint: string } {
  const to = options;
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

const preflight: Phase<SnapshotSaveOptions> = phase<undefined, undefined, SnapshotSaveOptions>({
  name: 'preflight',
  short: 'Check that the destination is writable and the member answers, before any streaming',
  async act(ctx) {
    const { path, endpoint } = snapshotTarget(ctx.plan, ctx.options, ctx.plan.member.name);
    await prepareSnapshotDir(ctx.host, dirname(path));
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
export async function openS3(loc: S3Location, host?: Host): Promise<S3Store> {
  const { openStore } = await import('../s3/store.js');
  return openStore(loc, host ? { host } : {});
}

/** Save a snapshot of the member at `endpoint` to `path` with its sidecar (also upgrade apply's snapshot). */
export async function takeSnapshot(ctx: PhaseContext, endpoint: string, path: string | ((memberName: string) => string)): Promise<SnapshotSidecar & { path: string }> {
  const { plan, log } = ctx;
  const h = await ctx.cluster();
  const st = await memberStatus(ctx, endpoint);
  const members = await h.members().catch(() => undefined);
  const name = members?.members.find((m) => m.idHex === st.memberIdHex)?.name || plan.member.name;
  // the file name: a name the cluster reports is used only when it is a DNS name (never `x/../../etc/cron.d/y`)
  const fileName = validateMemberName(name) === undefined ? name : st.memberIdHex;
  const file = typeof path === 'string' ? path : path(fileName);
  const revision = await h.client.revision(endpoint);
  const progress = log.progress(`snapshot ${file}`);
  const r = await h.timed(() => saveSnapshot(ctx.host, h.client, endpoint, file, (bytes) => progress.update(bytes, st.dbSize || undefined)));
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

const save: Phase<SnapshotSaveOptions> = phase<undefined, undefined, SnapshotSaveOptions>({
  name: 'save',
  short: 'Stream the snapshot to a temp file, fsync, rename; then write its JSON sidecar',
  commits: 'a whole snapshot is kept, also when its upload fails',
  dryRun: (ctx) => {
    const { path, endpoint } = snapshotTarget(ctx.plan, ctx.options, ctx.plan.member.name);
    return [`stream a snapshot of the member at ${endpoint} into ${path} (0600) and write its sidecar ${sidecarPath(path)}`];
  },
  async act(ctx) {
    const { endpoint } = snapshotTarget(ctx.plan, ctx.options, ctx.plan.member.name);
    const saved = await takeSnapshot(ctx, endpoint, (name) => snapshotTarget(ctx.plan, ctx.options, name).path);
    ctx.out(saved.path);
  },
});

/** The snapshot the upload phase sends: --output's file, else the newest in --dir (the one save just wrote). */
async function savedSnapshot(ctx: PhaseContext<SnapshotSaveOptions>): Promise<{ path: string; sidecar: SnapshotSidecar | null }> {
  const to = ctx.options;
  if (to.output) {
    const path = resolve(to.output);
    if (!(await ctx.host.exists(path))) throw new EtcdadmError(`${path} does not exist: there is nothing to upload`, { hint: "run 'etcdadm snapshot save' (every phase) first" });
    return { path, sidecar: await readSidecar(ctx.host, path) };
  }
  const dir = resolve(to.dir ?? PATHS.backupDir);
  const newest = (await listSnapshots(ctx.host, dir))[0];
  if (!newest) throw new EtcdadmError(`there is no snapshot in ${dir} to upload`, { hint: "run 'etcdadm snapshot save' (every phase) first" });
  return { path: newest.path, sidecar: newest.sidecar };
}

const upload: Phase<SnapshotSaveOptions> = phase<undefined, undefined, SnapshotSaveOptions>({
  name: 'upload',
  short: 'With --s3-bucket: upload the snapshot and its sidecar in checked parts (the local copy stays)',
  long: 'Aborts what an earlier failed upload of this member left unfinished under the prefix first. An object of the same name that is not this snapshot is an error, never overwritten.',
  runIf: (ctx) => (ctx.options.s3 ? true : 'no --s3-bucket given'),
  dryRun: (ctx) => [`upload the snapshot and its sidecar to ${s3Url(ctx.options.s3!, ctx.options.s3!.prefix)} in checked parts (the local copy stays)`],
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
    store = await openS3(loc, ctx.host);
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
    // the sidecar: uploaded when the bucket has none or another one (it describes this snapshot, which matched)
    const local = await ctx.host.read(sidecarPath(path));
    if (local !== undefined) {
      const remote = await store.read(`${key}.json`);
      if (remote?.toString('utf8') === local) ctx.log.debug(`${url}.json is this sidecar already`);
      else {
        await store.upload(sidecarPath(path), `${key}.json`);
        if (remote) ctx.log.info(`Replaced ${url}.json, which did not describe this snapshot as its local sidecar does`);
      }
    }
    return url;
  } catch (err) {
    const e = err instanceof EtcdadmError ? err : new EtcdadmError(`uploading ${path} to ${url} failed: ${describe(err)}`, { cause: err });
    throw new EtcdadmError(e.message, { hint: `the snapshot is kept at ${path}${e.hint ? `; ${e.hint.charAt(0).toLowerCase()}${e.hint.slice(1)}` : ''}`, exitCode: e.exitCode, cause: e.cause ?? err });
  } finally {
    store?.close();
  }
}

export const SNAPSHOT_SAVE_PHASES: readonly Phase<SnapshotSaveOptions>[] = [preflight, save, upload];

// ------------------------------------------------------------------ prune

/** snapshot prune's own options: how many stay, and where (a directory, or with --s3-* a bucket). */
export interface SnapshotPruneOptions {
  keep: number;
  dir: string;
  s3?: S3Location;
}

/** The snapshots prune removes: on disk, or in the bucket (read only). */
async function pruneTargets(ctx: PhaseContext<SnapshotPruneOptions>): Promise<{ where: string; gone: string[]; kept: number }> {
  const o = ctx.options;
  if (o.s3) {
    const store = await openS3(o.s3, ctx.host);
    try {
      const entries = seriesOf(await listStoredSnapshots(store), ctx.plan.member.name);
      const gone = pruneDecision(entries, o.keep);
      return { where: s3Url(o.s3, o.s3.prefix), gone: gone.map((e) => e.path), kept: entries.length - gone.length };
    } finally {
      store.close();
    }
  }
  const entries = seriesOf(await listSnapshots(ctx.host, o.dir), ctx.plan.member.name);
  const gone = pruneDecision(entries, o.keep);
  return { where: o.dir, gone: gone.map((e) => e.path), kept: entries.length - gone.length };
}

const prune: Phase<SnapshotPruneOptions> = phase<undefined, undefined, SnapshotPruneOptions>({
  name: 'prune',
  short: "Remove this member's oldest snapshots (each with its sidecar) in the directory or the bucket, the newest N kept, never the only one",
  async dryRun(ctx) {
    const t = await pruneTargets(ctx);
    return t.gone.length ? t.gone.map((p) => `remove ${p} and its sidecar`) : [`nothing: ${t.kept} snapshot(s) in ${t.where}, --keep ${ctx.options.keep}`];
  },
  async act(ctx) {
    const { keep, dir, s3 } = ctx.options;
    if (s3) {
      const store = await openS3(s3, ctx.host);
      try {
        const r = await pruneStoredSnapshots(store, keep, ctx.plan.member.name, (e) => ctx.log.info(`Removed ${e.path}`));
        ctx.log.info(`Kept ${r.kept} snapshot(s) in ${s3.bucket}, removed ${r.removed}`);
      } finally {
        store.close();
      }
      return;
    }
    const r = await pruneSnapshots(ctx.host, dir, keep, ctx.plan.member.name, (e) => ctx.log.info(`Removed ${e.path}`));
    ctx.log.info(`Kept ${r.kept} snapshot(s), removed ${r.removed}`);
  },
});

export const SNAPSHOT_PRUNE_PHASES: readonly Phase<SnapshotPruneOptions>[] = [prune];
