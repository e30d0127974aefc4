/**
 * etcdadm's defaults. Names, paths and formats follow kubernetes-sigs/etcdadm so that existing scripts keep working.
 */
export const DEFAULTS = {
  etcdVersion: '3.5.30',
  releaseUrl: 'https://github.com/etcd-io/etcd/releases/download',
  installDir: '/opt/bin',
  cacheDir: '/var/cache/etcdadm/etcd',
  certsDir: '/etc/etcd/pki',
  dataDir: '/var/lib/etcd',
  configDir: '/etc/etcd',
  envFile: '/etc/etcd/etcd.env',
  etcdctlEnvFile: '/etc/etcd/etcdctl.env',
  stateFile: '/etc/etcd/etcdadm.yaml',
  lockFile: '/run/etcdadm.lock',
  unitName: 'etcd.service',
  unitDir: '/etc/systemd/system',
  podManifestDir: '/etc/kubernetes/manifests',
  imageRepository: 'quay.io/coreos/etcd',
  initSystem: 'systemd' as const,
  clientPort: 2379,
  peerPort: 2380,
  downloadConnectTimeout: '10s',
  diskPriorities: ['Nice=-10', 'IOSchedulingClass=best-effort', 'IOSchedulingPriority=2'],
  keyAlgorithm: 'ecdsa-p256' as const,
  caValidityDays: 3650,
  certValidityDays: 365,
  renewBeforeDays: 30,
  /** How long `health` waits for a quorum read after start. */
  healthTimeout: '2m',
} as const;

export const INIT_SYSTEMS = ['systemd', 'kubelet'] as const;
export type InitSystemName = (typeof INIT_SYSTEMS)[number];
