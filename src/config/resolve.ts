/**
 * flags (+ host facts) → Plan. Pure: every fact about the host comes in through `HostFacts`, so the whole derivation
 * (defaults, URLs, SANs, paths, validation) is unit-tested without touching the machine.
 */
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { EtcdadmError } from '../errors.js';
import type { HostAddress } from '../host/net.js';
import { chooseAdvertiseAddress, normalizeIp } from './address.js';
import { DEFAULTS, INIT_SYSTEMS, type InitSystemName } from './defaults.js';
import { parseDuration } from './duration.js';
import { KEY_ALGORITHMS, type KeyAlgorithm, type MemberFlags, type Plan } from './types.js';
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

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;

/** Member names end up in DNS SANs and in ETCD_INITIAL_CLUSTER (name=url,...): DNS-1123 subdomains only. */
export function validateMemberName(name: string): string | undefined {
  if (!name) return 'must not be empty';
  if (name.length > 253) return 'must be at most 253 characters';
  if (!name.split('.').every((l) => LABEL.test(l)))
    return 'must be a DNS name: letters, digits, "-" and ".", each dot-separated part starting and ending with a letter or digit';
  return undefined;
}

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/;

export function parseVersion(v: string): { major: number; minor: number; patch: number; pre?: string } | undefined {
  const m = VERSION.exec(v.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), ...(m[4] ? { pre: m[4].slice(1) } : {}) };
}

export function normalizeVersion(v: string): string {
  return v.trim().replace(/^v/, '');
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

const DISK_PRIORITY = /^(Nice|IOSchedulingClass|IOSchedulingPriority|CPUSchedulingPolicy|CPUSchedulingPriority|CPUWeight|IOWeight)=\S+$/;

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

/** The address this member advertises and the one it binds, from --bind-address and the host's interfaces. */
function addresses(flags: MemberFlags, host: HostFacts): { advertise: string; bind: string } {
  const local = host.addresses.map((a) => normalizeIp(a.address));
  const detected = chooseAdvertiseAddress(host.addresses, host.defaultRouteIfaces);
  if (flags.bindAddress !== undefined) {
    const b = normalizeIp(flags.bindAddress);
    if (!isIP(b)) throw invalid('--bind-address', flags.bindAddress, 'not an IP address');
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

/** The release part of the configuration (also all that `etcdadm download` needs). */
export function resolveRelease(flags: MemberFlags): Plan['release'] {
  const version = normalizeVersion(flags.version ?? DEFAULTS.etcdVersion);
  if (!parseVersion(version)) throw invalid('--version', flags.version, 'not an etcd version such as 3.5.30');
  const releaseUrl = validateReleaseUrl(flags.releaseUrl ?? DEFAULTS.releaseUrl);
  const installDir = absolute('--install-dir', flags.installDir ?? DEFAULTS.installDir);
  const cacheDir = absolute('--cache-dir', flags.cacheDir ?? DEFAULTS.cacheDir);
  const timeoutText = flags.downloadConnectTimeout ?? DEFAULTS.downloadConnectTimeout;
  const connectTimeoutMs = parseDuration(timeoutText);
  if (connectTimeoutMs === undefined || connectTimeoutMs <= 0)
    throw invalid('--download-connect-timeout', timeoutText, 'not a duration such as 10s');
  return { version, releaseUrl, cacheDir, installDir, skipHashCheck: flags.skipHashCheck ?? false, connectTimeoutMs };
}

export function resolveMemberPlan(flags: MemberFlags, host: HostFacts): Plan {
  const name = flags.name ?? host.hostname;
  const nameProblem = validateMemberName(name);
  if (nameProblem) throw invalid('--name', name, nameProblem);

  const release = resolveRelease(flags);
  const { version, installDir } = release;
  const certsDir = absolute('--certs-dir', flags.certsDir ?? DEFAULTS.certsDir);
  const dataDir = absolute('--data-dir', flags.dataDir ?? DEFAULTS.dataDir);
  const podManifestDir = absolute('--kubelet-pod-manifest-path', flags.kubeletPodManifestPath ?? DEFAULTS.podManifestDir);

  const initSystem = (flags.initSystem ?? DEFAULTS.initSystem) as InitSystemName;
  if (!INIT_SYSTEMS.includes(initSystem)) throw invalid('--init-system', flags.initSystem, `must be one of ${INIT_SYSTEMS.join(', ')}`);

  const keyAlgorithm = (flags.keyAlgorithm ?? DEFAULTS.keyAlgorithm) as KeyAlgorithm;
  if (!KEY_ALGORITHMS.includes(keyAlgorithm)) throw invalid('--key-algorithm', flags.keyAlgorithm, `must be one of ${KEY_ALGORITHMS.join(', ')}`);

  const diskPriorities = (flags.diskPriorities ?? [...DEFAULTS.diskPriorities]).map((s) => s.trim()).filter(Boolean);
  for (const d of diskPriorities)
    if (!DISK_PRIORITY.test(d)) throw invalid('--disk-priorities', d, 'must be systemd settings such as Nice=-10,IOSchedulingClass=best-effort');

  const { advertise, bind } = addresses(flags, host);
  const clientPort = DEFAULTS.clientPort;
  const peerPort = DEFAULTS.peerPort;
  // loopback for local tools: 127.0.0.1, or ::1 on a host without IPv4 loopback
  const localClient = httpsUrl(host.addresses.some((a) => a.family === 6 && a.internal) && !host.addresses.some((a) => a.family === 4 && a.internal) ? '::1' : '127.0.0.1', clientPort);
  const listenClient = [...new Set([httpsUrl(bind, clientPort), localClient])];
  const urls = {
    listenClient,
    advertiseClient: [httpsUrl(advertise, clientPort)],
    listenPeer: [httpsUrl(bind, peerPort)],
    advertisePeer: [httpsUrl(advertise, peerPort)],
    localClient,
  };

  const extraSans = (flags.serverCertExtraSans ?? []).map((s) => s.trim()).filter(Boolean);
  const hostsOf = (list: string[]) => list.map((u) => new URL(u).hostname);
  const sans = {
    server: sanSet([name, ...hostsOf(urls.advertiseClient), ...hostsOf(urls.listenClient), '127.0.0.1', 'localhost', ...extraSans]),
    peer: sanSet([name, ...hostsOf(urls.advertisePeer), ...hostsOf(urls.listenPeer), '127.0.0.1', 'localhost']),
  };

  const endpoints = (flags.endpoints ?? []).flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean).map((e) => {
    const u = parseEndpoint(e);
    if (!u) throw invalid('endpoint', e, 'not a client URL such as https://10.0.0.1:2379');
    return u;
  });

  const unitName = DEFAULTS.unitName;
  return {
    name,
    etcdVersion: version,
    release,
    installDir,
    binaries: { etcd: join(installDir, 'etcd'), etcdctl: join(installDir, 'etcdctl'), etcdutl: join(installDir, 'etcdutl') },
    certsDir,
    certs: certFiles(certsDir),
    keyAlgorithm,
    caValidityDays: DEFAULTS.caValidityDays,
    certValidityDays: DEFAULTS.certValidityDays,
    renewBeforeDays: DEFAULTS.renewBeforeDays,
    sans,
    dataDir,
    initSystem,
    unitName,
    unitFile: join(DEFAULTS.unitDir, unitName),
    podManifestFile: join(podManifestDir, 'etcd.yaml'),
    imageRepository: flags.imageRepository ?? DEFAULTS.imageRepository,
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
    retry: flags.retry ?? true,
    endpoints,
    learner: flags.learner ?? true,
    healthTimeoutMs: parseDuration(DEFAULTS.healthTimeout)!,
    gomaxprocs: Math.max(1, host.cpus),
  };
}

/**
 * The plan of a host etcdadm already set up, from its record (/etc/etcd/etcdadm.yaml): what init/join really did
 * there wins over flags, which only fill in when there is no record. Addresses come from the record as well, so a
 * host whose addresses changed can still be cleaned up.
 */
export function resolveRecordedPlan(flags: MemberFlags, host: HostFacts, state: RecordedSetup | undefined): Plan {
  if (!state) return resolveMemberPlan(flags, host);
  const advertiseHost = new URL(state.urls.advertisePeer[0] ?? state.urls.localClient).hostname.replace(/^\[(.*)\]$/, '$1');
  const facts: HostFacts = {
    ...host,
    // the recorded address counts as this host's even if it is gone now
    addresses: [...host.addresses, { iface: 'recorded', address: advertiseHost, family: isIP(advertiseHost) === 6 ? 6 : 4, internal: false }],
  };
  const plan = resolveMemberPlan(
    {
      ...flags,
      name: state.memberName,
      version: state.etcdVersion,
      dataDir: state.dataDir,
      certsDir: state.certsDir,
      installDir: state.installDir,
      initSystem: state.initSystem,
      kubeletPodManifestPath: dirname(state.podManifestFile),
      bindAddress: advertiseHost,
    },
    facts,
  );
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
}
