/**
 * The run context: what one command's phases share — the frozen plan, the host record (loaded once), the host, the
 * init system, a logger, the timings, the command's options, the rollback journal and a lazily opened cluster handle
 * (one client, closed when the command ends). There is no other shared state: a phase learns from the world
 * (observe) or from the record, never from a bag another phase filled.
 */
import { readFile } from 'node:fs/promises';
import { ClusterHandle } from '../cluster/handle.js';
import type { Plan } from '../config/types.js';
import type { EtcdTls } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { HostRecord } from '../host/record.js';
import { initSystemFor, type InitSystem } from '../initsystem/index.js';
import type { Logger } from '../log/logger.js';
import { Timings } from '../log/timings.js';
import { downloadRelease, type DownloadResult, type ReleaseSpec } from '../release/index.js';
import { Changes, journaled } from './changes.js';
import type { BackupSpec } from '../backup/schedule.js';
import type { S3Location } from '../s3/location.js';
import type { LeafName } from '../pki/store.js';
import type { LeafRequest } from '../pki/types.js';

/** The command's own options (not settings: they are not recorded). */
export interface RunOptions {
  /** init: take over a host set up before; join: move a foreign data dir aside; reset: the last member too. */
  force: boolean;
  /** init: restore the new cluster from this snapshot. */
  snapshot?: string;
  /** init --snapshot: --bump-revision as given (parsed and checked by preflight; undefined: the default). */
  bumpRevision?: string;
  /** reset: leave the member list alone. */
  skipRemoveMember: boolean;
  /** upgrade apply: print the steps, change nothing. */
  dryRun?: boolean;
  /** snapshot save: where to (a dir, or one file) and from which member's client URL. */
  snapshotTo?: { dir?: string; output?: string; endpoint?: string };
  /** backup schedule: the validated schedule to install and the etcdadm command line its service runs. */
  backup?: BackupSpec & { command: string[] };
  /** snapshot save/list/prune: the bucket (the --s3-* options; credentials are read when the store opens). */
  s3?: S3Location;
  /** init --snapshot s3://bucket/key: where the snapshot is downloaded from (the --s3-* options give endpoint etc.). */
  snapshotFrom?: { location: S3Location; key: string };
  /** certs renew: which leaves, --validity as given, and --if-due (only those due for renewal). */
  certs?: { names: LeafName[]; validity?: string; ifDue: boolean };
  /** join --certs-bundle, certs import: the bundle file (checked by preflight before anything changes). */
  certsBundle?: string;
  /** certs bundle: the member the bundle is for (its certificates' requests resolved as its own plan would) and where it goes. */
  bundle?: { member: { name: string; address: string }; requests: Record<LeafName, LeafRequest>; output: string; validity?: string };
}

export const NO_OPTIONS: RunOptions = { force: false, skipRemoveMember: false };

export interface RunContext {
  /** "init", "join", "reset", ... */
  readonly command: string;
  readonly plan: Plan;
  readonly record: HostRecord;
  /** The host; while a rollback journal is on, every change through it is recorded in `changes`. */
  readonly host: Host;
  readonly init: InitSystem;
  readonly log: Logger;
  /** Where command results (not logs) go, e.g. the join command. */
  readonly out: (line: string) => void;
  readonly timings: Timings;
  readonly options: RunOptions;
  readonly changes: Changes;
  /** Download (or take from the cache) and verify a release; the time counts as waiting on the download. */
  download(spec: ReleaseSpec, log: Logger): Promise<DownloadResult>;
  /** The cluster handle on the command's endpoints, opened at the first call; closed by `close`. */
  cluster(): Promise<ClusterHandle>;
  /** This host's etcdctl client certificate and the cluster CA. */
  clientTls(): Promise<EtcdTls>;
  /** Close what the run opened (the cluster handle). */
  close(): void;
}

/** A phase's view of the run: the logger is scoped to the phase (`[name] message`). */
export type PhaseContext = RunContext;

export interface ContextInput {
  command: string;
  plan: Plan;
  record: HostRecord;
  host: Host;
  log: Logger;
  out?: (line: string) => void;
  options?: Partial<RunOptions>;
  /** The client URLs the cluster handle talks to, best first. */
  endpoints: (plan: Plan, record: HostRecord) => string[];
  /** Record what the run changes, so that a failure can be rolled back (init, join). */
  rollback?: boolean;
  timings?: Timings;
  /** Request timeout of the cluster handle (status uses a short one). */
  requestTimeoutMs?: number;
}

/** This host's etcdctl client certificate and the cluster CA, to talk to etcd. */
export async function loadClientTls(plan: Plan): Promise<EtcdTls> {
  const f = plan.pki.files;
  const client = f['etcdctl-etcd-client'];
  const [ca, cert, key] = await Promise.all([readFile(f.ca.certPath), readFile(client.certPath), readFile(client.keyPath)]).catch(
    (err: NodeJS.ErrnoException) => {
      throw new EtcdadmError(`cannot read the client certificate files in ${plan.pki.certsDir}: ${err.message}`, {
        hint: "run this on a member host set up by etcdadm init or join (or run 'etcdadm init|join phase certificates' first), as root",
        cause: err,
      });
    },
  );
  return { ca, cert, key, caFile: f.ca.certPath, certFile: client.certPath };
}

export function createRunContext(input: ContextInput): RunContext {
  const timings = input.timings ?? new Timings();
  const changes = new Changes();
  const host = input.rollback ? journaled(input.host, changes) : input.host;
  input.record.attach(host);
  let handle: Promise<ClusterHandle> | undefined;
  let opened: ClusterHandle | undefined;
  const downloads = new Map<string, Promise<DownloadResult>>();
  const ctx: RunContext = {
    command: input.command,
    plan: input.plan,
    record: input.record,
    host,
    init: initSystemFor(input.plan.service.initSystem, host, timings),
    log: input.log,
    out: input.out ?? ((line) => void process.stdout.write(`${line}\n`)),
    timings,
    options: { ...NO_OPTIONS, ...input.options },
    changes,
    // once per release and run: a phase that installs what an earlier phase downloaded does not verify it again
    download(spec, log) {
      const key = `${spec.releaseUrl} ${spec.version} ${spec.arch} ${spec.cacheDir}`;
      let p = downloads.get(key);
      if (!p) {
        p = timings.wait('download', () => downloadRelease(spec, log));
        downloads.set(key, p);
        p.catch(() => downloads.delete(key));
      }
      return p;
    },
    clientTls: () => loadClientTls(input.plan),
    cluster() {
      handle ??= loadClientTls(input.plan).then((tls) => {
        opened = ClusterHandle.open({
          endpoints: input.endpoints(input.plan, input.record),
          tls,
          log: input.log,
          timings,
          ...(input.requestTimeoutMs ? { requestTimeoutMs: input.requestTimeoutMs } : {}),
        });
        return opened;
      });
      handle.catch(() => {
        handle = undefined; // e.g. the certificates are made later in the run: try again then
      });
      return handle;
    },
    close() {
      opened?.close();
    },
  };
  return ctx;
}

/** This member's local client URL first, then the other members' client URLs as the host record last saw them. */
export function memberEndpoints(plan: Plan, record: HostRecord): string[] {
  const own = new Set([...plan.member.urls.advertiseClient, plan.member.urls.localClient]);
  return [plan.member.urls.localClient, ...(record.facts?.clusterEndpoints ?? []).filter((u) => !own.has(u))];
}

/** The endpoints of the cluster to join. */
export function joinEndpoints(plan: Plan): string[] {
  if (plan.join.endpoints.length === 0)
    throw new EtcdadmError('no endpoint of the cluster to join was given', { hint: "pass a member's client URL: etcdadm join https://10.0.0.1:2379", exitCode: 2 });
  return plan.join.endpoints;
}
