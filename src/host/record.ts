/**
 * The host record, /etc/etcd/etcdadm.yaml: what etcdadm set up on this host — the settings it resolved (derived
 * values written out) and the facts it learned (cluster token, member and cluster IDs, the directories it created).
 * Loaded once per command; a record that cannot be read or does not validate is always the same one-line error, never
 * treated as absent. One writer: `update(facts)`, atomic, 0600. Its settings resolve like a configuration file (a
 * settings layer), so a later command acts on what was really done here.
 */
import type { S3Location } from '../s3/location.js';
import { parse, stringify } from 'yaml';
import * as v from 'valibot';
import { formatPath, type DocumentPath } from '../config/document.js';
import { PATHS } from '../config/defaults.js';
import { parseSettings, stripUndefined, type PartialSettings, type SettingsLayer } from '../config/settings.js';
import type { Settings } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import type { Host } from './host.js';

export const RECORD_API_VERSION = 'etcdadm.io/v1alpha1';
export const RECORD_KIND = 'HostState';

/** What etcdadm learned while setting this host up. */
export interface RecordFacts {
  /** How this member came to be. */
  createdBy: 'init' | 'join';
  /** True once init/join finished (health passed); false while one is under way or was interrupted. */
  complete: boolean;
  clusterToken: string;
  memberName: string;
  /** Hex member and cluster IDs once known (as etcdctl prints them). */
  memberId?: string;
  clusterId?: string;
  /** Client URLs of the cluster's members when this host last looked (used when the local member is down). */
  clusterEndpoints?: string[];
  /** SHA-256 fingerprint of the cluster CA. */
  caFingerprint?: string;
  /** Directories etcdadm created here (data, WAL, certs dir): reset removes a directory only when it is listed here. */
  createdDirs?: string[];
  /** An `upgrade apply` under way on this member (written before it changes anything, removed when it is done). */
  upgrade?: UpgradeInProgress;
  /** A `reconfigure` under way on this member (written before it changes anything, removed when it is done). */
  reconfigure?: { startedAt: string };
  /** A `recover` under way on this member (written before it changes anything, removed when it is done). */
  recovery?: RecoveryInProgress;
  /** The scheduled backups installed here (`etcdadm backup schedule`); removed by unschedule and reset. */
  backup?: BackupScheduleRecord;
  /** The daily certificate renewal installed here (`etcdadm certs renew --schedule`); removed by --unschedule and reset. */
  certRenewal?: CertRenewalRecord;
  /** The rolling defrag's timer installed here (`etcdadm defrag --schedule`); removed by --unschedule and reset. */
  defrag?: DefragScheduleRecord;
  /** The failed member `join --replace` removed (written before the removal), so a re-run joins in its place. */
  replaced?: { id: string; name: string };
  /** Set up by another tool and taken over (`etcdadm adopt`): which, and when. */
  adopted?: { from: string; at: string };
}

/** The renewal timer as installed: its calendar and the etcdadm command line its service runs. */
export interface CertRenewalRecord {
  onCalendar: string;
  randomizedDelaySec: number;
  /** The command line of the etcdadm the service runs (absolute paths), without `certs renew all --if-due`. */
  command: string[];
  installedAt: string;
}

/** The defrag timer as installed: its interval, threshold, calendar and the etcdadm command line its service runs. */
export interface DefragScheduleRecord {
  /** The interval (`1d`), as `--schedule` takes it. */
  every: string;
  /** The free share above which a member is defragmented (`20%`), as `--threshold` takes it. */
  threshold: string;
  onCalendar: string;
  randomizedDelaySec: number;
  /** The command line of the etcdadm the service runs (absolute paths), without `defrag --all ...`. */
  command: string[];
  installedAt: string;
}

/** What `etcdadm recover` decided and did so far, so that a re-run after a crash finishes the same recovery. */
export interface RecoveryInProgress {
  /** When the recovery began (ISO time). */
  startedAt: string;
  /** The members other than this one that the force-new-cluster start drops: name, hex ID, client and peer URLs. */
  dead: { name: string; id: string; clientURLs: string[]; peerURLs: string[] }[];
  /** Where the data dir (and the WAL dir) is copied: a target that exists is a complete copy (renamed into place). */
  copies?: { from: string; to: string }[];
  /** True once etcd served as a one-member cluster after its --force-new-cluster start. */
  forced?: boolean;
}

/** A backup schedule as installed: what `backup run` acts on and `backup status` judges against. */
export interface BackupScheduleRecord {
  /** The interval (`1h`), as `--every` takes it. */
  every: string;
  keep: number;
  /** Where the snapshots go: a structured destination (src/backup/schedule.ts), never credentials. */
  destination: { kind: 'local'; dir: string } | { kind: 's3'; dir: string; s3: S3Location };
  onCalendar: string;
  randomizedDelaySec: number;
  /** The command line of the etcdadm the service runs (absolute paths), without `backup run`. */
  command: string[];
  /** When this schedule was installed (or last changed). */
  installedAt: string;
}

export interface UpgradeInProgress {
  from: string;
  to: string;
  /** The snapshot taken before the member was touched. */
  snapshot?: string;
  /** 3.6 → 3.7: the raft snapshot on 3.6 was taken. */
  raftSnapshot?: boolean;
}

export interface RecordDocument extends RecordFacts {
  apiVersion: typeof RECORD_API_VERSION;
  kind: typeof RECORD_KIND;
  /** The resolved settings (defaults ← config file ← flags, derived values written out) this member was set up with. */
  settings: Settings;
  updatedAt: string;
}

const FACTS_SCHEMA = v.object({
  apiVersion: v.literal(RECORD_API_VERSION),
  kind: v.literal(RECORD_KIND),
  createdBy: v.picklist(['init', 'join']),
  complete: v.optional(v.boolean()),
  clusterToken: v.string(),
  memberName: v.string(),
  memberId: v.optional(v.string()),
  clusterId: v.optional(v.string()),
  clusterEndpoints: v.optional(v.array(v.string())),
  caFingerprint: v.optional(v.string()),
  createdDirs: v.optional(v.array(v.string())),
  upgrade: v.optional(v.object({ from: v.string(), to: v.string(), snapshot: v.optional(v.string()), raftSnapshot: v.optional(v.boolean()) })),
  reconfigure: v.optional(v.object({ startedAt: v.string() })),
  recovery: v.optional(
    v.object({
      startedAt: v.string(),
      dead: v.array(v.object({ name: v.string(), id: v.string(), clientURLs: v.array(v.string()), peerURLs: v.array(v.string()) })),
      copies: v.optional(v.array(v.object({ from: v.string(), to: v.string() }))),
      forced: v.optional(v.boolean()),
    }),
  ),
  backup: v.optional(
    v.object({
      every: v.string(),
      keep: v.pipe(v.number(), v.integer(), v.minValue(1)),
      destination: v.variant('kind', [
        v.object({ kind: v.literal('local'), dir: v.pipe(v.string(), v.startsWith('/')) }),
        v.object({
          kind: v.literal('s3'),
          dir: v.pipe(v.string(), v.startsWith('/')),
          s3: v.object({
            endpoint: v.string(),
            bucket: v.string(),
            prefix: v.string(),
            region: v.string(),
            pathStyle: v.boolean(),
            caFile: v.optional(v.string()),
            allowHttp: v.optional(v.boolean()),
            credentialsFile: v.optional(v.string()),
          }),
        }),
      ]),
      onCalendar: v.string(),
      randomizedDelaySec: v.number(),
      command: v.pipe(v.array(v.string()), v.minLength(1)),
      installedAt: v.string(),
    }),
  ),
  certRenewal: v.optional(
    v.object({
      onCalendar: v.string(),
      randomizedDelaySec: v.number(),
      command: v.pipe(v.array(v.string()), v.minLength(1)),
      installedAt: v.string(),
    }),
  ),
  defrag: v.optional(
    v.object({
      every: v.string(),
      threshold: v.string(),
      onCalendar: v.string(),
      randomizedDelaySec: v.number(),
      command: v.pipe(v.array(v.string()), v.minLength(1)),
      installedAt: v.string(),
    }),
  ),
  adopted: v.optional(v.object({ from: v.string(), at: v.string() })),
  replaced: v.optional(v.object({ id: v.string(), name: v.string() })),
  updatedAt: v.optional(v.string()),
});

/** Fields of records written by earlier versions, before every setting was kept under `settings`. */
interface LegacyFields {
  etcdVersion?: string;
  dataDir?: string;
  certsDir?: string;
  installDir?: string;
  initSystem?: string;
  podManifestFile?: string;
  unitName?: string;
  urls?: { listenClient?: string[]; advertiseClient?: string[]; listenPeer?: string[]; advertisePeer?: string[] };
  settings?: PartialSettings;
}

/** What `update` lays over the record: facts, the settings, and the entries it ends (an upgrade done, ...). */
export type RecordUpdate = Partial<RecordFacts> & {
  settings?: Settings;
  addCreatedDirs?: string[];
  endUpgrade?: boolean;
  endReconfigure?: boolean;
  endRecovery?: boolean;
  endBackup?: boolean;
  endCertRenewal?: boolean;
  endDefrag?: boolean;
};

export class RecordError extends EtcdadmError {}

function recordError(path: string, why: string, cause?: unknown): RecordError {
  return new RecordError(`the host record ${path} is unusable: ${why}`, {
    hint: `etcdadm changed nothing; restore ${path} from a backup or fix it (etcdadm init/join write it)`,
    cause,
  });
}

/** Recorded settings from any record version: `settings`, with what older records kept beside it laid over it. */
function settingsOf(doc: LegacyFields & { memberName: string }): PartialSettings {
  const s = structuredClone(doc.settings ?? {}) as Record<string, Record<string, unknown>>;
  const set = (section: string, field: string, value: unknown) => {
    if (value === undefined) return;
    s[section] ??= {};
    if (s[section]![field] === undefined || (Array.isArray(s[section]![field]) && (s[section]![field] as unknown[]).length === 0)) s[section]![field] = value;
  };
  set('member', 'name', doc.memberName || undefined);
  set('member', 'dataDir', doc.dataDir);
  set('member', 'listenClientURLs', doc.urls?.listenClient);
  set('member', 'advertiseClientURLs', doc.urls?.advertiseClient);
  set('member', 'listenPeerURLs', doc.urls?.listenPeer);
  set('member', 'advertisePeerURLs', doc.urls?.advertisePeer);
  set('etcd', 'version', doc.etcdVersion);
  set('pki', 'certsDir', doc.certsDir);
  set('install', 'installDir', doc.installDir);
  set('service', 'initSystem', doc.initSystem);
  set('service', 'unitName', doc.unitName);
  set('service', 'kubeletPodManifestPath', doc.podManifestFile?.replace(/\/[^/]+$/, ''));
  if (s.member?.name === '') s.member.name = doc.memberName;
  return s as PartialSettings;
}

export class HostRecord {
  private constructor(
    private host: Host,
    readonly path: string,
    private doc: RecordDocument | undefined,
    private readonly recorded: PartialSettings | undefined,
    private derivation?: string,
  ) {}

  /** The record at `path` (absent is fine: `exists` is false); unreadable or invalid is a RecordError. */
  static async load(host: Host, path: string = PATHS.recordFile): Promise<HostRecord> {
    let text: string | undefined;
    try {
      text = await host.read(path);
    } catch (err) {
      throw recordError(path, (err as Error).message, err);
    }
    if (text === undefined) return new HostRecord(host, path, undefined, undefined);
    let raw: unknown;
    try {
      raw = parse(text);
    } catch (err) {
      throw recordError(path, `not valid YAML (${(err as Error).message.split('\n')[0]})`, err);
    }
    const facts = v.safeParse(FACTS_SCHEMA, raw);
    if (!facts.success) {
      const issue = facts.issues[0];
      const where = (issue.path ?? []).map((p) => String(p.key)).join('.') || '(document)';
      throw recordError(path, `${where}: ${issue.message} (not an etcdadm host record, apiVersion ${RECORD_API_VERSION}, kind ${RECORD_KIND})`);
    }
    const legacy = raw as LegacyFields & RecordFacts;
    const parsed = parseSettings(settingsOf(legacy));
    const problem = parsed.problems[0];
    if (problem) throw recordError(path, `settings.${formatPath(problem.path)}: ${problem.message}`);
    const settings = stripUndefined(parsed.output);
    const doc = { ...(raw as RecordDocument), complete: legacy.complete === true };
    return new HostRecord(host, path, doc, settings);
  }

  /**
   * A record not on disk but derived from what another tool set up here (src/adopt/): commands read it like a
   * record; the first `update` (etcdadm adopt, or a command's --adopt) writes it. `from` names that tool.
   */
  static derived(host: Host, facts: Omit<RecordFacts, 'complete'>, settings: PartialSettings, from: string, path: string = PATHS.recordFile): HostRecord {
    const parsed = parseSettings(settings);
    const problem = parsed.problems[0];
    if (problem) throw recordError(path, `what ${from} set up here gives settings.${formatPath(problem.path)}: ${problem.message}`);
    const doc = { ...facts, complete: true, apiVersion: RECORD_API_VERSION, kind: RECORD_KIND, settings: stripUndefined(parsed.output) as Settings, updatedAt: '' } as RecordDocument;
    return new HostRecord(host, path, doc, stripUndefined(parsed.output), from);
  }

  /** The tool whose setup this record was derived from, while it is not written; undefined for a record on disk. */
  get derivedFrom(): string | undefined {
    return this.derivation;
  }

  /** An empty record, for tests and dry runs. */
  static empty(host: Host, path: string = PATHS.recordFile): HostRecord {
    return new HostRecord(host, path, undefined, undefined);
  }

  /** Write through `host` from now on (the run's journaled host, so that a rollback restores the record too). */
  attach(host: Host): void {
    this.host = host;
  }

  get exists(): boolean {
    return this.doc !== undefined;
  }

  /** The recorded facts; undefined when the host has no record. */
  get facts(): Readonly<RecordFacts> | undefined {
    return this.doc;
  }

  /** When the record was last written. */
  get updatedAt(): string | undefined {
    return this.doc?.updatedAt;
  }

  /** The recorded settings as a settings layer (lowest precedence above the defaults); undefined without a record. */
  layer(): SettingsLayer | undefined {
    const recorded = this.recorded;
    if (!recorded) return undefined;
    const path = this.path;
    return {
      name: path,
      values: recorded,
      problem: (at: DocumentPath, message: string) => recordError(path, `settings.${formatPath(at)}: ${message}`),
    };
  }

  /** Whether `dir` was created by etcdadm on this host (so reset may remove the directory itself). */
  created(dir: string): boolean {
    return this.doc?.createdDirs?.includes(dir) ?? false;
  }

  /**
   * Start the record of a new setup (a new cluster or a new membership): the earlier cluster's facts are dropped;
   * the directories etcdadm created here stay listed.
   */
  async begin(facts: Pick<RecordFacts, 'createdBy' | 'clusterToken' | 'memberName'> & { settings: Settings }): Promise<void> {
    const createdDirs = this.doc?.createdDirs;
    this.doc = undefined;
    await this.update({ ...facts, complete: false, ...(createdDirs ? { addCreatedDirs: createdDirs } : {}) });
  }

  /**
   * Write the record with `facts` (and `settings`) laid over what it holds; the first write must give createdBy,
   * clusterToken, memberName and settings. Atomic, 0600.
   */
  async update(facts: RecordUpdate): Promise<void> {
    const { settings, addCreatedDirs, endUpgrade, endReconfigure, endRecovery, endBackup, endCertRenewal, endDefrag, ...rest } = facts;
    const prev = this.doc;
    const next = {
      ...prev,
      ...Object.fromEntries(Object.entries(rest).filter(([, x]) => x !== undefined)),
      apiVersion: RECORD_API_VERSION,
      kind: RECORD_KIND,
      settings: settings ?? prev?.settings,
      updatedAt: new Date().toISOString(),
    } as RecordDocument;
    if (endUpgrade) delete next.upgrade;
    if (endReconfigure) delete next.reconfigure;
    if (endRecovery) delete next.recovery;
    if (endBackup) delete next.backup;
    if (endCertRenewal) delete next.certRenewal;
    if (endDefrag) delete next.defrag;
    if (addCreatedDirs?.length) next.createdDirs = [...new Set([...(prev?.createdDirs ?? []), ...addCreatedDirs])];
    if (!next.createdBy || !next.clusterToken || !next.memberName || !next.settings)
      throw new EtcdadmError(`cannot write ${this.path}: the first write needs createdBy, clusterToken, memberName and settings`);
    next.complete ??= false;
    const ordered: Record<string, unknown> = {
      apiVersion: next.apiVersion,
      kind: next.kind,
      createdBy: next.createdBy,
      complete: next.complete,
      clusterToken: next.clusterToken,
      memberName: next.memberName,
      ...(next.memberId ? { memberId: next.memberId } : {}),
      ...(next.clusterId ? { clusterId: next.clusterId } : {}),
      ...(next.clusterEndpoints ? { clusterEndpoints: next.clusterEndpoints } : {}),
      ...(next.caFingerprint ? { caFingerprint: next.caFingerprint } : {}),
      ...(next.createdDirs?.length ? { createdDirs: next.createdDirs } : {}),
      ...(next.upgrade ? { upgrade: next.upgrade } : {}),
      ...(next.reconfigure ? { reconfigure: next.reconfigure } : {}),
      ...(next.recovery ? { recovery: next.recovery } : {}),
      ...(next.backup ? { backup: next.backup } : {}),
      ...(next.certRenewal ? { certRenewal: next.certRenewal } : {}),
      ...(next.defrag ? { defrag: next.defrag } : {}),
      ...(next.adopted ? { adopted: next.adopted } : {}),
      ...(next.replaced ? { replaced: next.replaced } : {}),
      settings: next.settings,
      updatedAt: next.updatedAt,
    };
    const same = prev && !this.derivation && JSON.stringify({ ...prev, updatedAt: '' }) === JSON.stringify({ ...ordered, updatedAt: '' });
    if (same) return; // nothing new learned: no write
    const text = `# Written by etcdadm: what was set up on this host. Read by reset, info and later commands.\n${stringify(ordered)}`;
    await this.host.write(this.path, text, { mode: 0o600 });
    this.doc = ordered as unknown as RecordDocument;
    this.derivation = undefined;
  }

  /** Remove the record (reset). */
  async remove(): Promise<void> {
    await this.host.remove(this.path);
    this.doc = undefined;
  }
}
