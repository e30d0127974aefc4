/**
 * The Plan: everything a command will do on this host, resolved once (flags → config file → defaults → derived values)
 * and never mutated afterwards. Phases read it; what they learn from the world they return, not write back here.
 */
import type { InitSystemName } from './defaults.js';
import type { DocumentDefaults } from './document.js';
import type { ReleaseSpec } from '../release/spec.js';
import type { SanSet } from './urls.js';

/** Every setting, defaults filled in: the config file's shape with nothing optional (see document.ts). */
export type Settings = DocumentDefaults;

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

/** The flags every member-making command (init, join) shares, as the user typed them. */
export interface MemberFlags {
  name?: string;
  version?: string;
  releaseUrl?: string;
  certsDir?: string;
  bindAddress?: string;
  serverCertExtraSans?: string[];
  installDir?: string;
  cacheDir?: string;
  downloadConnectTimeout?: string;
  diskPriorities?: string[];
  initSystem?: string;
  imageRepository?: string;
  dataDir?: string;
  kubeletPodManifestPath?: string;
  keyAlgorithm?: string;
  skipHashCheck?: boolean;
  snapshot?: string;
  force?: boolean;
  retry?: boolean;
  /** join: client URLs of existing members (comma-separated or repeated). */
  endpoints?: string[];
  /** join: add the member as a learner first (default), promote it once caught up. */
  learner?: boolean;
}

export interface CertFiles {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
  etcdctlCert: string;
  etcdctlKey: string;
  apiserverCert: string;
  apiserverKey: string;
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

export interface Plan {
  /** The settings this plan was derived from (defaults ← config file ← flags), as recorded on the host. */
  settings: Settings;
  name: string;
  etcdVersion: string;
  release: ReleaseSpec;
  installDir: string;
  binaries: { etcd: string; etcdctl: string; etcdutl: string };
  certsDir: string;
  certs: CertFiles;
  keyAlgorithm: KeyAlgorithm;
  caValidityDays: number;
  certValidityDays: number;
  renewBeforeDays: number;
  sans: { server: SanSet; peer: SanSet };
  dataDir: string;
  /** Separate WAL dir, when set. */
  walDir: string | undefined;
  /** The account etcd runs as (systemd); root unless service.user says otherwise. */
  serviceUser: string;
  /** etcd's own settings beyond names, paths and URLs (raft timing, quota, compaction, TLS, corruption checks). */
  tuning: Settings['etcd'] & { tls: Settings['tls'] };
  initSystem: InitSystemName;
  unitName: string;
  unitFile: string;
  podManifestFile: string;
  imageRepository: string;
  diskPriorities: string[];
  envFile: string;
  etcdctlEnvFile: string;
  etcdctlWrapper: string;
  stateFile: string;
  advertiseAddress: string;
  bindAddress: string;
  clientPort: number;
  peerPort: number;
  urls: Urls;
  snapshot: string | undefined;
  force: boolean;
  retry: boolean;
  /** join: client URLs of the cluster to join, tried in order. Empty for init. */
  endpoints: string[];
  learner: boolean;
  healthTimeoutMs: number;
  gomaxprocs: number;
}
