/**
 * The flags, written once as a table: each one that is a setting names its place in the configuration document, so
 * that the flags become one more settings layer, validated by the same schema as a file (an invalid value is
 * reported as `invalid --flag "value": why`). Names and defaults follow kubernetes-sigs/etcdadm. Flags carry no
 * commander defaults: an unset flag must not hide the config file; the default is only shown in --help.
 */
import { Option, type Command } from '@commander-js/extra-typings';
import { DEFAULTS, INIT_SYSTEMS, KEY_ALGORITHMS } from '../config/defaults.js';
import { AUTO_COMPACTION_MODES, type DocumentPath } from '../config/document.js';
import { namedLayer, type PartialSettings, type SettingsLayer } from '../config/settings.js';

export type FlagSet = 'init' | 'join' | 'download' | 'reset' | 'ops' | 'upgrade' | 'reconfigure';

interface FlagDef {
  /** commander's spec, e.g. "--data-dir <dir>". */
  spec: string;
  description: string;
  /** The setting it sets: [section, field]. */
  path?: readonly [string, string];
  kind?: 'string' | 'number' | 'list' | 'bool' | 'negatable';
  choices?: readonly string[];
  sets: readonly FlagSet[];
}

const show = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));
const MEMBER: readonly FlagSet[] = ['init', 'join'];
const INSTALL: readonly FlagSet[] = ['init', 'join', 'download'];
/** Where releases come from: also for upgrade (its --version is its own option: the target). */
const RELEASE: readonly FlagSet[] = [...INSTALL, 'upgrade'];
/** etcd's own server settings: also for reconfigure, which rolls a running member onto changed ones. */
const TUNING: readonly FlagSet[] = [...MEMBER, 'reconfigure'];

export const FLAGS: readonly FlagDef[] = [
  { spec: '--name <name>', description: "member name (default: this host's hostname)", path: ['member', 'name'], sets: MEMBER },
  { spec: '--version <version>', description: `etcd version to install (default: ${DEFAULTS.etcdVersion})`, path: ['etcd', 'version'], sets: INSTALL },
  {
    spec: '--release-url <url>',
    description: `URL of etcd releases (https:// or file://, http:// with --insecure-release-url; layout vX.Y.Z/etcd-vX.Y.Z-linux-ARCH.tar.gz + SHA256SUMS) (default: ${DEFAULTS.releaseUrl})`,
    path: ['etcd', 'releaseURL'],
    sets: RELEASE,
  },
  { spec: '--cache-dir <dir>', description: `where downloaded releases are cached (default: ${DEFAULTS.cacheDir})`, path: ['install', 'cacheDir'], sets: RELEASE },
  {
    spec: '--download-connect-timeout <duration>',
    description: `how long to wait for the release server to answer (default: ${DEFAULTS.downloadConnectTimeout})`,
    path: ['etcd', 'downloadConnectTimeout'],
    sets: RELEASE,
  },
  {
    spec: '--insecure-release-url',
    description: 'accept a plain http:// --release-url (the archive and its SHA256SUMS come over one unauthenticated channel; not recommended)',
    path: ['etcd', 'insecureReleaseURL'],
    kind: 'bool',
    sets: RELEASE,
  },
  { spec: '--skip-hash-check', description: 'accept a release that has no SHA256SUMS (not recommended)', path: ['etcd', 'skipHashCheck'], kind: 'bool', sets: ['init', 'download'] },
  { spec: '--certs-dir <dir>', description: `certificates directory (default: ${DEFAULTS.certsDir})`, path: ['pki', 'certsDir'], sets: [...MEMBER, 'reset', 'ops'] },
  { spec: '--bind-address <ip>', description: "address etcd listens on and advertises (default: the default-route interface's address)", path: ['member', 'bindAddress'], sets: MEMBER },
  {
    spec: '--server-cert-extra-sans <names>',
    description: 'extra Subject Alternative Names for the server certificate (comma-separated, repeatable)',
    path: ['pki', 'serverCertExtraSANs'],
    kind: 'list',
    sets: MEMBER,
  },
  { spec: '--install-dir <dir>', description: `directory for the etcd binaries (default: ${DEFAULTS.installDir})`, path: ['install', 'installDir'], sets: [...MEMBER, 'reset'] },
  { spec: '--data-dir <dir>', description: `etcd data directory (default: ${DEFAULTS.dataDir})`, path: ['member', 'dataDir'], sets: [...MEMBER, 'reset'] },
  {
    spec: '--disk-priorities <settings>',
    description: `systemd disk/CPU priority settings for etcd (comma-separated) (default: ${show(DEFAULTS.diskPriorities)})`,
    path: ['service', 'diskPriorities'],
    kind: 'list',
    sets: MEMBER,
  },
  {
    spec: '--init-system <name>',
    description: `how etcd is run: systemd or kubelet (static Pod) (default: ${DEFAULTS.initSystem})`,
    path: ['service', 'initSystem'],
    choices: INIT_SYSTEMS,
    sets: [...MEMBER, 'reset'],
  },
  {
    spec: '--image-repository <repo>',
    description: `image repository for the static Pod (--init-system kubelet) (default: ${DEFAULTS.imageRepository})`,
    path: ['service', 'imageRepository'],
    sets: MEMBER,
  },
  {
    spec: '--kubelet-pod-manifest-path <dir>',
    description: `where the kubelet reads static Pod manifests (default: ${DEFAULTS.podManifestDir})`,
    path: ['service', 'kubeletPodManifestPath'],
    sets: MEMBER,
  },
  { spec: '--key-algorithm <alg>', description: `key algorithm for new keys (default: ${DEFAULTS.keyAlgorithm})`, path: ['pki', 'keyAlgorithm'], choices: KEY_ALGORITHMS, sets: MEMBER },
  {
    spec: '--quota-backend-bytes <bytes>',
    description: `backend size quota in bytes; etcd raises a NOSPACE alarm above it (default: ${DEFAULTS.quotaBackendBytes})`,
    path: ['etcd', 'quotaBackendBytes'],
    kind: 'number',
    sets: TUNING,
  },
  { spec: '--heartbeat-interval <ms>', description: `raft heartbeat interval in milliseconds (default: ${DEFAULTS.heartbeatIntervalMs})`, path: ['etcd', 'heartbeatInterval'], kind: 'number', sets: TUNING },
  {
    spec: '--election-timeout <ms>',
    description: `raft election timeout in milliseconds, at least 5 heartbeat intervals (default: ${DEFAULTS.electionTimeoutMs})`,
    path: ['etcd', 'electionTimeout'],
    kind: 'number',
    sets: TUNING,
  },
  { spec: '--auto-compaction-mode <mode>', description: 'how --auto-compaction-retention is read (default: periodic)', path: ['etcd', 'autoCompactionMode'], choices: AUTO_COMPACTION_MODES, sets: TUNING },
  {
    spec: '--auto-compaction-retention <retention>',
    description: 'how much history auto compaction keeps: a duration such as 1h (periodic) or a number of revisions (revision); 0 is off (default: 0)',
    path: ['etcd', 'autoCompactionRetention'],
    sets: TUNING,
  },
  { spec: '--retry [bool]', description: `retry membership changes while the cluster is briefly unavailable (default: ${show(true)})`, path: ['join', 'retry'], kind: 'bool', sets: ['join'] },
  {
    spec: '--no-learner',
    description: 'add the member as a voting member at once instead of as a learner that is promoted once it caught up',
    path: ['join', 'learner'],
    kind: 'negatable',
    sets: ['join'],
  },
];

/** "a,b" and repeated flags both give a list. */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** commander's attribute name of a flag spec: "--data-dir <dir>" → "dataDir", "--no-learner" → "learner". */
function attribute(spec: string): string {
  const long = spec.split(/[ ,]/).find((p) => p.startsWith('--'))!.slice(2).replace(/^no-/, '');
  return long.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export const configOption = (): Option =>
  new Option('--config <file>', 'a configuration document (apiVersion etcdadm.io/v1beta1); flags given as well win over it');

/** The setting flags of a command, as commander options (plus --config). */
export function settingOptions(set: FlagSet): Option[] {
  const out = set === 'ops' ? [] : [configOption()];
  for (const f of FLAGS.filter((x) => x.sets.includes(set))) {
    const recorded = set === 'reset' || set === 'ops';
    const bare = f.description.replace(/ \(default: .*\)$/, '');
    // reconfigure: an unset flag leaves the setting as the record (or --config) has it, not at etcdadm's default
    const o = new Option(f.spec, recorded ? `${bare}, when this host has no record (/etc/etcd/etcdadm.yaml)` : set === 'reconfigure' ? bare : f.description);
    if (f.kind === 'list') o.argParser(collectList);
    if (f.choices) o.choices([...f.choices]);
    out.push(o);
  }
  return out;
}

/** The flags a user typed (commander's parsed options) as a settings layer, validated by the schema. */
export function flagsLayer(opts: Record<string, unknown>, set: FlagSet, extra: PartialSettings = {}, etcdVersion?: string): SettingsLayer {
  const values: Record<string, Record<string, unknown>> = structuredClone(extra) as Record<string, Record<string, unknown>>;
  const names = new Map<string, string>();
  for (const f of FLAGS.filter((x) => x.sets.includes(set) && x.path)) {
    const [section, field] = f.path!;
    names.set(`${section}.${field}`, f.spec.split(' ')[0]!);
    const raw = opts[attribute(f.spec)];
    let value: unknown;
    if (f.kind === 'negatable') value = raw === false ? false : undefined;
    else if (f.kind === 'bool') value = raw === undefined ? undefined : raw === true || raw === 'true';
    else if (f.kind === 'list') value = Array.isArray(raw) ? raw : undefined;
    // a whole number as the schema wants it; anything else as typed, for the schema to name
    else if (f.kind === 'number') value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    else value = typeof raw === 'string' ? raw : undefined;
    if (value === undefined) continue;
    (values[section] ??= {})[field] = value;
  }
  names.set('join.endpoints', 'endpoint');
  const nameOf = (path: DocumentPath) => names.get(path.slice(0, 2).join('.')) ?? path.join('.');
  return namedLayer('flags', values as PartialSettings, nameOf, etcdVersion ? { etcdVersion } : {});
}

export function addOptions<C extends Command<any, any, any>>(cmd: C, options: Option[]): C {
  for (const o of options) cmd.addOption(o);
  return cmd;
}
