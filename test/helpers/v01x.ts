/**
 * Hosts set up the way kubernetes-sigs/etcdadm v0.1.x (v0.1.5) sets them up, for the tests of taking such clusters
 * over (`etcdadm adopt`). Written here from that version's documented layout and templates, not by running it:
 *
 *   /etc/etcd/etcd.env           its EnvFileTemplate: every variable, comment and blank line in its order; init
 *                                writes an 8-hex-digit token and state "new", join a blank token line and "existing"
 *   /etc/systemd/system/etcd.service   its UnitFileTemplate (0755), ExecStart=<install dir>/etcd without arguments
 *   /etc/etcd/etcdctl.env, <install dir>/etcdctl.sh   its etcdctl templates (0600, 0755)
 *   <certs dir>/                 RSA-2048 keys (PKCS#1, "RSA PRIVATE KEY", 0600), certificates 0644: the CA CN "etcd",
 *                                serial 0, 10 years, CA:TRUE, keyCertSign; server and peer CN <name> (server SANs:
 *                                name, address, 127.0.0.1; peer: name, address), client certificates
 *                                CN <name>-etcdctl and <name>-kube-apiserver-etcd-client, O system:masters; leaves 1
 *                                year, random serials, digitalSignature + keyEncipherment
 *   <install dir>/etcd, etcdctl  copied out of the release archive, which stays in /var/cache/etcdadm/etcd/v<version>/
 *   /var/lib/etcd                the data dir (v0.1.x has no flag for it)
 *
 * Its kubelet mode (`--init-system kubelet`, in its sources after v0.1.5, never tagged): no binaries, no etcd.env, no
 * unit; /etc/kubernetes/manifests/etcd.manifest runs `etcd` from quay.io/coreos/etcd:v<version> with every etcd.env
 * variable as its env (sorted, as sigs.k8s.io/yaml writes the Pod: keys alphabetical), hostPath volumes for
 * /var/log/etcd.log, the certs dir and the data dir, no probes; etcdctl.env and an etcdctl.sh pointing at an
 * etcdctl it never installed. The tests run it on the kubelet stand-in (kubelet-standin.ts).
 *
 * Members join the way v0.1.x's join does: MemberAdd as a voting member through the first host (no learners in
 * v0.1.x), then the new member starts with the initial cluster the API returned. One difference: a leaf's notBefore
 * is the time it is issued here (v0.1.x copies the CA's notBefore; OpenSSL 3.0's x509 cannot set it).
 */
import { MIRROR_DIR } from './etcd-bin.js';
import { ok, type NetnsLab } from './lab.js';

export type V01xMode = 'systemd' | 'kubelet';

/** Where the fixture keeps an etcdctl of its own (the kubelet mode installs none). */
const FIXTURE_ETCDCTL = '/var/tmp/v01x-etcdctl';

export interface V01xHost {
  /** Lab host number. */
  i: number;
  /** --install-dir (v0.1.x default /opt/bin/). */
  installDir?: string;
  /** --certs-dir (v0.1.x default /etc/etcd/pki). */
  certsDir?: string;
}

export const V01X_DEFAULTS = { installDir: '/opt/bin', certsDir: '/etc/etcd/pki', dataDir: '/var/lib/etcd' } as const;

const ENV_TEMPLATE = (v: Record<string, string>) => `ETCD_NAME=${v.name}

# Initial cluster configuration
ETCD_INITIAL_CLUSTER=${v.initialCluster}
${v.token ? `ETCD_INITIAL_CLUSTER_TOKEN=${v.token}` : ''}
ETCD_INITIAL_CLUSTER_STATE=${v.state}

# Peer configuration
ETCD_INITIAL_ADVERTISE_PEER_URLS=https://${v.ip}:2380
ETCD_LISTEN_PEER_URLS=https://${v.ip}:2380

ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_CERT_FILE=${v.certs}/peer.crt
ETCD_PEER_KEY_FILE=${v.certs}/peer.key
ETCD_PEER_TRUSTED_CA_FILE=${v.certs}/ca.crt

# Client/server configuration
ETCD_ADVERTISE_CLIENT_URLS=https://${v.ip}:2379
ETCD_LISTEN_CLIENT_URLS=https://${v.ip}:2379,https://127.0.0.1:2379

ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_CERT_FILE=${v.certs}/server.crt
ETCD_KEY_FILE=${v.certs}/server.key
ETCD_TRUSTED_CA_FILE=${v.certs}/ca.crt

# Other
ETCD_DATA_DIR=/var/lib/etcd
ETCD_STRICT_RECONFIG_CHECK=true
GOMAXPROCS=${v.cpus}
`;

const UNIT_TEMPLATE = (installDir: string) => `[Unit]
Description=etcd
Documentation=https://github.com/coreos/etcd
Conflicts=etcd-member.service
Conflicts=etcd2.service

[Service]
EnvironmentFile=/etc/etcd/etcd.env
ExecStart=${installDir}/etcd

Type=notify
TimeoutStartSec=0
Restart=on-failure
RestartSec=5s

LimitNOFILE=65536
Nice=-10
IOSchedulingClass=best-effort
IOSchedulingPriority=2
MemoryLow=200M

[Install]
WantedBy=multi-user.target
`;

const ETCDCTL_ENV = (certs: string) => `export ETCDCTL_API=3

export ETCDCTL_CACERT=${certs}/ca.crt
export ETCDCTL_CERT=${certs}/etcdctl-etcd-client.crt
export ETCDCTL_KEY=${certs}/etcdctl-etcd-client.key

export ETCDCTL_DIAL_TIMEOUT=3s
`;

const ETCDCTL_SH = (installDir: string) => `#!/usr/bin/env sh
if ! [ -r "/etc/etcd/etcdctl.env" ]; then
\techo "Unable to read the etcdctl environment file '/etc/etcd/etcdctl.env'. The file must exist, and this wrapper must be run as root."
\texit 1
fi
. "/etc/etcd/etcdctl.env"
"${installDir}/etcdctl" "$@"
`;

/** A heredoc that writes `text` to `path` with `mode`. */
function put(path: string, text: string, mode: string): string {
  return `mkdir -p "$(dirname ${path})" && cat > ${path} <<'V01X_EOF'\n${text}V01X_EOF\nchmod ${mode} ${path}\n`;
}

/** The openssl commands for one leaf: an RSA-2048 PKCS#1 key and a certificate signed by the CA in `certs`. */
function leaf(certs: string, file: string, subject: string, ext: string): string {
  return `openssl genrsa -traditional -out ${certs}/${file}.key 2048 2>/dev/null
chmod 600 ${certs}/${file}.key
cat > /tmp/v01x-${file}.ext <<'V01X_EOF'
[v3]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
authorityKeyIdentifier = keyid
${ext}
V01X_EOF
openssl req -new -key ${certs}/${file}.key -subj "${subject}" -out /tmp/v01x-${file}.csr
openssl x509 -req -in /tmp/v01x-${file}.csr -CA ${certs}/ca.crt -CAkey ${certs}/ca.key -set_serial 0x$(openssl rand -hex 7) -days 365 -sha256 -extfile /tmp/v01x-${file}.ext -extensions v3 -out ${certs}/${file}.crt 2>/dev/null
chmod 644 ${certs}/${file}.crt
rm -f /tmp/v01x-${file}.csr /tmp/v01x-${file}.ext
`;
}

/** The CA as v0.1.x makes it (certutil.NewSelfSignedCACert): CN etcd, serial 0, 10 years. */
function caScript(certs: string): string {
  return `mkdir -p ${certs}
openssl genrsa -traditional -out ${certs}/ca.key 2048 2>/dev/null
chmod 600 ${certs}/ca.key
cat > /tmp/v01x-ca.cnf <<'V01X_EOF'
[req]
distinguished_name = dn
x509_extensions = v3
prompt = no
[dn]
CN = etcd
[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
subjectKeyIdentifier = hash
V01X_EOF
openssl req -x509 -new -key ${certs}/ca.key -config /tmp/v01x-ca.cnf -set_serial 0 -days 3650 -sha256 -out ${certs}/ca.crt
chmod 644 ${certs}/ca.crt
rm -f /tmp/v01x-ca.cnf
`;
}

/** Everything v0.1.x writes on a member host before it starts etcd, except the CA (copied in) and etcd.env. */
function hostScript(lab: NetnsLab, h: Required<V01xHost>, version: string, mode: V01xMode): string {
  const name = lab.hostname(h.i);
  const ip = lab.ip(h.i);
  const certs = h.certsDir;
  const archive = `etcd-v${version}-linux-amd64.tar.gz`;
  const extract = (files: string) => `t=$(mktemp -d) && tar xzf ${MIRROR_DIR}/v${version}/${archive} --strip-components=1 -C $t && ${files} && rm -rf $t`;
  return [
    'set -e',
    ...(mode === 'systemd'
      ? [
          `mkdir -p /var/cache/etcdadm/etcd/v${version} ${h.installDir}`,
          `cp ${MIRROR_DIR}/v${version}/${archive} /var/cache/etcdadm/etcd/v${version}/${archive}`,
          extract(`cp -f $t/etcd ${h.installDir}/etcd && cp -f $t/etcdctl ${h.installDir}/etcdctl`),
        ]
      : [extract(`cp -f $t/etcdctl ${FIXTURE_ETCDCTL}`)]),
    leaf(certs, 'server', `/CN=${name}`, `extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:${name}, IP:${ip}, IP:127.0.0.1`),
    leaf(certs, 'peer', `/CN=${name}`, `extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:${name}, IP:${ip}`),
    leaf(certs, 'etcdctl-etcd-client', `/O=system:masters/CN=${name}-etcdctl`, 'extendedKeyUsage = clientAuth'),
    leaf(certs, 'apiserver-etcd-client', `/O=system:masters/CN=${name}-kube-apiserver-etcd-client`, 'extendedKeyUsage = clientAuth'),
    ...(mode === 'systemd' ? [put('/etc/systemd/system/etcd.service', UNIT_TEMPLATE(h.installDir), '755')] : []),
  ].join('\n');
}

/** The static Pod of v0.1.x's kubelet mode, for the variables of `envText` (etcd.env's text). */
export function podManifest(envText: string, version: string, certsDir: string): string {
  const env = envText
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const q = (v: string) => (/^[0-9]+$/.test(v) || v === 'true' ? `"${v}"` : v);
  return `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels:
    k8s-app: etcd
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    env:
${env.map(([k, v]) => `    - name: ${k}\n      value: ${q(v)}`).join('\n')}
    image: quay.io/coreos/etcd:v${version}
    name: etcd
    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    securityContext:
      privileged: true
    volumeMounts:
    - mountPath: /var/log/etcd.log
      name: varlogetcd
    - mountPath: ${certsDir}
      name: pki
    - mountPath: /var/lib/etcd
      name: data
  hostNetwork: true
  priorityClassName: system-cluster-critical
  volumes:
  - hostPath:
      path: /var/log/etcd.log
      type: FileOrCreate
    name: varlogetcd
  - hostPath:
      path: ${certsDir}
      type: Directory
    name: pki
  - hostPath:
      path: /var/lib/etcd
      type: Directory
    name: data
status: {}
`;
}

async function startScript(lab: NetnsLab, h: Required<V01xHost>, env: { initialCluster: string; token: string; state: string }, version: string, mode: V01xMode): Promise<string> {
  const cpus = ok(await lab.on(h.i, ['nproc'])).stdout.trim();
  const text = ENV_TEMPLATE({ name: lab.hostname(h.i), ip: lab.ip(h.i), certs: h.certsDir, cpus, ...env });
  const service =
    mode === 'systemd'
      ? [put('/etc/etcd/etcd.env', text, '600'), 'systemctl daemon-reload && systemctl enable etcd.service >/dev/null 2>&1 && systemctl start etcd.service']
      : ['mkdir -p -m 0700 /var/lib/etcd', put('/etc/kubernetes/manifests/etcd.manifest', podManifest(text, version, h.certsDir), '644')];
  return ['set -e', ...service, put('/etc/etcd/etcdctl.env', ETCDCTL_ENV(h.certsDir), '600'), put(`${h.installDir}/etcdctl.sh`, ETCDCTL_SH(h.installDir), '755')].join('\n');
}

/** etcdctl with the host's etcdctl.env: its etcdctl.sh, or (kubelet mode, which installs no etcdctl) the fixture's. */
function ctl(h: Required<V01xHost>, mode: V01xMode): string {
  return mode === 'systemd' ? `${h.installDir}/etcdctl.sh` : `. /etc/etcd/etcdctl.env && ${FIXTURE_ETCDCTL}`;
}

/**
 * A cluster of `hosts` built as etcdadm v0.1.x builds it: the first host's init, then each other host's join,
 * one at a time (the CA copied as `rsync -avR /etc/etcd/pki/ca.* host:/` would). Returns once every member is healthy.
 */
export async function buildV01xCluster(lab: NetnsLab, hosts: V01xHost[], opts: { version?: string; mode?: V01xMode } = {}): Promise<void> {
  const version = opts.version ?? '3.4.23';
  const mode = opts.mode ?? 'systemd';
  const all = hosts.map((h) => ({ installDir: V01X_DEFAULTS.installDir, certsDir: V01X_DEFAULTS.certsDir, ...h }));
  const first = all[0]!;
  ok(await lab.sh(first.i, `set -e\n${caScript(first.certsDir)}`), `v0.1.x CA on host${first.i}`);
  const caCrt = ok(await lab.on(first.i, ['cat', `${first.certsDir}/ca.crt`])).stdout;
  const caKey = ok(await lab.on(first.i, ['cat', `${first.certsDir}/ca.key`])).stdout;
  for (const h of all) {
    if (h !== first) ok(await lab.sh(h.i, `set -e\n${put(`${h.certsDir}/ca.crt`, caCrt, '644')}${put(`${h.certsDir}/ca.key`, caKey, '600')}`), `CA copied to host${h.i}`);
    ok(await lab.sh(h.i, hostScript(lab, h, version, mode)), `v0.1.x files on host${h.i}`);
  }
  const token = ok(await lab.sh(first.i, 'openssl rand -hex 4')).stdout.trim();
  ok(await lab.sh(first.i, await startScript(lab, first, { initialCluster: `${lab.hostname(first.i)}=https://${lab.ip(first.i)}:2380`, token, state: 'new' }, version, mode)), `v0.1.x init on host${first.i}`);
  await healthy(lab, first, mode);
  for (const h of all.slice(1)) await joinV01x(lab, first, h, version, mode);
}

/** One v0.1.x join of `h` through `via`: MemberAdd (a voting member), then start with the returned initial cluster. */
export async function joinV01x(lab: NetnsLab, via: V01xHost, host: V01xHost, version: string, mode: V01xMode): Promise<void> {
  const v = { installDir: V01X_DEFAULTS.installDir, certsDir: V01X_DEFAULTS.certsDir, ...via };
  const h = { installDir: V01X_DEFAULTS.installDir, certsDir: V01X_DEFAULTS.certsDir, ...host };
  // v0.1.x retries MemberAdd (5 tries, backoff from 2 s): etcd refuses it until every voter has been connected 5 s
  const add = `for k in $(seq 10); do ${ctl(v, mode)} member add ${lab.hostname(h.i)} --peer-urls=https://${lab.ip(h.i)}:2380 2>/tmp/v01x-add.err && exit 0; grep -q 'unhealthy cluster' /tmp/v01x-add.err || break; sleep 2; done; cat /tmp/v01x-add.err >&2; exit 1`;
  const added = ok(await lab.sh(v.i, add), `member add host${h.i}`).stdout;
  const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added)?.[1];
  if (!initialCluster) throw new Error(`member add printed no initial cluster:\n${added}`);
  ok(await lab.sh(h.i, await startScript(lab, h, { initialCluster, token: '', state: 'existing' }, version, mode)), `v0.1.x join on host${h.i}`);
  await healthy(lab, h, mode);
}

async function healthy(lab: NetnsLab, h: Required<V01xHost>, mode: V01xMode): Promise<void> {
  const health = `(${ctl(h, mode)} endpoint health)`;
  ok(await lab.sh(h.i, `for k in $(seq 150); do ${health} >/dev/null 2>&1 && exit 0; sleep 0.2; done; ${health}`), `etcd healthy on host${h.i}`);
}
