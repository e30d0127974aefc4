/**
 * etcdadm's defaults and fixed paths, each written once. Names, paths and formats follow kubernetes-sigs/etcdadm so
 * that existing scripts keep working. The configuration schema (schema.ts) takes its field defaults from here; the
 * other modules import what they need from here and define no default of their own.
 */
export const DEFAULTS = {
  etcdVersion: '3.6.16',
  releaseUrl: 'https://github.com/etcd-io/etcd/releases/download',
  installDir: '/opt/bin',
  cacheDir: '/var/cache/etcdadm/etcd',
  certsDir: '/etc/etcd/pki',
  dataDir: '/var/lib/etcd',
  unitName: 'etcd.service',
  podManifestDir: '/etc/kubernetes/manifests',
  imageRepository: 'quay.io/coreos/etcd',
  initSystem: 'systemd' as const,
  serviceUser: 'root',
  clientPort: 2379,
  peerPort: 2380,
  metricsURL: 'http://127.0.0.1:2381',
  downloadConnectTimeout: '10s',
  diskPriorities: ['Nice=-10', 'IOSchedulingClass=best-effort', 'IOSchedulingPriority=2'],
  keyAlgorithm: 'ecdsa-p256' as const,
  caValidityDays: 3650,
  certValidityDays: 365,
  /** A leaf certificate expiring within this many days is renewed. */
  renewBeforeDays: 30,
  quotaBackendBytes: 2 * 1024 ** 3,
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  /** `backup schedule` without --keep: a day of hourly snapshots. */
  backupKeep: 24,
  /** defrag (and its timer) without --threshold: a member is defragmented when more than this share of its file is free. */
  defragThreshold: '20%',
  /** How long `health` waits for etcd to serve after start. */
  healthTimeout: '2m',
} as const;

/** Files whose place is fixed (etcdadm's layout; not settings). */
export const PATHS = {
  configDir: '/etc/etcd',
  envFile: '/etc/etcd/etcd.env',
  etcdctlEnvFile: '/etc/etcd/etcdctl.env',
  /** The host record: what etcdadm set up here. */
  recordFile: '/etc/etcd/etcdadm.yaml',
  lockFile: '/run/etcdadm.lock',
  /** Snapshots etcdadm takes before it changes a member (upgrade apply): 0700, each file 0600. */
  backupDir: '/var/backups/etcdadm',
  unitDir: '/etc/systemd/system',
  /** Scheduled backups (`etcdadm backup run`): the outcome of the last runs, JSON, 0600, in a 0700 directory. */
  backupStateFile: '/var/lib/etcdadm/backup-state.json',
  /** The static Pod's file name inside the kubelet's manifest dir. */
  podManifestName: 'etcd.yaml',
  /** etcdctl with the client certificate, inside the install dir. */
  etcdctlWrapperName: 'etcdctl.sh',
} as const;

/** Object storage for snapshots (src/s3/). */
export const S3_DEFAULTS = {
  /** When neither --s3-region nor AWS_REGION / AWS_DEFAULT_REGION says. */
  region: 'us-east-1',
  /** Multipart upload part size: S3's minimum is 5 MiB (every part but the last). */
  partSize: 8 * 1024 * 1024,
  /** A request that sends or receives nothing for this long fails (a cut-off endpoint drops packets). */
  idleTimeoutMs: 30_000,
  /** Tries (with 0.5 s, 1 s, 2 s pauses) to abort a failed multipart upload. */
  abortTries: 4,
} as const;

/**
 * Free space a data or WAL dir's filesystem must have before etcd is set up there: etcd preallocates 64 MiB per WAL
 * segment and exits at once when it cannot; the rest is room for the first snapshot and the backend.
 */
export const MIN_FREE_BYTES = 128 * 1024 * 1024;

export const INIT_SYSTEMS = ['systemd', 'kubelet'] as const;
export type InitSystemName = (typeof INIT_SYSTEMS)[number];

export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
