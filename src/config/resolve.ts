/**
 * flags (+ host facts) → Plan. Pure: every fact about the host comes in through `HostFacts`, so the whole derivation
 * (defaults, URLs, SANs, paths, validation) is unit-tested without touching the machine.
 */
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { EtcdadmError } from '../errors.js';
import type { HostAddress } from '../host/net.js';
import { chooseAdvertiseAddress, normalizeIp } from './address.js';
import { DISK_PRIORITY, normalizeVersion, parseVersion, validateMemberName } from './validate.js';

export { normalizeVersion, parseVersion, validateMemberName } from './validate.js';
import { DEFAULTS, INIT_SYSTEMS, type InitSystemName } from './defaults.js';
import { CONFIG_API_VERSION, DEFAULT_DOCUMENT_VALUES, type ConfigDocument } from './document.js';
import { parseDuration } from './duration.js';
import { KEY_ALGORITHMS, type KeyAlgorithm, type MemberFlags, type Plan, type Settings } from './types.js';
import { httpsUrl, isWildcard, parseEndpoint, sanSet } from './urls.js';

export interface HostFacts {
  hostname: string;
  addresses: HostAddress[];
  defaultRouteIfaces: string[];
  cpus: number;
}

export function invalid(flag: string, value: unknown, why: string): EtcdadmError {
  return new EtcdadmError(`invalid ${flag} ${JSON.stringify(value)}: ${why}`, { hint: `run 'etcdadm <command> --help' for the accepted values`, exitCode: 2 });
}

function validateReleaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid('--release-url', url, 'not a URL');
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) throw invalid('--release-url', url, 'must be http://, https:// or file://');
  return url.replace(/\/+$/, '');
}


function certFiles(dir: string) {
  const p = (n: string) => join(dir, n);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    peerCert: p('peer.crt'),
    peerKey: p('peer.key'),
    etcdctlCert: p('etcdctl-etcd-client.crt'),
    etcdctlKey: p('etcdctl-etcd-client.key'),
    apiserverCert: p('apiserver-etcd-client.crt'),
    apiserverKey: p('apiserver-etcd-client.key'),
  };
}

function absolute(flag: string, path: string): string {
  if (!path.startsWith('/')) throw invalid(flag, path, 'must be an absolute path');
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** The address this member advertises and the one it binds, from the bind address setting and the host's interfaces. */
function addresses(bindAddress: string, host: HostFacts): { advertise: string; bind: string } {
  const local = host.addresses.map((a) => normalizeIp(a.address));
  const detected = chooseAdvertiseAddress(host.addresses, host.defaultRouteIfaces);
  if (bindAddress) {
    const b = normalizeIp(bindAddress);
    if (!isIP(b)) throw invalid('--bind-address', bindAddress, 'not an IP address');
    if (isWildcard(b)) {
      if (!detected) throw noAddress();
      return { advertise: detected, bind: b };
    }
    if (!local.includes(b))
      throw new EtcdadmError(`--bind-address ${b} is not an address of this host (it has ${local.join(', ')})`, {
        hint: 'pass one of this host\'s addresses, or omit --bind-address to use the default-route address',
        exitCode: 2,
      });
    return { advertise: b, bind: b };
  }
  if (!detected) throw noAddress();
  return { advertise: detected, bind: detected };
}

function noAddress(): EtcdadmError {
  return new EtcdadmError('this host has no global unicast address to advertise', {
    hint: 'configure an address on an interface, or pass --bind-address',
    exitCode: 2,
  });
}

type Layer = { [K in keyof Settings]?: { -readonly [F in keyof Settings[K]]?: Settings[K][F] } };

/** A deep, mutable copy of the defaults with each layer's set fields laid over them, later layers winning. */
export function mergeSettings(...layers: (Layer | ConfigDocument | undefined)[]): Settings {
  const out = structuredClone(DEFAULT_DOCUMENT_VALUES) as unknown as Record<string, Record<string, unknown>>;
  for (const layer of layers) {
    if (!layer) continue;
    for (const [section, fields] of Object.entries(layer)) {
      if (section === 'apiVersion' || section === 'kind' || typeof fields !== 'object' || fields === null) continue;
      for (const [k, v] of Object.entries(fields as Record<string, unknown>)) if (v !== undefined) out[section]![k] = structuredClone(v);
    }
  }
  return out as unknown as Settings;
}

/** The flags a user typed, as a settings layer (flags win over the config file). */
export function flagsLayer(f: MemberFlags): Layer {
  const layer: Layer = {
    member: { name: f.name, dataDir: f.dataDir, bindAddress: f.bindAddress },
    etcd: {
      version: f.version,
      releaseURL: f.releaseUrl,
      skipHashCheck: f.skipHashCheck,
      downloadConnectTimeout: f.downloadConnectTimeout,
    },
    pki: { certsDir: f.certsDir, keyAlgorithm: f.keyAlgorithm as KeyAlgorithm | undefined, serverCertExtraSANs: f.serverCertExtraSans },
    install: { installDir: f.installDir, cacheDir: f.cacheDir },
    service: {
      initSystem: f.initSystem as InitSystemName | undefined,
      imageRepository: f.imageRepository,
      kubeletPodManifestPath: f.kubeletPodManifestPath,
      diskPriorities: f.diskPriorities,
    },
    join: { endpoints: f.endpoints && f.endpoints.length > 0 ? f.endpoints : undefined, learner: f.learner, retry: f.retry },
  };
  return layer;
}

/** The release part of the configuration (also all that `etcdadm download` needs). */
export function resolveRelease(flags: MemberFlags, file?: ConfigDocument): Plan['release'] {
  return releaseOf(mergeSettings(file, flagsLayer(flags)));
}

function releaseOf(s: Settings): Plan['release'] {
  const version = normalizeVersion(s.etcd.version);
  if (!parseVersion(version)) throw invalid('--version', s.etcd.version, 'not an etcd version such as 3.5.30');
  const releaseUrl = validateReleaseUrl(s.etcd.releaseURL);
  const installDir = absolute('--install-dir', s.install.installDir);
  const cacheDir = absolute('--cache-dir', s.install.cacheDir);
  const connectTimeoutMs = parseDuration(s.etcd.downloadConnectTimeout);
  if (connectTimeoutMs === undefined || connectTimeoutMs <= 0)
    throw invalid('--download-connect-timeout', s.etcd.downloadConnectTimeout, 'not a duration such as 10s');
  return { version, releaseUrl, cacheDir, installDir, skipHashCheck: s.etcd.skipHashCheck, connectTimeoutMs };
}

const isLoopbackUrl = (u: string) => {
  const h = new URL(u).hostname.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || h.startsWith('127.');
};

/**
 * flags (+ the --config document) + host facts → Plan. Flags win over the file, the file over the defaults; then
 * everything else (URLs, SANs, paths) is derived.
 */
export function resolveMemberPlan(flags: MemberFlags, host: HostFacts, file?: ConfigDocument): Plan {
  const settings = mergeSettings(file, flagsLayer(flags));
  const m = settings.member;
  const name = m.name || host.hostname;
  const nameProblem = validateMemberName(name);
  if (nameProblem) throw invalid('--name', name, nameProblem);

  const release = releaseOf(settings);
  const { version, installDir } = release;
  const certsDir = absolute('--certs-dir', settings.pki.certsDir);
  const dataDir = absolute('--data-dir', m.dataDir);
  const walDir = m.walDir ? absolute('member.walDir', m.walDir) : undefined;
  const svc = settings.service;
  const podManifestDir = absolute('--kubelet-pod-manifest-path', svc.kubeletPodManifestPath);

  const initSystem = svc.initSystem as InitSystemName;
  if (!INIT_SYSTEMS.includes(initSystem)) throw invalid('--init-system', svc.initSystem, `must be one of ${INIT_SYSTEMS.join(', ')}`);
  const keyAlgorithm = settings.pki.keyAlgorithm as KeyAlgorithm;
  if (!KEY_ALGORITHMS.includes(keyAlgorithm)) throw invalid('--key-algorithm', keyAlgorithm, `must be one of ${KEY_ALGORITHMS.join(', ')}`);
  const diskPriorities = svc.diskPriorities.map((x) => x.trim()).filter(Boolean);
  for (const d of diskPriorities)
    if (!DISK_PRIORITY.test(d)) throw invalid('--disk-priorities', d, 'must be systemd settings such as Nice=-10,IOSchedulingClass=best-effort');

  const { clientPort, peerPort } = m;
  // the host's address is needed only for URLs the settings do not give
  const needAddress = !m.advertiseClientURLs.length || !m.advertisePeerURLs.length || !m.listenClientURLs.length || !m.listenPeerURLs.length;
  const { advertise, bind } = needAddress
    ? addresses(m.bindAddress, host)
    : { advertise: new URL(m.advertisePeerURLs[0]!).hostname.replace(/^\[(.*)\]$/, '$1'), bind: m.bindAddress };
  // loopback for local tools: 127.0.0.1, or ::1 on a host without IPv4 loopback
  const loopback = host.addresses.some((a) => a.family === 6 && a.internal) && !host.addresses.some((a) => a.family === 4 && a.internal) ? '::1' : '127.0.0.1';
  const listenClient = m.listenClientURLs.length ? [...m.listenClientURLs] : [...new Set([httpsUrl(bind, clientPort), httpsUrl(loopback, clientPort)])];
  const advertiseClient = m.advertiseClientURLs.length ? [...m.advertiseClientURLs] : [httpsUrl(advertise, clientPort)];
  const urls = {
    listenClient,
    advertiseClient,
    listenPeer: m.listenPeerURLs.length ? [...m.listenPeerURLs] : [httpsUrl(bind, peerPort)],
    advertisePeer: m.advertisePeerURLs.length ? [...m.advertisePeerURLs] : [httpsUrl(advertise, peerPort)],
    localClient: listenClient.find(isLoopbackUrl) ?? advertiseClient[0]!,
    listenMetrics: [...m.listenMetricsURLs],
  };

  const hostsOf = (list: string[]) => list.map((u) => new URL(u).hostname);
  const clean = (list: readonly string[]) => list.map((x) => x.trim()).filter(Boolean);
  const sans = {
    server: sanSet([name, ...hostsOf(urls.advertiseClient), ...hostsOf(urls.listenClient), '127.0.0.1', 'localhost', ...clean(settings.pki.serverCertExtraSANs)]),
    peer: sanSet([name, ...hostsOf(urls.advertisePeer), ...hostsOf(urls.listenPeer), '127.0.0.1', 'localhost', ...clean(settings.pki.peerCertExtraSANs)]),
  };

  const endpoints = settings.join.endpoints.flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean).map((e) => {
    const u = parseEndpoint(e);
    if (!u) throw invalid('endpoint', e, 'not a client URL such as https://10.0.0.1:2379');
    return u;
  });

  const unitName = svc.unitName;
  return {
    settings,
    name,
    etcdVersion: version,
    release,
    installDir,
    binaries: { etcd: join(installDir, 'etcd'), etcdctl: join(installDir, 'etcdctl'), etcdutl: join(installDir, 'etcdutl') },
    certsDir,
    certs: certFiles(certsDir),
    keyAlgorithm,
    caValidityDays: settings.pki.caValidityDays,
    certValidityDays: settings.pki.certValidityDays,
    renewBeforeDays: DEFAULTS.renewBeforeDays,
    sans,
    dataDir,
    walDir,
    serviceUser: svc.user,
    tuning: { ...settings.etcd, tls: settings.tls },
    initSystem,
    unitName,
    unitFile: join(DEFAULTS.unitDir, unitName),
    podManifestFile: join(podManifestDir, 'etcd.yaml'),
    imageRepository: svc.imageRepository,
    diskPriorities,
    envFile: DEFAULTS.envFile,
    etcdctlEnvFile: DEFAULTS.etcdctlEnvFile,
    etcdctlWrapper: join(installDir, 'etcdctl.sh'),
    stateFile: DEFAULTS.stateFile,
    advertiseAddress: advertise,
    bindAddress: bind,
    clientPort,
    peerPort,
    urls,
    snapshot: flags.snapshot,
    force: flags.force ?? false,
    retry: settings.join.retry,
    endpoints,
    learner: settings.join.learner,
    healthTimeoutMs: parseDuration(DEFAULTS.healthTimeout)!,
    gomaxprocs: Math.max(1, host.cpus),
  };
}

/**
 * The plan of a host etcdadm already set up, from its record (/etc/etcd/etcdadm.yaml): what init/join really did
 * there wins over flags, which only fill in when there is no record. Addresses come from the record as well, so a
 * host whose addresses changed can still be cleaned up.
 */
export function resolveRecordedPlan(flags: MemberFlags, host: HostFacts, state: RecordedSetup | undefined, file?: ConfigDocument): Plan {
  if (!state) return resolveMemberPlan(flags, host, file);
  const advertiseHost = new URL(state.urls.advertisePeer[0] ?? state.urls.localClient).hostname.replace(/^\[(.*)\]$/, '$1');
  const facts: HostFacts = {
    ...host,
    // the recorded address counts as this host's even if it is gone now
    addresses: [...host.addresses, { iface: 'recorded', address: advertiseHost, family: isIP(advertiseHost) === 6 ? 6 : 4, internal: false }],
  };
  // the record wins: flags and the file only fill in what an older record may lack
  const recorded: MemberFlags = {
    name: state.memberName,
    version: state.etcdVersion,
    dataDir: state.dataDir,
    certsDir: state.certsDir,
    installDir: state.installDir,
    initSystem: state.initSystem,
    kubeletPodManifestPath: dirname(state.podManifestFile),
    bindAddress: advertiseHost,
  };
  const plan = state.settings
    ? resolveMemberPlan({ ...recorded, snapshot: flags.snapshot, force: flags.force }, facts, { apiVersion: CONFIG_API_VERSION, kind: 'JoinConfiguration', ...state.settings } as ConfigDocument)
    : resolveMemberPlan({ ...flags, ...recorded }, facts, file);
  return { ...plan, urls: state.urls, unitName: state.unitName, unitFile: state.unitFile, envFile: state.envFile, etcdctlEnvFile: state.etcdctlEnvFile, etcdctlWrapper: state.etcdctlWrapper };
}

/** The part of the recorded host state that plan resolution reads (see host/state.ts). */
export interface RecordedSetup {
  memberName: string;
  etcdVersion: string;
  dataDir: string;
  certsDir: string;
  installDir: string;
  initSystem: InitSystemName;
  podManifestFile: string;
  unitName: string;
  unitFile: string;
  envFile: string;
  etcdctlEnvFile: string;
  etcdctlWrapper: string;
  urls: Plan['urls'];
  /** The settings init/join resolved (absent in records of older versions). */
  settings?: Settings;
}
