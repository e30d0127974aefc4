/**
 * Flag definitions, written once and added to every command that takes them (init, join, their phases, download).
 * Names and defaults follow kubernetes-sigs/etcdadm.
 */
import { Option, type Command } from '@commander-js/extra-typings';
import { DEFAULTS } from '../config/defaults.js';
import type { MemberFlags } from '../config/types.js';
import { KEY_ALGORITHMS } from '../config/types.js';

/** How a default shows in --help (flags carry no commander defaults: an unset flag must not hide the config file). */
function show(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** "a,b" and repeated flags both give a list. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

export type FlagSet = 'init' | 'join' | 'download';

/** Add the release flags (version, release URL, cache, timeouts). */
function releaseOptions(set: FlagSet): Option[] {
  const opts = [
    new Option('--version <version>', `etcd version to install (default: ${show(DEFAULTS.etcdVersion)})`),
    new Option('--release-url <url>', `URL of etcd releases (http(s):// or file://; layout vX.Y.Z/etcd-vX.Y.Z-linux-ARCH.tar.gz + SHA256SUMS) (default: ${show(DEFAULTS.releaseUrl)})`),
    new Option('--cache-dir <dir>', `where downloaded releases are cached (default: ${show(DEFAULTS.cacheDir)})`),
    new Option('--download-connect-timeout <duration>', `how long to wait for the release server to answer (default: ${show(DEFAULTS.downloadConnectTimeout)})`),
  ];
  if (set !== 'join') opts.push(new Option('--skip-hash-check', 'accept a release that has no SHA256SUMS (not recommended)'));
  return opts;
}

export const configOption = (): Option =>
  new Option('--config <file>', 'a configuration document (apiVersion etcdadm.io/v1beta1); flags given as well win over it');

export function memberOptions(set: FlagSet): Option[] {
  if (set === 'download') return [configOption(), ...releaseOptions(set)];
  const opts: Option[] = [
    configOption(),
    new Option('--name <name>', 'member name (default: this host\'s hostname)'),
    ...releaseOptions(set),
    new Option('--certs-dir <dir>', `certificates directory (default: ${show(DEFAULTS.certsDir)})`),
    new Option('--bind-address <ip>', 'address etcd listens on and advertises (default: the default-route interface\'s address)'),
    new Option('--server-cert-extra-sans <names>', 'extra Subject Alternative Names for the server certificate (comma-separated, repeatable)').argParser(collectList),
    new Option('--install-dir <dir>', `directory for the etcd binaries (default: ${show(DEFAULTS.installDir)})`),
    new Option('--data-dir <dir>', `etcd data directory (default: ${show(DEFAULTS.dataDir)})`),
    new Option('--disk-priorities <settings>', `systemd disk/CPU priority settings for etcd (comma-separated) (default: ${show(DEFAULTS.diskPriorities)})`).argParser(collectList),
    new Option('--init-system <name>', `how etcd is run: systemd or kubelet (static Pod) (default: ${DEFAULTS.initSystem})`).choices(['systemd', 'kubelet']),
    new Option('--image-repository <repo>', `image repository for the static Pod (--init-system kubelet) (default: ${show(DEFAULTS.imageRepository)})`),
    new Option('--kubelet-pod-manifest-path <dir>', `where the kubelet reads static Pod manifests (default: ${show(DEFAULTS.podManifestDir)})`),
    new Option('--key-algorithm <alg>', `key algorithm for new keys (default: ${DEFAULTS.keyAlgorithm})`).choices([...KEY_ALGORITHMS]),
  ];
  if (set === 'init') {
    opts.push(new Option('--snapshot <file>', 'restore the new cluster from this etcd snapshot'));
    opts.push(new Option('--force', 'take over a host where etcd already runs or the data dir holds a member (the data dir is moved aside, never deleted)'));
  }
  if (set === 'join') {
    opts.push(new Option('--retry [bool]', `retry membership changes while the cluster is briefly unavailable (default: ${show(true)})`));
    opts.push(new Option('--force', 'join even when the data dir belongs to another cluster (it is moved aside, never deleted)'));
    opts.push(new Option('--no-learner', 'add the member as a voting member at once instead of as a learner that is promoted once it caught up'));
  }
  return opts;
}

export function addOptions<C extends Command<any, any, any>>(cmd: C, options: Option[]): C {
  for (const o of options) cmd.addOption(o);
  return cmd;
}

/** The typed subset of parsed options that configuration resolution reads. */
export function toMemberFlags(o: Record<string, unknown>): MemberFlags {
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const list = (k: string) => (Array.isArray(o[k]) ? (o[k] as string[]) : undefined);
  const bool = (k: string) => (o[k] === undefined ? undefined : o[k] === true || o[k] === 'true');
  return {
    name: str('name'),
    version: str('version'),
    releaseUrl: str('releaseUrl'),
    certsDir: str('certsDir'),
    bindAddress: str('bindAddress'),
    serverCertExtraSans: list('serverCertExtraSans'),
    installDir: str('installDir'),
    cacheDir: str('cacheDir'),
    downloadConnectTimeout: str('downloadConnectTimeout'),
    diskPriorities: list('diskPriorities'),
    initSystem: str('initSystem'),
    imageRepository: str('imageRepository'),
    dataDir: str('dataDir'),
    kubeletPodManifestPath: str('kubeletPodManifestPath'),
    keyAlgorithm: str('keyAlgorithm'),
    skipHashCheck: bool('skipHashCheck'),
    snapshot: str('snapshot'),
    force: bool('force'),
    retry: bool('retry'),
    learner: o.learner === false ? false : undefined,
  };
}
