/**
 * Hosts set up by kubernetes-sigs/etcdadm v0.1.x, which keeps no record of its own: whether a host is one, and the
 * host record its files imply. Pure: `observeLegacy` (observe.ts) gathers what is on the host, `deriveLegacy`
 * decides.
 *
 * What v0.1.x writes (its templates, v0.1.0–v0.1.5; the kubelet mode of its later, untagged sources):
 *   /etc/etcd/etcd.env            ETCD_NAME, ETCD_INITIAL_CLUSTER[_TOKEN|_STATE], peer and client URLs, the certificate
 *                                 files <certs dir>/{server,peer,ca}.{crt,key}, ETCD_DATA_DIR=/var/lib/etcd, GOMAXPROCS
 *   /etc/systemd/system/etcd.service   EnvironmentFile=/etc/etcd/etcd.env, ExecStart=<install dir>/etcd (no arguments)
 *   or /etc/kubernetes/manifests/etcd.manifest   a static Pod running `etcd` with those variables as its env, image
 *                                 quay.io/coreos/etcd:v<version>
 *   /etc/etcd/etcdctl.env, <install dir>/etcdctl.sh, <certs dir>/etcdctl-etcd-client.{crt,key}
 *   keys RSA 2048
 *
 * The kubelet mode installs no binaries: the install dir stays etcdadm's default, where etcdadm puts them.
 *
 * Whatever cannot be read from those files (the etcd version when neither the binary nor the member answers) is asked
 * for by flag, named in `missing`.
 */
import { DEFAULTS, KEY_ALGORITHMS, PATHS, type KeyAlgorithm } from '../config/defaults.js';
import type { PartialSettings } from '../config/settings.js';
import { systemDirProblem } from '../host/dirs.js';


/** Where v0.1.x puts what it does not take a flag for. */
export const LEGACY_PATHS = {
  envFile: PATHS.envFile,
  unitFile: `${PATHS.unitDir}/etcd.service`,
  etcdctlEnvFile: PATHS.etcdctlEnvFile,
  /** Its kubelet mode: the static Pod's file in the kubelet's manifest dir. */
  podManifestFile: `${DEFAULTS.podManifestDir}/etcd.manifest`,
} as const;

export const LEGACY_NAME = 'etcdadm v0.1.x';

/** A private key as observed: its algorithm (node's asymmetricKeyType) and size. */
export interface KeyFacts {
  type: string;
  /** RSA modulus bits, or the EC curve's bits. */
  bits?: number;
  curve?: string;
}

/** What is on the host, read by observe.ts. Absent files are undefined. */
export interface LegacyObservation {
  envFile?: string;
  unit?: string;
  /** The kubelet mode's static Pod, parsed: the etcd container's env and image, the Pod's hostPath volumes. */
  pod?: { path: string; image: string; command: string[]; env: Record<string, string>; hostPaths: string[] };
  etcdctlEnv?: string;
  /** <install dir>/etcdctl.sh. */
  wrapper?: string;
  /** The certificates dir's files by etcdadm's names (ca, server, peer, etcdctl-etcd-client): present, and their keys. */
  certs: Record<string, { cert: boolean; key?: KeyFacts }>;
  /** `<install dir>/etcd --version`. */
  binaryVersion?: string;
  /** The running member, when it answered over the etcdctl client certificate. */
  member?: { id: string; clusterId: string; version: string; clientURLs: string[]; clusterEndpoints: string[] };
  /** The SHA-256 fingerprint of ca.crt. */
  caFingerprint?: string;
  /** --etcd-version given to adopt: what neither the binary nor the member told. */
  versionFlag?: string;
}

export interface LegacyFacts {
  createdBy: 'init' | 'join';
  clusterToken: string;
  memberName: string;
  memberId?: string;
  clusterId?: string;
  clusterEndpoints?: string[];
  caFingerprint?: string;
  createdDirs: string[];
}

export interface DerivedHost {
  /** What the record's settings will say. */
  settings: PartialSettings;
  facts: LegacyFacts;
  /** One line per thing found, for `adopt` to show. */
  found: string[];
}

export type LegacyVerdict =
  | { kind: 'none' }
  | { kind: 'derived'; host: DerivedHost }
  /** Traces of an etcd here, but not v0.1.x's layout (or something needed cannot be read): what is missing. */
  | { kind: 'unknown'; missing: string[]; found: string[] };

/** The variables v0.1.x always writes to etcd.env (or the Pod's env). */
const REQUIRED_ENV = [
  'ETCD_NAME',
  'ETCD_INITIAL_CLUSTER',
  'ETCD_INITIAL_CLUSTER_STATE',
  'ETCD_INITIAL_ADVERTISE_PEER_URLS',
  'ETCD_LISTEN_PEER_URLS',
  'ETCD_ADVERTISE_CLIENT_URLS',
  'ETCD_LISTEN_CLIENT_URLS',
  'ETCD_CERT_FILE',
  'ETCD_KEY_FILE',
  'ETCD_TRUSTED_CA_FILE',
  'ETCD_PEER_CERT_FILE',
  'ETCD_PEER_KEY_FILE',
  'ETCD_PEER_TRUSTED_CA_FILE',
  'ETCD_DATA_DIR',
] as const;

/** The Description line of the unit etcdadm renders (service/render.ts). */
const OWN_UNIT = /^Description=.*\(managed by etcdadm\)$/m;

const LEAVES = ['ca', 'server', 'peer', 'etcdctl-etcd-client'] as const;

/** `KEY=value` lines (v0.1.x writes no quotes and no `export`); comments and blank lines ignored. */
export function parseLegacyEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The value of `key=` lines of a unit's [Service] section, in order. */
function unitValues(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

const list = (v: string | undefined): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

/** The key algorithm setting of observed keys: all RSA 2048/3072/4096 or all P-256, else undefined. */
export function keyAlgorithmOf(keys: readonly KeyFacts[]): KeyAlgorithm | undefined {
  const names = new Set(
    keys.map((k) => (k.type === 'rsa' ? `rsa-${k.bits}` : k.type === 'ec' && (k.curve === 'prime256v1' || k.bits === 256) ? 'ecdsa-p256' : `${k.type}`)),
  );
  if (names.size !== 1) return undefined;
  const [name] = [...names];
  return (KEY_ALGORITHMS as readonly string[]).includes(name!) ? (name as KeyAlgorithm) : undefined;
}

/** A version out of `etcd --version` output or an image tag ("v3.4.23", "3.4.23"). */
export function versionIn(text: string | undefined): string | undefined {
  const m = text ? /(?:etcd Version: |:v?|^v?)(\d+\.\d+\.\d+)\b/m.exec(text) : null;
  return m?.[1];
}

/**
 * Whether the observed host is one etcdadm v0.1.x set up, and if so the record it implies. `none`: no etcd of any
 * kind here (no etcd.env, no unit, no static Pod). Pure.
 */
export function deriveLegacy(o: LegacyObservation): LegacyVerdict {
  const found: string[] = [];
  const missing: string[] = [];
  const kubelet = o.pod !== undefined;
  if (!o.envFile && !o.unit && !o.pod) return { kind: 'none' };
  // a unit etcdadm writes itself: a host of ours whose record is missing is not another tool's
  if (o.unit && OWN_UNIT.test(o.unit)) return { kind: 'none' };

  // the service: a unit whose ExecStart is <install dir>/etcd with no arguments, reading /etc/etcd/etcd.env; or the Pod
  let installDir: string | undefined;
  let env: Record<string, string> = {};
  if (kubelet) {
    const pod = o.pod!;
    found.push(`static Pod ${pod.path} (image ${pod.image})`);
    if (pod.command.join(' ') !== 'etcd') missing.push(`the static Pod runs "${pod.command.join(' ')}", not etcd configured by its environment (as ${LEGACY_NAME} writes it)`);
    env = pod.env;
  } else {
    if (!o.unit) missing.push(`${LEGACY_PATHS.unitFile} (the systemd unit ${LEGACY_NAME} writes)`);
    else {
      const exec = unitValues(o.unit, 'ExecStart');
      const envFiles = unitValues(o.unit, 'EnvironmentFile');
      const start = exec.length === 1 ? exec[0]! : '';
      if (!/^\/\S*\/etcd$/.test(start)) missing.push(`${LEGACY_PATHS.unitFile}: ExecStart=${exec.join(' ') || '(none)'} is not <install dir>/etcd without arguments`);
      else installDir = dirOf(start);
      if (!envFiles.includes(LEGACY_PATHS.envFile)) missing.push(`${LEGACY_PATHS.unitFile}: no EnvironmentFile=${LEGACY_PATHS.envFile}`);
      if (installDir) found.push(`systemd unit ${LEGACY_PATHS.unitFile} running ${start}`);
    }
    if (!o.envFile) missing.push(`${LEGACY_PATHS.envFile} (the etcd configuration ${LEGACY_NAME} writes)`);
    else env = parseLegacyEnv(o.envFile);
  }
  if (o.envFile || kubelet) {
    const absent = REQUIRED_ENV.filter((k) => !env[k]);
    if (absent.length) missing.push(`${kubelet ? `${o.pod!.path}: the etcd container's env` : LEGACY_PATHS.envFile} lacks ${absent.join(', ')}`);
  }

  // the certificates: etcdadm's names in one dir, the one the server certificate is in
  const certsDir = env.ETCD_CERT_FILE ? dirOf(env.ETCD_CERT_FILE) : undefined;
  if (certsDir) {
    const expect: Record<string, string | undefined> = {
      ETCD_CERT_FILE: `${certsDir}/server.crt`,
      ETCD_KEY_FILE: `${certsDir}/server.key`,
      ETCD_TRUSTED_CA_FILE: `${certsDir}/ca.crt`,
      ETCD_PEER_CERT_FILE: `${certsDir}/peer.crt`,
      ETCD_PEER_KEY_FILE: `${certsDir}/peer.key`,
      ETCD_PEER_TRUSTED_CA_FILE: `${certsDir}/ca.crt`,
    };
    for (const [k, want] of Object.entries(expect)) if (env[k] && env[k] !== want) missing.push(`${k}=${env[k]} is not ${want} (etcdadm's certificate names)`);
    const absent = LEAVES.filter((n) => !o.certs[n]?.cert || !o.certs[n]?.key);
    if (absent.length) missing.push(`${certsDir}: no ${absent.map((n) => `${n}.crt/.key`).join(', ')}`);
    else found.push(`certificates in ${certsDir} (${LEAVES.join(', ')})`);
  }
  // the kubelet mode installs no binaries (its etcdctl.sh points at an etcdctl it never put there): not required
  if (!kubelet && installDir && o.wrapper === undefined) missing.push(`${installDir}/etcdctl.sh (the etcdctl wrapper ${LEGACY_NAME} writes)`);
  if (o.etcdctlEnv === undefined) missing.push(`${LEGACY_PATHS.etcdctlEnvFile}`);

  const keys = LEAVES.map((n) => o.certs[n]?.key).filter((k): k is KeyFacts => k !== undefined);
  const keyAlgorithm = keys.length === LEAVES.length ? keyAlgorithmOf(keys) : undefined;
  if (keys.length === LEAVES.length && !keyAlgorithm)
    missing.push(`a key algorithm etcdadm can keep: the keys are ${[...new Set(keys.map((k) => `${k.type}${k.bits ? `-${k.bits}` : ''}`))].join(', ')}`);

  const version = o.member?.version || o.binaryVersion || (kubelet ? versionIn(o.pod!.image) : undefined) || o.versionFlag;
  if (!version) missing.push(`the etcd version (neither ${installDir ?? 'the install dir'}/etcd --version nor the member answered): pass --version to etcdadm adopt`);
  else found.push(`etcd ${version}${o.member ? ` (member ${o.member.id} of cluster ${o.member.clusterId} answers)` : ' (the member does not answer)'}`);

  if (missing.length) return { kind: 'unknown', missing, found };

  const dataDir = env.ETCD_DATA_DIR!;
  const name = env.ETCD_NAME!;
  const state = env.ETCD_INITIAL_CLUSTER_STATE === 'new' ? 'init' : 'join';
  const settings: PartialSettings = {
    member: {
      name,
      dataDir,
      listenClientURLs: list(env.ETCD_LISTEN_CLIENT_URLS),
      advertiseClientURLs: list(env.ETCD_ADVERTISE_CLIENT_URLS),
      listenPeerURLs: list(env.ETCD_LISTEN_PEER_URLS),
      advertisePeerURLs: list(env.ETCD_INITIAL_ADVERTISE_PEER_URLS),
    },
    etcd: { version: version! },
    pki: { certsDir: certsDir!, keyAlgorithm: keyAlgorithm! },
    // v0.1.x sets no cipher suites: etcd's own stay
    tls: { cipherSuites: [] },
    service: kubelet
      ? {
          initSystem: 'kubelet',
          kubeletPodManifestPath: dirOf(o.pod!.path),
          // etcd.manifest, not etcd.yaml: the Pod keeps its file, so the kubelet never sees two
          kubeletPodManifestName: o.pod!.path.slice(dirOf(o.pod!.path).length + 1),
          imageRepository: o.pod!.image.replace(/:[^:/]+$/, ''),
        }
      : { initSystem: 'systemd', unitName: 'etcd.service', user: 'root', ...diskPriorities(o.unit!) },
    ...(installDir ? { install: { installDir } } : {}),
  };
  // v0.1.x made the data dir and the certs dir (and an install dir of its own); reset removes only what is listed
  const createdDirs = [dataDir, certsDir!, ...(installDir && installDir !== DEFAULTS.installDir && !systemDirProblem(installDir) ? [installDir] : [])];
  return {
    kind: 'derived',
    host: {
      settings,
      found,
      facts: {
        createdBy: state,
        // a joined member's etcd.env has no token (etcd reads it only when it creates a cluster)
        clusterToken: env.ETCD_INITIAL_CLUSTER_TOKEN || (o.member ? `adopted-${o.member.clusterId}` : 'adopted'),
        memberName: name,
        ...(o.member ? { memberId: o.member.id, clusterId: o.member.clusterId, clusterEndpoints: o.member.clusterEndpoints } : {}),
        ...(o.caFingerprint ? { caFingerprint: o.caFingerprint } : {}),
        createdDirs,
      },
    },
  };
}

/** The unit's disk priority lines (Nice=, IOScheduling*=), when they differ from etcdadm's defaults. */
function diskPriorities(unit: string): { diskPriorities?: string[] } {
  const lines = unit
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(Nice|IOSchedulingClass|IOSchedulingPriority|CPUSchedulingPolicy|CPUSchedulingPriority)=/.test(l));
  return lines.join('\n') === DEFAULTS.diskPriorities.join('\n') ? {} : { diskPriorities: lines };
}
