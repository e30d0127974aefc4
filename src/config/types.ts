/**
 * The Plan: everything a command will do on this host, resolved once (defaults ← config file or host record ← flags,
 * then derived values) and frozen. One section per concern, each derived by its own module under config/plan/.
 * Phases read it; what they learn from the world they return or record in the host record, never write back here.
 */
import type { DocumentDefaults } from './document.js';
import type { InitSystemName, KeyAlgorithm } from './defaults.js';
import type { EtcdBinaryPaths, ReleaseSpec } from '../release/spec.js';
import type { PkiFiles } from '../pki/files.js';
import type { SanSet } from '../pki/types.js';

/** Every setting, defaults filled in: the config file's shape with nothing optional (see document.ts). */
export type Settings = DocumentDefaults;

/** The facts about this host that resolution needs (pure input: tests pass their own). */
export interface HostFacts {
  hostname: string;
  addresses: HostAddress[];
  defaultRouteIfaces: string[];
  cpus: number;
}

export interface HostAddress {
  iface: string;
  address: string;
  family: 4 | 6;
  internal: boolean;
}

export interface Urls {
  listenClient: string[];
  advertiseClient: string[];
  listenPeer: string[];
  advertisePeer: string[];
  /** The loopback client URL the local tools (health check, etcdctl.sh) use. */
  localClient: string;
  /** Plain-http /health and /metrics for this host only (empty: not served). */
  listenMetrics: string[];
}

export interface MemberPlan {
  name: string;
  dataDir: string;
  /** Separate WAL dir, when set. */
  walDir: string | undefined;
  /** The address other members and clients reach this member at. */
  advertiseAddress: string;
  /** The address etcd binds ('' when every URL is given explicitly). */
  bindAddress: string;
  clientPort: number;
  peerPort: number;
  urls: Urls;
}

export interface InstallPlan {
  /** The stable names etcd, etcdctl, etcdutl in the install dir (symlinks into the version dir). */
  binaries: EtcdBinaryPaths;
  /** <install dir>/etcdctl.sh */
  etcdctlWrapper: string;
}

export interface PkiPlan {
  certsDir: string;
  files: PkiFiles;
  keyAlgorithm: KeyAlgorithm;
  caValidityDays: number;
  certValidityDays: number;
  renewBeforeDays: number;
  sans: { server: SanSet; peer: SanSet };
}

/** etcd's own settings beyond names, paths and URLs. */
export interface EtcdPlan {
  quotaBackendBytes: number;
  autoCompactionMode: Settings['etcd']['autoCompactionMode'];
  autoCompactionRetention: string;
  heartbeatInterval: number;
  electionTimeout: number;
  corruptCheck: boolean;
  extraArgs: Readonly<Record<string, string>>;
  /** GOMAXPROCS for etcd: the host's CPUs. */
  gomaxprocs: number;
}

export interface TlsPlan {
  minVersion: Settings['tls']['minVersion'];
  /** The suites etcd gets (none when only TLS 1.3 is allowed). */
  cipherSuites: string[];
  peerCertAllowedCN: string;
}

export interface ServicePlan {
  initSystem: InitSystemName;
  unitName: string;
  unitFile: string;
  podManifestFile: string;
  imageRepository: string;
  diskPriorities: string[];
  /** The account etcd runs as (systemd); root unless service.user says otherwise. */
  user: string;
}

/** Files of etcdadm's layout (fixed paths; a section so that tests can place them elsewhere). */
export interface FilesPlan {
  envFile: string;
  etcdctlEnvFile: string;
  record: string;
}

export interface JoinPlan {
  /** Client URLs of the cluster to join, tried in order. Empty outside join. */
  endpoints: string[];
  learner: boolean;
  retry: boolean;
}

export interface Plan {
  /** The settings this plan was derived from, derived values filled in: what the host record keeps. */
  readonly settings: Settings;
  readonly member: MemberPlan;
  readonly release: ReleaseSpec;
  readonly install: InstallPlan;
  readonly pki: PkiPlan;
  readonly etcd: EtcdPlan;
  readonly tls: TlsPlan;
  readonly service: ServicePlan;
  readonly files: FilesPlan;
  readonly join: JoinPlan;
  /** How long `health` waits for etcd to serve. */
  readonly healthTimeoutMs: number;
}
