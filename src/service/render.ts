/**
 * The files etcdadm writes for etcd, as pure functions of the Plan (and, for the env file, the cluster facts that
 * init/join learned). Formats follow kubernetes-sigs/etcdadm: /etc/etcd/etcd.env, the etcd.service unit,
 * /etc/etcd/etcdctl.env and <install-dir>/etcdctl.sh, or a static Pod manifest for --init-system kubelet.
 */
import type { Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import { mergeFeatureGates, spellEtcdFlags } from '../config/etcd-flags.js';
import { extraArgsEnv } from '../config/file.js';
import { atLeastMinor } from '../config/version.js';

/**
 * Every value a renderer writes passes here: a control character (a newline above all) would end the value and
 * start a line of its own, so it is refused, naming where it was going; nothing is written. Pure.
 */
export function noControl(where: string, value: string): string {
  if (/[\x00-\x1f\x7f]/.test(value))
    throw new EtcdadmError(`refusing to write ${where}: its value ${JSON.stringify(value)} holds a control character`, {
      hint: 'check the setting (or the member list) it comes from; etcdadm changed nothing',
    });
  return value;
}

/** An EnvironmentFile= value: as it is when plain, else double-quoted with \ and " escaped (systemd's syntax). Pure. */
export function envValue(key: string, value: string): string {
  noControl(`${key} in etcd.env`, value);
  return /^[^\s"'\\]*$/.test(value) ? value : `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A word for sh: as it is when nothing in it is special to the shell, else single-quoted. Pure. */
export function shellWord(where: string, value: string): string {
  noControl(where, value);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

/** A word for sh inside double quotes as etcdadm writes them, or single-quoted when it holds $ ` " \ or !. Pure. */
function quotedShellWord(where: string, value: string): string {
  noControl(where, value);
  return /^[^$`"\\!]*$/.test(value) ? `"${value}"` : `'${value.replace(/'/g, "'\\''")}'`;
}

/** A path in a systemd unit setting that expands specifiers (EnvironmentFile=): % written %%. Pure. */
function unitPath(where: string, value: string): string {
  return noControl(where, value).replace(/%/g, '%%');
}

export interface ClusterFacts {
  initialCluster: string;
  state: 'new' | 'existing';
  token: string;
}

/**
 * The cluster facts of the env file etcd runs with: etcd reads them at its first start only, so a later rewrite keeps
 * them as written (`token`, the host record's, when the file names none). Pure.
 */
export function clusterFactsOf(env: ReadonlyMap<string, string>, envFile: string, token?: string): ClusterFacts {
  const initialCluster = env.get('ETCD_INITIAL_CLUSTER');
  const t = env.get('ETCD_INITIAL_CLUSTER_TOKEN') ?? token;
  if (!initialCluster || !t)
    throw new EtcdadmError(`${envFile} has no ETCD_INITIAL_CLUSTER/ETCD_INITIAL_CLUSTER_TOKEN`, { hint: 'this member was not set up by etcdadm init or join: change its etcd.env by hand' });
  return { initialCluster, token: t, state: env.get('ETCD_INITIAL_CLUSTER_STATE') === 'new' ? 'new' : 'existing' };
}

/** The etcd settings as ordered KEY=value pairs; the env file and the static Pod both render from this. */
export function etcdEnvironment(plan: Plan, cluster: ClusterFacts): [string, string][] {
  const f = plan.pki.files;
  const m = plan.member;
  const production = productionSettings(plan);
  const extra = extraArgsEnv(plan.etcd.extraArgs);
  // one ETCD_FEATURE_GATES: etcdadm's gates merged with those of etcd.extraArgs (which win for a gate named twice)
  const gates = 'ETCD_FEATURE_GATES';
  const ours = production.find(([k]) => k === gates)?.[1];
  const theirs = extra.find(([k]) => k === gates)?.[1];
  const merged: [string, string][] = ours && theirs ? [[gates, mergeFeatureGates(ours, theirs)]] : [];
  return [
    ['ETCD_NAME', m.name],
    ['ETCD_INITIAL_CLUSTER', cluster.initialCluster],
    ['ETCD_INITIAL_CLUSTER_TOKEN', cluster.token],
    ['ETCD_INITIAL_CLUSTER_STATE', cluster.state],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', m.urls.advertisePeer.join(',')],
    ['ETCD_LISTEN_PEER_URLS', m.urls.listenPeer.join(',')],
    ['ETCD_CLIENT_CERT_AUTH', 'true'],
    ['ETCD_PEER_CERT_FILE', f.peer.certPath],
    ['ETCD_PEER_KEY_FILE', f.peer.keyPath],
    ['ETCD_PEER_TRUSTED_CA_FILE', f.ca.certPath],
    ['ETCD_ADVERTISE_CLIENT_URLS', m.urls.advertiseClient.join(',')],
    ['ETCD_LISTEN_CLIENT_URLS', m.urls.listenClient.join(',')],
    ['ETCD_PEER_CLIENT_CERT_AUTH', 'true'],
    ['ETCD_CERT_FILE', f.server.certPath],
    ['ETCD_KEY_FILE', f.server.keyPath],
    ['ETCD_TRUSTED_CA_FILE', f.ca.certPath],
    ['ETCD_DATA_DIR', m.dataDir],
    ...(m.walDir ? ([['ETCD_WAL_DIR', m.walDir]] as [string, string][]) : []),
    ['ETCD_STRICT_RECONFIG_CHECK', 'true'],
    ['GOMAXPROCS', String(plan.etcd.gomaxprocs)],
    ...(merged.length ? production.filter(([k]) => k !== gates) : production),
    ...(merged.length ? [...extra.filter(([k]) => k !== gates), ...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : extra),
  ];
}

/** ETCD_FOO_BAR for the flag foo-bar. */
export const envName = (flag: string): string => `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;

/**
 * The production settings (docs/commands.md: "Production defaults"), as ETCD_* variable → value, spelled for the etcd version
 * that will run (spellEtcdFlags: 3.6+ names and feature gates instead of 3.5's experimental flags) and written only
 * when that version knows the flag (3.4 and 3.5 differ), so etcd never meets a variable it does not accept and logs
 * no deprecation.
 */
export function productionSettings(plan: Plan): [string, string][] {
  const t = plan.etcd;
  const tls = plan.tls;
  const wanted: [string, string | undefined][] = [
    // structured (JSON) logs on every version: 3.4's default, capnslog, is deprecated and unstructured
    ['logger', 'zap'],
    ['listen-metrics-urls', plan.member.urls.listenMetrics.join(',') || undefined],
    ['quota-backend-bytes', String(t.quotaBackendBytes)],
    ['auto-compaction-mode', t.autoCompactionRetention !== '0' ? t.autoCompactionMode : undefined],
    ['auto-compaction-retention', t.autoCompactionRetention !== '0' ? t.autoCompactionRetention : undefined],
    ['heartbeat-interval', String(t.heartbeatInterval)],
    ['election-timeout', String(t.electionTimeout)],
    ['tls-min-version', tls.minVersion],
    ['cipher-suites', tls.cipherSuites.join(',') || undefined],
    ['peer-cert-allowed-cn', tls.peerCertAllowedCN || undefined],
    ['experimental-initial-corrupt-check', t.corruptCheck ? 'true' : undefined],
    ['experimental-corrupt-check-time', t.corruptCheck ? '5m' : undefined],
    ['experimental-compact-hash-check-enabled', t.corruptCheck ? 'true' : undefined],
  ];
  const set = wanted.filter((e): e is [string, string] => e[1] !== undefined);
  return spellEtcdFlags(plan.release.version, set).map(([flag, value]) => [envName(flag), value]);
}

const SECTIONS: Record<string, string> = {
  ETCD_INITIAL_CLUSTER: '# Initial cluster configuration',
  ETCD_INITIAL_ADVERTISE_PEER_URLS: '# Peer configuration',
  ETCD_ADVERTISE_CLIENT_URLS: '# Client/server configuration',
  ETCD_DATA_DIR: '# Other',
  ETCD_LOGGER: '# Production settings (etcdadm defaults, see its README; only flags this etcd version knows)',
};

/** /etc/etcd/etcd.env, in etcdadm's layout (sections and variable names). */
export function renderEnvFile(plan: Plan, cluster: ClusterFacts): string {
  const lines: string[] = ['# Written by etcdadm. Changes are overwritten by etcdadm init/join.'];
  const extra = new Set(extraArgsEnv(plan.etcd.extraArgs).map(([k]) => k));
  let extraHeader = false;
  for (const [k, v] of etcdEnvironment(plan, cluster)) {
    const section = extra.has(k) && !extraHeader ? '# Extra arguments (etcd.extraArgs)' : SECTIONS[k];
    if (extra.has(k)) extraHeader = true;
    if (section) lines.push('', section);
    if (k === 'ETCD_CLIENT_CERT_AUTH' || k === 'ETCD_PEER_CLIENT_CERT_AUTH') lines.push('');
    lines.push(`${k}=${envValue(k, v)}`);
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
    if (m) out.set(m[1]!, /^"(.*)"$/.test(m[2]!) ? m[2]!.slice(1, -1).replace(/\\(["\\])/g, '$1') : m[2]!);
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
${plan.service.user !== 'root' ? `User=${noControl('User=', plan.service.user)}\nGroup=${plan.service.user}\n` : ''}EnvironmentFile=${unitPath('EnvironmentFile=', plan.files.envFile)}
ExecStart=${execWord(plan.install.binaries.etcd)}

Type=notify
TimeoutStartSec=0
Restart=on-failure
RestartSec=5s

LimitNOFILE=65536
${plan.service.diskPriorities.join('\n')}
MemoryLow=200M

[Install]
WantedBy=multi-user.target
`;
}

/**
 * /etc/etcd/etcdctl.env: what etcdctl.sh sources, exactly etcdadm's variables. No ETCDCTL_ENDPOINTS: etcdctl 3.5 exits
 * ("conflicting environment variable is shadowed by corresponding command-line flag") when a script that sourced the
 * file also passes --endpoints; etcdctl.sh adds the local endpoint itself. ETCDCTL_API=3 only for etcdctl 3.4/3.5:
 * 3.6 removed the v2 API and warns "unrecognized environment variable" about it on every command.
 */
export function renderEtcdctlEnv(plan: Plan): string {
  const f = plan.pki.files;
  const api = atLeastMinor(plan.release.version, 3, 6) ? '' : 'export ETCDCTL_API=3\n\n';
  return `${api}export ETCDCTL_CACERT=${shellWord('ETCDCTL_CACERT', f.ca.certPath)}
export ETCDCTL_CERT=${shellWord('ETCDCTL_CERT', f['etcdctl-etcd-client'].certPath)}
export ETCDCTL_KEY=${shellWord('ETCDCTL_KEY', f['etcdctl-etcd-client'].keyPath)}

export ETCDCTL_DIAL_TIMEOUT=3s
`;
}

/**
 * <install-dir>/etcdctl.sh: etcdctl with the client certificate, as etcdadm ships it, talking to the local member
 * (also on a non-default client port) unless the caller names endpoints itself (--endpoints, or ETCDCTL_ENDPOINTS).
 */
export function renderEtcdctlWrapper(plan: Plan): string {
  const env = quotedShellWord('the etcdctl.env path in etcdctl.sh', plan.files.etcdctlEnvFile);
  const etcdctl = quotedShellWord('the etcdctl path in etcdctl.sh', plan.install.binaries.etcdctl);
  const endpoint = quotedShellWord('the endpoint in etcdctl.sh', plan.member.urls.localClient);
  const shown = /^[^$`"\\!]*$/.test(plan.files.etcdctlEnvFile) ? plan.files.etcdctlEnvFile : 'named in this script';
  return `#!/usr/bin/env sh
if ! [ -r ${env} ]; then
	echo "Unable to read the etcdctl environment file '${shown}'. The file must exist, and this wrapper must be run as root."
	exit 1
fi
. ${env}
if [ -z "\${ETCDCTL_ENDPOINTS:-}" ]; then
	for arg in "$@"; do
		case "$arg" in
		--endpoints|--endpoints=*) exec ${etcdctl} "$@" ;;
		esac
	done
	exec ${etcdctl} --endpoints=${endpoint} "$@"
fi
exec ${etcdctl} "$@"
`;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

/** The plain-http /health listener on this host the kubelet can probe (host and port), when there is one. */
function probeTarget(plan: Plan): { host: string; port: number } | undefined {
  for (const u of plan.member.urls.listenMetrics) {
    const url = new URL(u);
    if (url.protocol !== 'http:') continue;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return { host: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port: Number(url.port) };
  }
  return undefined;
}

/**
 * The static Pod manifest for --init-system kubelet: hostNetwork, the image, the env, hostPath volumes mounted at
 * their own paths, and kubeadm's probes on the plain-http metrics URL (liveness: a serializable /health, so that a
 * cluster without quorum does not have every member restarted; startup: a quorum /health).
 */
export function renderPodManifest(plan: Plan, env: [string, string][]): string {
  const envYaml = env.map(([k, v]) => `    - name: ${k}\n      value: ${yamlString(v)}`).join('\n');
  const dirs: [string, string][] = [
    ['etcd-certs', plan.pki.certsDir],
    ['etcd-data', plan.member.dataDir],
    ...(plan.member.walDir ? ([['etcd-wal', plan.member.walDir]] as [string, string][]) : []),
  ];
  const mounts = dirs.map(([name, path]) => `    - name: ${name}\n      mountPath: ${yamlString(path)}${name === 'etcd-certs' ? '\n      readOnly: true' : ''}`).join('\n');
  const volumes = dirs.map(([name, path]) => `  - name: ${name}\n    hostPath:\n      path: ${yamlString(path)}\n      type: DirectoryOrCreate`).join('\n');
  const t = probeTarget(plan);
  const probe = (kind: string, path: string, failureThreshold: number) =>
    t
      ? `    ${kind}:\n      failureThreshold: ${failureThreshold}\n      httpGet:\n        host: ${yamlString(t.host)}\n        path: ${yamlString(path)}\n        port: ${t.port}\n        scheme: HTTP\n      initialDelaySeconds: 10\n      periodSeconds: 10\n      timeoutSeconds: 15\n`
      : '';
  return `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  labels:
    component: etcd
    tier: control-plane
  annotations:
    etcdadm.io/advertise-client-urls: ${yamlString(plan.member.urls.advertiseClient.join(','))}
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  containers:
  - name: etcd
    image: ${yamlString(`${plan.service.imageRepository}:v${plan.release.version}`)}
    imagePullPolicy: IfNotPresent
    command:
    - /usr/local/bin/etcd
    env:
${envYaml}
${probe('livenessProbe', '/health?serializable=true', 8)}${probe('startupProbe', '/health?serializable=false', 24)}    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    volumeMounts:
${mounts}
  volumes:
${volumes}
`;
}

/** What the backup units are rendered from (see src/backup/schedule.ts). */
export interface BackupUnitInput {
  /** The etcdadm to run, by absolute paths (etcdadmCommand). */
  command: readonly string[];
  every: string;
  keep: number;
  onCalendar: string;
  randomizedDelaySec: number;
  /** The service the timer starts. */
  serviceUnit: string;
  /** The etcd unit the backups are of (ordered after it at boot), for systemd hosts. */
  etcdUnit?: string;
}

/**
 * systemd's quoting for one ExecStart= word: plain when safe, else in double quotes with \ and " escaped; % (a
 * specifier) written %% and $ (a variable) $$ either way; a control character refused. Pure.
 */
export function execWord(word: string): string {
  noControl('ExecStart=', word);
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** A oneshot service that an etcdadm timer starts: one etcdadm command, niced, its files private (UMask=0077). */
export interface OneshotUnitInput {
  description: string;
  /** The whole command line (absolute paths first). */
  argv: readonly string[];
  /** The etcd unit it is ordered after at boot, for systemd hosts. */
  etcdUnit?: string;
  /** How long a run may take before systemd stops it (a stalled run must not hold the host lock forever); 1 h. */
  timeoutSec?: number;
}

export function renderOneshotService(u: OneshotUnitInput): string {
  const after = u.etcdUnit ? ` ${u.etcdUnit}` : '';
  return `[Unit]
Description=${u.description}
Documentation=man:systemd.timer(5)
After=network-online.target local-fs.target${after}
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${u.argv.map(execWord).join(' ')}
TimeoutStartSec=${u.timeoutSec ?? 3600}
Nice=10
IOSchedulingClass=idle
UMask=0077
`;
}

/** A calendar timer of an etcdadm oneshot: Persistent=true (a run missed while off runs at boot), a fixed random spread. */
export interface TimerUnitInput {
  description: string;
  onCalendar: string;
  randomizedDelaySec: number;
  serviceUnit: string;
}

export function renderTimer(u: TimerUnitInput): string {
  return `[Unit]
Description=${u.description}

[Timer]
OnCalendar=${u.onCalendar}
Persistent=true
RandomizedDelaySec=${u.randomizedDelaySec}
FixedRandomDelay=true
AccuracySec=1s
Unit=${u.serviceUnit}

[Install]
WantedBy=timers.target
`;
}

/**
 * etcdadm-backup.service: a oneshot that runs `etcdadm backup run` — the snapshot save and the prune as one phase
 * list that records its outcome in the state file. Everything else comes from the host record, so the unit carries
 * no settings that could drift from it, and no secret.
 */
export function renderBackupService(u: BackupUnitInput): string {
  return renderOneshotService({
    description: `etcd snapshot every ${u.every}, the newest ${u.keep} kept (managed by etcdadm)`,
    argv: [...u.command, 'backup', 'run'],
    ...(u.etcdUnit ? { etcdUnit: u.etcdUnit } : {}),
  });
}

/** etcdadm-backup.timer: OnCalendar= at the interval, Persistent=true (a run missed while off runs at boot), spread. */
export function renderBackupTimer(u: BackupUnitInput): string {
  return renderTimer({ description: `etcd snapshot every ${u.every} (managed by etcdadm)`, onCalendar: u.onCalendar, randomizedDelaySec: u.randomizedDelaySec, serviceUnit: u.serviceUnit });
}
