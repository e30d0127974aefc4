/**
 * The files etcdadm writes for etcd, as pure functions of the Plan (and, for the env file, the cluster facts that
 * init/join learned). Formats follow kubernetes-sigs/etcdadm: /etc/etcd/etcd.env, the etcd.service unit,
 * /etc/etcd/etcdctl.env and <install-dir>/etcdctl.sh, or a static Pod manifest for --init-system kubelet.
 */
import type { Plan } from '../config/types.js';
import { effectiveCipherSuites } from '../config/document.js';
import { isKnownEtcdFlag } from '../config/etcd-flags.js';
import { extraArgsEnv } from '../config/file.js';

export interface ClusterFacts {
  initialCluster: string;
  state: 'new' | 'existing';
  token: string;
}

/** The etcd settings as ordered KEY=value pairs; the env file and the static Pod both render from this. */
export function etcdEnvironment(plan: Plan, cluster: ClusterFacts): [string, string][] {
  const c = plan.certs;
  return [
    ['ETCD_NAME', plan.name],
    ['ETCD_INITIAL_CLUSTER', cluster.initialCluster],
    ['ETCD_INITIAL_CLUSTER_TOKEN', cluster.token],
    ['ETCD_INITIAL_CLUSTER_STATE', cluster.state],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', plan.urls.advertisePeer.join(',')],
    ['ETCD_LISTEN_PEER_URLS', plan.urls.listenPeer.join(',')],
    ['ETCD_CLIENT_CERT_AUTH', 'true'],
    ['ETCD_PEER_CERT_FILE', c.peerCert],
    ['ETCD_PEER_KEY_FILE', c.peerKey],
    ['ETCD_PEER_TRUSTED_CA_FILE', c.caCert],
    ['ETCD_ADVERTISE_CLIENT_URLS', plan.urls.advertiseClient.join(',')],
    ['ETCD_LISTEN_CLIENT_URLS', plan.urls.listenClient.join(',')],
    ['ETCD_PEER_CLIENT_CERT_AUTH', 'true'],
    ['ETCD_CERT_FILE', c.serverCert],
    ['ETCD_KEY_FILE', c.serverKey],
    ['ETCD_TRUSTED_CA_FILE', c.caCert],
    ['ETCD_DATA_DIR', plan.dataDir],
    ...(plan.walDir ? ([['ETCD_WAL_DIR', plan.walDir]] as [string, string][]) : []),
    ['ETCD_STRICT_RECONFIG_CHECK', 'true'],
    ['GOMAXPROCS', String(plan.gomaxprocs)],
    ...productionSettings(plan),
    ...extraArgsEnv(plan.tuning.extraArgs),
  ];
}

/** ETCD_FOO_BAR for the flag foo-bar. */
export const envName = (flag: string): string => `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;

/**
 * The production settings (README: "Production defaults"), as flag → value. Each is written only when the etcd
 * version that will run knows the flag (3.4 and 3.5 differ), so etcd never meets a variable it does not accept.
 */
export function productionSettings(plan: Plan): [string, string][] {
  const t = plan.tuning;
  const wanted: [string, string | undefined][] = [
    ['listen-metrics-urls', plan.urls.listenMetrics.join(',') || undefined],
    ['quota-backend-bytes', String(t.quotaBackendBytes)],
    ['auto-compaction-mode', t.autoCompactionRetention !== '0' ? t.autoCompactionMode : undefined],
    ['auto-compaction-retention', t.autoCompactionRetention !== '0' ? t.autoCompactionRetention : undefined],
    ['heartbeat-interval', String(t.heartbeatInterval)],
    ['election-timeout', String(t.electionTimeout)],
    ['tls-min-version', t.tls.minVersion],
    ['cipher-suites', effectiveCipherSuites(t.tls.minVersion, t.tls.cipherSuites).join(',') || undefined],
    ['peer-cert-allowed-cn', t.tls.peerCertAllowedCN || undefined],
    ['experimental-initial-corrupt-check', t.corruptCheck ? 'true' : undefined],
    ['experimental-corrupt-check-time', t.corruptCheck ? '5m' : undefined],
    ['experimental-compact-hash-check-enabled', t.corruptCheck ? 'true' : undefined],
  ];
  return wanted
    .filter((e): e is [string, string] => e[1] !== undefined && isKnownEtcdFlag(plan.etcdVersion, e[0]))
    .map(([flag, value]) => [envName(flag), value]);
}

const SECTIONS: Record<string, string> = {
  ETCD_INITIAL_CLUSTER: '# Initial cluster configuration',
  ETCD_INITIAL_ADVERTISE_PEER_URLS: '# Peer configuration',
  ETCD_ADVERTISE_CLIENT_URLS: '# Client/server configuration',
  ETCD_DATA_DIR: '# Other',
  ETCD_LISTEN_METRICS_URLS: '# Production settings (etcdadm defaults, see its README; only flags this etcd version knows)',
};

/** /etc/etcd/etcd.env, in etcdadm's layout (sections and variable names). */
export function renderEnvFile(plan: Plan, cluster: ClusterFacts): string {
  const lines: string[] = ['# Written by etcdadm. Changes are overwritten by etcdadm init/join.'];
  const extra = new Set(extraArgsEnv(plan.tuning.extraArgs).map(([k]) => k));
  let extraHeader = false;
  for (const [k, v] of etcdEnvironment(plan, cluster)) {
    const section = extra.has(k) && !extraHeader ? '# Extra arguments (etcd.extraArgs)' : SECTIONS[k];
    if (extra.has(k)) extraHeader = true;
    if (section) lines.push('', section);
    if (k === 'ETCD_CLIENT_CERT_AUTH' || k === 'ETCD_PEER_CLIENT_CERT_AUTH') lines.push('');
    lines.push(`${k}=${v}`);
  }
  return lines.join('\n') + '\n';
}

/** Parse a KEY=value env file (comments and blank lines ignored). */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

/** The systemd unit, as etcdadm writes it (Type=notify so `systemctl start` returns once etcd is serving). */
export function renderUnit(plan: Plan): string {
  return `[Unit]
Description=etcd key-value store (managed by etcdadm)
Documentation=https://etcd.io/docs/
After=network-online.target local-fs.target
Wants=network-online.target
Conflicts=etcd-member.service
Conflicts=etcd2.service

[Service]
${plan.serviceUser !== 'root' ? `User=${plan.serviceUser}\nGroup=${plan.serviceUser}\n` : ''}EnvironmentFile=${plan.envFile}
ExecStart=${plan.binaries.etcd}

Type=notify
TimeoutStartSec=0
Restart=on-failure
RestartSec=5s

LimitNOFILE=65536
${plan.diskPriorities.join('\n')}
MemoryLow=200M

[Install]
WantedBy=multi-user.target
`;
}

/** /etc/etcd/etcdctl.env: what etcdctl.sh sources (etcdadm's variables). */
export function renderEtcdctlEnv(plan: Plan): string {
  return `export ETCDCTL_API=3

export ETCDCTL_CACERT=${plan.certs.caCert}
export ETCDCTL_CERT=${plan.certs.etcdctlCert}
export ETCDCTL_KEY=${plan.certs.etcdctlKey}
export ETCDCTL_ENDPOINTS=${plan.urls.localClient}

export ETCDCTL_DIAL_TIMEOUT=3s
`;
}

/** <install-dir>/etcdctl.sh: etcdctl with the client certificate, as etcdadm ships it. */
export function renderEtcdctlWrapper(plan: Plan): string {
  return `#!/usr/bin/env sh
if ! [ -r "${plan.etcdctlEnvFile}" ]; then
	echo "Unable to read the etcdctl environment file '${plan.etcdctlEnvFile}'. The file must exist, and this wrapper must be run as root."
	exit 1
fi
. "${plan.etcdctlEnvFile}"
"${plan.binaries.etcdctl}" "$@"
`;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

/** The static Pod manifest for --init-system kubelet: hostNetwork, the image, the env, hostPath volumes. */
export function renderPodManifest(plan: Plan, env: [string, string][]): string {
  const envYaml = env
    .map(([k, v]) => `    - name: ${k}\n      value: ${yamlString(v)}`)
    .join('\n');
  return `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels:
    component: etcd
    tier: control-plane
  annotations:
    etcdadm.io/advertise-client-urls: ${yamlString(plan.urls.advertiseClient.join(','))}
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  containers:
  - name: etcd
    image: ${yamlString(`${plan.imageRepository}:v${plan.etcdVersion}`)}
    imagePullPolicy: IfNotPresent
    command:
    - /usr/local/bin/etcd
    env:
${envYaml}
    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    volumeMounts:
    - name: etcd-certs
      mountPath: ${yamlString(plan.certsDir)}
      readOnly: true
    - name: etcd-data
      mountPath: ${yamlString(plan.dataDir)}
  volumes:
  - name: etcd-certs
    hostPath:
      path: ${yamlString(plan.certsDir)}
      type: DirectoryOrCreate
  - name: etcd-data
    hostPath:
      path: ${yamlString(plan.dataDir)}
      type: DirectoryOrCreate
`;
}
