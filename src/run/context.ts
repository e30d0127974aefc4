/**
 * The run context: what one command's phases share — the frozen plan, the host record (loaded once), the host, the
 * init system and systemd timers on it, a logger, the timings, the command's options, the run's journal and a lazily
 * opened cluster handle (one client, closed when the command ends). There is no other shared state: a phase learns
 * from the world (observe) or from the record, never from a bag another phase filled. While the run can be rolled
 * back, the host, the init system, the timers and the cluster handle record every change in the journal.
 */
import { ClusterHandle } from '../cluster/handle.js';
import type { Plan } from '../config/types.js';
import type { EtcdTls } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { HostRecord } from '../host/record.js';
import { initSystemFor, systemdTimers, type InitSystem, type SystemdTimers } from '../initsystem/index.js';
import type { Logger } from '../log/logger.js';
import { Timings } from '../log/timings.js';
import { downloadRelease, insecureReleaseProblem, type DownloadResult, type ReleaseSpec } from '../release/index.js';
import { DryRun } from './dry-run.js';
import { Journal, JournaledHost, journaledInit, journaledTimers } from './journal.js';

export interface RunContext<O = unknown> {
  /** "init", "join", "certs renew", ... */
  readonly command: string;
  readonly plan: Plan;
  readonly record: HostRecord;
  /**
   * The host. While the run can be rolled back, every change through it is recorded in `journal`; in a dry run it is
   * an overlay over the real host where every change is only recorded (src/run/dry-run.ts).
   */
  readonly host: Host;
  readonly init: InitSystem;
  /** systemd timers on the host (scheduled backups, certificate renewal). */
  readonly timers: SystemdTimers;
  readonly log: Logger;
  /** Where command results (not logs) go, e.g. the join command. */
  readonly out: (line: string) => void;
  readonly timings: Timings;
  /** The command's own options (not settings: they are not recorded), typed by the command (src/cli/workflow.ts). */
  readonly options: O;
  readonly journal: Journal;
  /** Set in a dry run (--dry-run): what the run would do is recorded there and nothing is changed. */
  readonly dryRun: DryRun | undefined;
  /** Download (or take from the cache) and verify a release; the time counts as waiting on the download. */
  download(spec: ReleaseSpec, log: Logger): Promise<DownloadResult>;
  /**
   * `fn`'s result for `key`, worked out once per run: a check a phase made is not made again by a later phase of the
   * same run (the key names what was checked, e.g. a file with its size and mtime). A failure is not remembered.
   */
  once<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** The cluster handle on the command's endpoints, opened at the first call; closed by `close`. */
  cluster(): Promise<ClusterHandle>;
  /** This host's etcdctl client certificate and the cluster CA. */
  clientTls(): Promise<EtcdTls>;
  /** Close what the run opened (the cluster handle). */
  close(): void;
}

/** A phase's view of the run: the logger is scoped to the phase (`[name] message`). */
export type PhaseContext<O = unknown> = RunContext<O>;

export interface ContextInput<O> {
  command: string;
  plan: Plan;
  record: HostRecord;
  host: Host;
  log: Logger;
  out?: (line: string) => void;
  options: O;
  /** The client URLs the cluster handle talks to, best first. */
  endpoints: (plan: Plan, record: HostRecord) => string[];
  /** Record what the run changes, so that a failure can be rolled back. */
  rollback?: boolean;
  /** Change nothing: record what would be done (--dry-run). */
  dryRun?: boolean;
  timings?: Timings;
  /** Request timeout of the cluster handle (status uses a short one). */
  requestTimeoutMs?: number;
}

/** This host's etcdctl client certificate and the cluster CA, to talk to etcd. */
export async function loadClientTls(host: Host, plan: Plan): Promise<EtcdTls> {
  const f = plan.pki.files;
  const client = f['etcdctl-etcd-client'];
  const hint = "run this on a member host set up by etcdadm init or join (or run 'etcdadm init|join phase certificates' first), as root";
  const [ca, cert, key] = await Promise.all([f.ca.certPath, client.certPath, client.keyPath].map((p) => host.readBytes(p))).catch((err: NodeJS.ErrnoException) => {
    throw new EtcdadmError(`cannot read the client certificate files in ${plan.pki.certsDir}: ${err.message}`, { hint, cause: err });
  });
  const gone = [f.ca.certPath, client.certPath, client.keyPath].find((_p, i) => [ca, cert, key][i] === undefined);
  if (gone) throw new EtcdadmError(`cannot read the client certificate files in ${plan.pki.certsDir}: ${gone} does not exist`, { hint });
  return { ca: Buffer.from(ca!), cert: Buffer.from(cert!), key: Buffer.from(key!), caFile: f.ca.certPath, certFile: client.certPath };
}

export function createRunContext<O>(input: ContextInput<O>): RunContext<O> {
  const timings = input.timings ?? new Timings();
  const journal = new Journal();
  const dry = input.dryRun ? new DryRun() : undefined;
  const host = dry ? dry.host(input.host) : input.rollback ? new JournaledHost(input.host, journal) : input.host;
  input.record.attach(host);
  const init = initSystemFor(input.plan.service.initSystem, host, timings);
  const timers = systemdTimers(host, timings);
  let handle: Promise<ClusterHandle> | undefined;
  let opened: ClusterHandle | undefined;
  const downloads = new Map<string, Promise<DownloadResult>>();
  const onces = new Map<string, Promise<unknown>>();
  const ctx: RunContext<O> = {
    command: input.command,
    plan: input.plan,
    record: input.record,
    host,
    init: input.rollback ? journaledInit(init, journal) : init,
    timers: input.rollback ? journaledTimers(timers, journal) : timers,
    log: input.log,
    out: input.out ?? ((line) => void process.stdout.write(`${line}\n`)),
    timings,
    options: input.options,
    journal,
    dryRun: dry,
    // once per release and run: a phase that installs what an earlier phase downloaded does not verify it again. The
    // cache is not journaled: a verified archive stays cached when the run fails (it lands there only once it matched)
    download(spec, log) {
      const key = `${spec.releaseUrl} ${spec.version} ${spec.arch} ${spec.cacheDir}`;
      let p = downloads.get(key);
      // plain http only with the operator's consent: refused before anything is fetched, in a dry run too
      const refused = insecureReleaseProblem(spec);
      if (refused) return Promise.reject(refused);
      if (!p && dry) p = dry.download(input.host, spec);
      if (!p) {
        p = timings.wait('download', () => downloadRelease(input.host, spec, log));
        downloads.set(key, p);
        p.catch(() => downloads.delete(key));
      }
      return p;
    },
    once<T>(key: string, fn: () => Promise<T>): Promise<T> {
      let p = onces.get(key) as Promise<T> | undefined;
      if (!p) {
        p = fn();
        onces.set(key, p);
        p.catch(() => onces.delete(key));
      }
      return p;
    },
    clientTls: () => loadClientTls(host, input.plan),
    cluster() {
      handle ??= loadClientTls(host, input.plan).then((tls) => {
        opened = ClusterHandle.open({
          endpoints: input.endpoints(input.plan, input.record),
          tls,
          log: input.log,
          timings,
          ...(input.rollback ? { journal } : {}),
          ...(dry ? { dryRun: dry } : {}),
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
