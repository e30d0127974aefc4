/**
 * The versioned configuration file (`--config <file>`), kubeadm-style: `apiVersion: etcdadm.io/v1beta1` and a kind.
 * Every field is optional (defaults fill in later; precedence flags > file > defaults) and unknown fields are errors.
 * This module is the typed document, its valibot schema (all validation, cross-field checks included) and the
 * defaults. Parsing YAML and turning issues into `file:line: path: message` errors is config/file.ts.
 */
import { isIP } from 'node:net';
import * as v from 'valibot';
import { DEFAULTS, INIT_SYSTEMS, KEY_ALGORITHMS, PATHS } from './defaults.js';
import { parseDuration } from './duration.js';
import { describeRename, etcdFlagList, knownEtcdFlags, renamedFlag } from './etcd-flags.js';
import { atLeastMinor, normalizeVersion, parseVersion } from './version.js';
import { releaseUrlProblem } from '../release/spec.js';
import { onCalendarFor, parseInterval } from '../backup/schedule.js';
import { parseThreshold } from '../util/share.js';

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;

/** Member names end up in DNS SANs and in ETCD_INITIAL_CLUSTER (name=url,...): DNS-1123 subdomains only. */
export function validateMemberName(name: string): string | undefined {
  if (!name) return 'must not be empty';
  if (name.length > 253) return 'must be at most 253 characters';
  if (!name.split('.').every((l) => LABEL.test(l)))
    return 'must be a DNS name: letters, digits, "-" and ".", each dot-separated part starting and ending with a letter or digit';
  return undefined;
}

/** A systemd [Service] priority setting etcdadm accepts in service.diskPriorities. */
export const DISK_PRIORITY = /^(Nice|IOSchedulingClass|IOSchedulingPriority|CPUSchedulingPolicy|CPUSchedulingPriority|CPUWeight|IOWeight)=\S+$/;

export const CONFIG_API_VERSION = 'etcdadm.io/v1beta1';
export const CONFIG_KINDS = ['InitConfiguration', 'JoinConfiguration', 'ResetConfiguration', 'Cluster'] as const;
/** The kinds a host command's --config takes (a Cluster document is `etcdadm apply -f`'s). */
export const HOST_CONFIG_KINDS = ['InitConfiguration', 'JoinConfiguration', 'ResetConfiguration'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** The TLS 1.2 suites etcd gets by default: AEAD only (GCM, ChaCha20-Poly1305), forward secret (ECDHE). */
export const DEFAULT_CIPHER_SUITES = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
] as const;

/**
 * The cipher-suite names accepted in tls.cipherSuites: the TLS 1.2 names etcd 3.4 and 3.5 take (Go's names, plus the
 * pre-Go-1.14 CHACHA20 names etcd still maps), without RC4 and 3DES. Checked against the real binaries.
 */
export const TLS12_CIPHER_SUITES: readonly string[] = [
  ...DEFAULT_CIPHER_SUITES,
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  'TLS_RSA_WITH_AES_128_CBC_SHA',
  'TLS_RSA_WITH_AES_256_CBC_SHA',
  'TLS_RSA_WITH_AES_128_CBC_SHA256',
  'TLS_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305',
];
const TLS13_CIPHER_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const TLS_VERSIONS = ['TLS1.2', 'TLS1.3'] as const;
export const AUTO_COMPACTION_MODES = ['periodic', 'revision'] as const;

/** etcd's own limits (embed.Config.Validate). */
export const MIN_HEARTBEAT_MS = 10;
export const MAX_ELECTION_TIMEOUT_MS = 50_000;
/** etcd's suggested maximum backend size; above it etcdadm warns. */
export const QUOTA_BACKEND_BYTES_WARN = 8 * 1024 ** 3;

// ---------------------------------------------------------------------------------------------------------------
// helpers shared with file.ts

/** A path into the document: keys and list indices. */
export type DocumentPath = readonly (string | number)[];

/** `member.listenClientURLs[1]`, `etcd.extraArgs.max-txn-ops`; the empty path is `(document)`. */
export function formatPath(path: DocumentPath): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out || '(document)';
}

/** A short description of a YAML value for messages: `"abc"`, `3.5`, `a list`, `a mapping`. */
export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'nothing';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'object') return 'a mapping';
  if (typeof x === 'string') return JSON.stringify(x.length > 60 ? `${x.slice(0, 57)}...` : x);
  return String(x);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The candidate closest to `word` (case-insensitive edit distance), if it is close enough to be a likely typo; or
 * the only candidate that `word` is the start of (`heartbeat` → `heartbeatInterval`).
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const all = [...candidates];
  const extended = w.length >= 4 ? all.filter((c) => c.toLowerCase().startsWith(w)) : [];
  if (extended.length === 1) return extended[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of all) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  const limit = Math.max(2, Math.floor(w.length / 3));
  return bestDistance <= limit ? best : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// field validators: a problem text, or undefined when the value is fine

const typeMessage = (expected: string) => (issue: v.BaseIssue<unknown>) => `must be ${expected}, got ${describeValue(issue.input)}`;

/** `schema`, then `problem` on its (typed) output. */
function validated<TInput, TOutput, TIssue extends v.BaseIssue<unknown>>(
  schema: v.BaseSchema<TInput, TOutput, TIssue>,
  problem: (value: TOutput) => string | undefined,
) {
  return v.pipe(
    schema,
    v.rawCheck<TOutput>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const p = problem(dataset.value);
      if (p !== undefined) addIssue({ message: p });
    }),
  );
}

const str = (what = 'a string') => v.string(typeMessage(what));

/** An absolute path, without trailing slashes ("/srv/etcd/" is "/srv/etcd"). */
function absolutePath(allowEmpty: boolean) {
  return v.pipe(
    validated(str('an absolute path'), (p) => {
      if (p === '' && allowEmpty) return undefined;
      if (!p.startsWith('/')) return `must be an absolute path, got ${describeValue(p)}`;
      if (/[\0\n]/.test(p)) return 'must not contain NUL or newline characters';
      return undefined;
    }),
    v.transform((p) => (p.length > 1 ? p.replace(/\/+$/, '') || '/' : p)),
  );
}

function wholeNumber(what: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return validated(v.number(typeMessage(what)), (n) => {
    if (!Number.isInteger(n)) return `must be a whole number, got ${n}`;
    if (n < min) return `must be at least ${min}, got ${n}`;
    if (n > max) return `must be at most ${max}, got ${n}`;
    return undefined;
  });
}

const port = () => wholeNumber('a port number (1-65535)', 1, 65535);

function picklist<const T extends readonly string[]>(options: T) {
  return v.picklist(options, (issue) =>
    typeof issue.input === 'string'
      ? `must be one of ${options.join(', ')}, got ${describeValue(issue.input)}`
      : `must be one of ${options.join(', ')} (a string), got ${describeValue(issue.input)}`,
  );
}

const bool = () => v.boolean(typeMessage('true or false'));

function list<TOutput, TIssue extends v.BaseIssue<unknown>>(item: v.BaseSchema<unknown, TOutput, TIssue>, what: string) {
  return v.array(item, typeMessage(`a list of ${what}`));
}

const UNBRACKETED_IPV6 = /^[a-z][a-z0-9+.-]*:\/\/(?!\[)[^/?#@]*:[^/?#@]*:/i;

interface UrlRules {
  schemes: readonly string[];
  /** A listen URL: the host must be an IP address (or localhost), as etcd binds it. */
  listen?: boolean;
  /** An advertised URL: not a wildcard address. */
  advertise?: boolean;
  example: string;
  /** What the URL is, in messages ("client URL"); default "URL". */
  what?: string;
  /** Why only these schemes, in the message when another one is given. */
  schemesWhy?: string;
}

/** etcd's rules for a member URL: scheme://host:port, IPv6 in brackets, no path, query or user info. */
export function urlProblem(text: string, rules: UrlRules): string | undefined {
  const schemes = rules.schemes.map((s) => `${s}://`).join(' or ');
  if (UNBRACKETED_IPV6.test(text)) return `IPv6 addresses must be in brackets, such as https://[fd00::1]:2379; got ${describeValue(text)}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `not a ${rules.what ?? 'URL'} such as ${rules.example}: ${describeValue(text)}`;
  }
  if (!rules.schemes.includes(u.protocol.slice(0, -1))) return `must be an ${schemes} URL${rules.schemesWhy ? ` (${rules.schemesWhy})` : ''}, got ${describeValue(text)}`;
  if (!u.hostname) return `must name a host, got ${describeValue(text)}`;
  if (u.username || u.password) return `must not contain a user name or password: ${describeValue(text)}`;
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return `must not have a path, query or fragment, such as ${rules.example}; got ${describeValue(text)}`;
  if (!/:\d+\/?$/.test(text)) return `must include the port, such as ${rules.example}; got ${describeValue(text)}`;
  if (u.port === '0') return `port 0 is not a port etcd can be reached on: ${describeValue(text)}`;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (rules.listen && !isIP(host) && host !== 'localhost') return `a listen URL needs an IP address (etcd binds it), got host ${describeValue(host)}`;
  if (rules.advertise && (host === '0.0.0.0' || host === '::')) return `an advertised URL cannot use the wildcard address ${host}: name an address other members and clients can reach`;
  return undefined;
}

function urls(rules: UrlRules) {
  return list(validated(str('a URL'), (u) => urlProblem(u, rules)), 'URLs');
}

/** A SAN: an IP address or a DNS name (a leading `*.` wildcard allowed). */
function sanProblem(text: string): string | undefined {
  const t = text.replace(/^\[(.*)\]$/, '$1');
  if (isIP(t)) return undefined;
  const dns = t.startsWith('*.') ? t.slice(2) : t;
  const p = validateMemberName(dns);
  return p ? `must be an IP address or a DNS name, got ${describeValue(text)} (${p.replace(/^must be a DNS name: /, '')})` : undefined;
}

const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+\.service$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const IMAGE_REPOSITORY = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/;
/** A static Pod manifest's file name: the kubelet reads every file of its manifest dir but hidden ones. */
const POD_MANIFEST_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** A strict mapping: unknown keys are errors that name the closest known field. */
function section<const TEntries extends v.ObjectEntries>(entries: TEntries, what: string) {
  const known = Object.keys(entries);
  return mapping(what, v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') {
      const key = String(issue.input);
      const near = closest(key, known);
      return near ? `unknown field (did you mean "${near}"?)` : `unknown field; ${what} has: ${known.join(', ')}`;
    }
    if (issue.input === undefined && issue.expected?.startsWith('"')) return `missing`;
    return `must be a mapping (${what}), got ${describeValue(issue.input)}`;
  }));
}

/** valibot takes arrays for objects and records: a YAML list where a mapping belongs must be an error, not keys 0, 1... */
function mapping<TOutput, TIssue extends v.BaseIssue<unknown>>(what: string, schema: v.BaseSchema<unknown, TOutput, TIssue>) {
  return v.pipe(
    v.unknown(),
    v.check((x) => !Array.isArray(x), (issue) => `must be a mapping (${what}), got ${describeValue(issue.input)}`),
    schema,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// the schema

const memberSection = section(
  {
    name: v.optional(validated(str(), (n) => (n === '' ? undefined : validateMemberName(n)))),
    dataDir: v.optional(absolutePath(false)),
    walDir: v.optional(absolutePath(true)),
    bindAddress: v.optional(
      validated(str('an IP address'), (a) => {
        if (a === '' || isIP(a.replace(/^\[(.*)\]$/, '$1'))) return undefined;
        return `must be an IP address of this host (or 0.0.0.0 / ::), got ${describeValue(a)}`;
      }),
    ),
    clientPort: v.optional(port()),
    peerPort: v.optional(port()),
    listenClientURLs: v.optional(urls({ schemes: ['https'], listen: true, example: 'https://10.0.0.1:2379' })),
    advertiseClientURLs: v.optional(urls({ schemes: ['https'], advertise: true, example: 'https://10.0.0.1:2379' })),
    listenPeerURLs: v.optional(urls({ schemes: ['https'], listen: true, example: 'https://10.0.0.1:2380' })),
    advertisePeerURLs: v.optional(urls({ schemes: ['https'], advertise: true, example: 'https://10.0.0.1:2380' })),
    listenMetricsURLs: v.optional(urls({ schemes: ['http', 'https'], listen: true, example: 'http://127.0.0.1:2381' })),
  },
  'member',
);

const scalarArg = v.pipe(
  v.union([v.string(), v.number(), v.boolean()], typeMessage('a string (the flag value)')),
  v.transform((x) => String(x)),
  v.check((s) => !/[\r\n\0]/.test(s), 'must be a single line'),
);

const etcdSection = section(
  {
    version: v.optional(
      v.pipe(
        v.string(typeMessage('an etcd version such as "3.5.30" (a string)')),
        v.check((s) => parseVersion(s) !== undefined, (i) => `not an etcd version such as 3.5.30: ${describeValue(i.input)}`),
        v.transform((s) => normalizeVersion(s)!),
      ),
    ),
    releaseURL: v.optional(
      validated(str('a URL'), (u) => {
        const p = releaseUrlProblem(u);
        return p === undefined ? undefined : `${p}, got ${describeValue(u)}`;
      }),
    ),
    skipHashCheck: v.optional(bool()),
    insecureReleaseURL: v.optional(bool()),
    downloadConnectTimeout: v.optional(
      validated(str('a duration such as "10s"'), (d) => {
        const ms = parseDuration(d);
        return ms === undefined || ms <= 0 ? `must be a duration such as 10s, 1m30s or 500ms, got ${describeValue(d)}` : undefined;
      }),
    ),
    quotaBackendBytes: v.optional(wholeNumber('a number of bytes', 1)),
    autoCompactionMode: v.optional(picklist(AUTO_COMPACTION_MODES)),
    autoCompactionRetention: v.optional(
      v.pipe(
        v.union([v.string(), v.number()], typeMessage('a duration such as "1h" or a whole number')),
        v.transform((x) => String(x)),
      ),
    ),
    heartbeatInterval: v.optional(wholeNumber('a number of milliseconds', MIN_HEARTBEAT_MS)),
    electionTimeout: v.optional(wholeNumber('a number of milliseconds', 1, MAX_ELECTION_TIMEOUT_MS)),
    corruptCheck: v.optional(bool()),
    extraArgs: v.optional(
      mapping('etcd flag names without -- → values', v.record(v.string(), scalarArg, typeMessage('a mapping of etcd flag names (without --) to values'))),
    ),
  },
  'etcd',
);

const pkiSection = section(
  {
    certsDir: v.optional(absolutePath(false)),
    keyAlgorithm: v.optional(picklist(KEY_ALGORITHMS)),
    caValidityDays: v.optional(wholeNumber('a number of days', 1)),
    certValidityDays: v.optional(wholeNumber('a number of days', 1)),
    renewBeforeDays: v.optional(wholeNumber('a number of days', 0)),
    autoRenew: v.optional(bool()),
    serverCertExtraSANs: v.optional(list(validated(str('an IP address or DNS name'), sanProblem), 'IP addresses or DNS names')),
    peerCertExtraSANs: v.optional(list(validated(str('an IP address or DNS name'), sanProblem), 'IP addresses or DNS names')),
  },
  'pki',
);

const tlsSection = section(
  {
    minVersion: v.optional(picklist(TLS_VERSIONS)),
    cipherSuites: v.optional(
      list(
        validated(str('a cipher-suite name'), (s) => {
          if (TLS12_CIPHER_SUITES.includes(s)) return undefined;
          if (TLS13_CIPHER_SUITES.includes(s)) return `${s} is a TLS 1.3 suite; TLS 1.3 suites are not configurable (Go always enables them), list TLS 1.2 suites only`;
          const near = closest(s, TLS12_CIPHER_SUITES);
          return `unknown or insecure TLS 1.2 cipher suite ${describeValue(s)}${near ? `; did you mean ${near}?` : `; such as ${DEFAULT_CIPHER_SUITES[0]}`}`;
        }),
        'cipher-suite names',
      ),
    ),
    peerCertAllowedCN: v.optional(validated(str(), (s) => (/[\r\n\0,]/.test(s) ? 'must be a single common name' : undefined))),
  },
  'tls',
);

const installSection = section({ installDir: v.optional(absolutePath(false)), cacheDir: v.optional(absolutePath(false)) }, 'install');

const serviceSection = section(
  {
    initSystem: v.optional(picklist(INIT_SYSTEMS)),
    unitName: v.optional(validated(str(), (u) => (UNIT_NAME.test(u) ? undefined : `must be a systemd unit name ending in .service, such as etcd.service; got ${describeValue(u)}`))),
    user: v.optional(validated(str(), (u) => (USER_NAME.test(u) ? undefined : `must be root or a user name (lower-case letters, digits, "_", "-"), got ${describeValue(u)}`))),
    diskPriorities: v.optional(
      list(validated(str(), (d) => (DISK_PRIORITY.test(d) ? undefined : `must be a systemd setting such as Nice=-10 or IOSchedulingClass=best-effort, got ${describeValue(d)}`)), 'systemd settings'),
    ),
    imageRepository: v.optional(
      validated(str(), (r) =>
        IMAGE_REPOSITORY.test(r) ? undefined : `must be an image repository without a tag, such as ${DEFAULTS.imageRepository} (etcdadm appends :v<version>); got ${describeValue(r)}`,
      ),
    ),
    kubeletPodManifestPath: v.optional(absolutePath(false)),
    kubeletPodManifestName: v.optional(
      validated(str(), (n) => (POD_MANIFEST_NAME.test(n) ? undefined : `must be a file name such as ${PATHS.podManifestName} (no directory, not hidden); got ${describeValue(n)}`)),
    ),
  },
  'service',
);

const joinSection = section(
  {
    // a cluster etcdadm set up serves its clients over TLS only; an http endpoint would send the join (and the
    // client certificate's use) in clear to whoever answers
    endpoints: v.optional(urls({ schemes: ['https'], example: 'https://10.0.0.1:2379', what: 'client URL', schemesWhy: 'etcdadm clusters serve clients over TLS only' })),
    learner: v.optional(bool()),
    retry: v.optional(bool()),
  },
  'join',
);

/** A timer's interval (backup.every, defrag.every): one a calendar timer repeats at, or empty (no timer). */
function timerInterval(example: string) {
  return validated(str(`a duration such as "${example}"`), (e) => {
    if (e === '') return undefined;
    const ms = parseInterval(e);
    if (ms === undefined) return `must be a duration such as 15m, 1h, 6h or 1d (empty: no schedule), got ${describeValue(e)}`;
    const cal = onCalendarFor(ms);
    return 'problem' in cal ? cal.problem : undefined;
  });
}

/** Scheduled backups (`etcdadm backup schedule`; init and join install the schedule when `every` is set). */
const backupSection = section(
  {
    every: v.optional(timerInterval('1h')),
    keep: v.optional(wholeNumber('a number of snapshots', 1)),
    dir: v.optional(
      v.pipe(
        absolutePath(false),
        v.check((d) => !/\s/.test(d), 'must not contain spaces'),
      ),
    ),
    // the --s3-* options of `backup schedule` (empty: no upload); checked as those flags when the schedule is made
    s3Endpoint: v.optional(str('a URL such as "https://s3.eu-west-1.amazonaws.com"')),
    s3Bucket: v.optional(str('a bucket name')),
    s3Prefix: v.optional(str('a key prefix such as "etcd/prod/"')),
    s3Region: v.optional(str('a region such as "eu-west-1"')),
    s3PathStyle: v.optional(bool()),
    s3CaFile: v.optional(absolutePath(true)),
    s3AllowHTTP: v.optional(bool()),
    s3CredentialsFile: v.optional(absolutePath(true)),
  },
  'backup',
);

/** The scheduled rolling defrag (`etcdadm defrag --schedule`; init and join install the timer when `every` is set). */
const defragSection = section(
  {
    every: v.optional(timerInterval('1d')),
    threshold: v.optional(
      validated(str('a share such as "20%"'), (t) => (parseThreshold(t) === undefined ? `must be a share of the file that is free, such as 20% (0% to 99%), got ${describeValue(t)}` : undefined)),
    ),
  },
  'defrag',
);

// ---------------------------------------------------------------------------------------------------------------
// kind Cluster: the whole cluster for `etcdadm apply -f` — the same sections, plus how to reach each host

/** A path on the operator's machine: absolute, or under the home directory (`~/.ssh/id_ed25519`). */
function operatorPath() {
  return validated(str('a path such as ~/.ssh/id_ed25519'), (p) => {
    if (p === '') return undefined;
    if (!p.startsWith('/') && !p.startsWith('~/')) return `must be an absolute path or start with ~/, got ${describeValue(p)}`;
    if (/[\0\n]/.test(p)) return 'must not contain NUL or newline characters';
    return undefined;
  });
}

/** A host to reach: an IP address or a DNS name (or an alias of ~/.ssh/config). */
function hostAddress(what: string) {
  return validated(str(what), (a) => {
    const t = a.replace(/^\[(.*)\]$/, '$1');
    if (isIP(t)) return undefined;
    if (/^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/.test(t)) return undefined;
    return `must be an IP address or a host name, got ${describeValue(a)}`;
  });
}

/** How to reach the hosts over SSH (defaults for every host; each may override them under hosts[].ssh). */
const sshSection = section(
  {
    user: v.optional(validated(str(), (u) => (USER_NAME.test(u) ? undefined : `must be a user name (lower-case letters, digits, "_", "-"), got ${describeValue(u)}`))),
    port: v.optional(port()),
    identityFile: v.optional(operatorPath()),
    knownHostsFile: v.optional(operatorPath()),
    /** A bastion, as OpenSSH's ProxyJump: [user@]host[:port], several comma-separated. */
    proxyJump: v.optional(
      validated(str('[user@]host[:port]'), (j) =>
        j === '' || j.split(',').every((hop) => /^([a-z_][a-z0-9_-]*@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$/.test(hop)) ? undefined : `must be [user@]host[:port] (several comma-separated), got ${describeValue(j)}`,
      ),
    ),
  },
  'ssh',
);

/** One host of a Cluster document. */
const hostEntry = section(
  {
    address: hostAddress('the address etcdadm reaches the host at (an IP address or a host name)'),
    name: v.optional(validated(str(), (n) => validateMemberName(n))),
    caHolder: v.optional(bool()),
    ssh: v.optional(sshSection),
    member: v.optional(memberSection),
  },
  'host',
);

/** The ssh section's defaults: OpenSSH's own where empty (its ~/.ssh/config, the agent and its default keys). */
export const SSH_DEFAULTS = Object.freeze({ user: 'root', port: 22, identityFile: '', knownHostsFile: '~/.ssh/known_hosts', proxyJump: '' });

export interface SchemaOptions {
  /** The etcd version that will run when it does not come from the file (a --version flag): version-dependent checks use it. */
  etcdVersion?: string;
}

/** The schema of the whole document. `options.etcdVersion` overrides etcd.version for the version-dependent checks. */
export function configDocumentSchema(options: SchemaOptions = {}) {
  const root = {
    apiVersion: v.literal(CONFIG_API_VERSION, (issue) => `unsupported apiVersion ${describeValue(issue.input)}; supported: ${CONFIG_API_VERSION}`),
    kind: v.picklist(CONFIG_KINDS, (issue) => `unsupported kind ${describeValue(issue.input)}; supported: ${CONFIG_KINDS.join(', ')}`),
    member: v.optional(memberSection),
    etcd: v.optional(etcdSection),
    pki: v.optional(pkiSection),
    tls: v.optional(tlsSection),
    install: v.optional(installSection),
    service: v.optional(serviceSection),
    join: v.optional(joinSection),
    backup: v.optional(backupSection),
    defrag: v.optional(defragSection),
    ssh: v.optional(sshSection),
    hosts: v.optional(v.pipe(list(hostEntry, 'hosts'), v.minLength(1, 'must list at least one host'))),
  };
  const known = Object.keys(root);
  const document = v.strictObject(root, (issue) => {
    if (issue.expected === 'never') {
      const near = closest(String(issue.input), known);
      return near ? `unknown field (did you mean "${near}"?)` : `unknown field; the document has: ${known.join(', ')}`;
    }
    if (issue.input === undefined && issue.expected === '"apiVersion"') return `missing; the file must say apiVersion: ${CONFIG_API_VERSION}`;
    if (issue.input === undefined && issue.expected === '"kind"') return `missing; the file must say kind: one of ${CONFIG_KINDS.join(', ')}`;
    return `must be a mapping with apiVersion and kind, got ${describeValue(issue.input)}`;
  });
  return v.pipe(
    document,
    v.rawCheck(({ dataset, addIssue }) => {
      for (const p of crossFieldProblems(dataset.value, options)) {
        addIssue({ message: p.message, path: pathItems(dataset.value, p.path, p.atKey) });
      }
    }),
  );
}

export const CONFIG_DOCUMENT_SCHEMA = configDocumentSchema();
export type ConfigDocument = v.InferOutput<typeof CONFIG_DOCUMENT_SCHEMA>;

/** valibot path items for `path` (only `key` and the last item's `origin` matter to file.ts). */
function pathItems(root: unknown, path: DocumentPath, atKey: boolean): [v.IssuePathItem, ...v.IssuePathItem[]] {
  let input: unknown = root;
  const items = path.map((key, i) => {
    const container = input;
    const value = isRecord(container) || Array.isArray(container) ? (container as Record<string | number, unknown>)[key] : undefined;
    input = value;
    const origin = atKey && i === path.length - 1 ? 'key' : 'value';
    return typeof key === 'number'
      ? ({ type: 'array', origin: 'value', input: container as unknown[], key, value } as v.ArrayPathItem)
      : ({ type: 'object', origin, input: container as Record<string, unknown>, key, value } as v.ObjectPathItem);
  });
  return items as [v.IssuePathItem, ...v.IssuePathItem[]];
}

// ---------------------------------------------------------------------------------------------------------------
// cross-field checks

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function field(doc: unknown, sectionName: string, name: string): unknown {
  const s = isRecord(doc) ? doc[sectionName] : undefined;
  return isRecord(s) ? s[name] : undefined;
}

const has = (doc: unknown, sectionName: string, name: string) => field(doc, sectionName, name) !== undefined;
const num = (x: unknown, fallback: number) => (typeof x === 'number' && Number.isInteger(x) ? x : fallback);

/**
 * etcd flags the document sets through its own fields, or etcdadm sets itself: extraArgs must not set them (a second
 * ETCD_* variable would silently override or be overridden).
 */
export const MANAGED_ETCD_FLAGS: Readonly<Record<string, string | null>> = {
  name: 'member.name',
  'data-dir': 'member.dataDir',
  'wal-dir': 'member.walDir',
  'listen-client-urls': 'member.listenClientURLs',
  'advertise-client-urls': 'member.advertiseClientURLs',
  'listen-peer-urls': 'member.listenPeerURLs',
  'initial-advertise-peer-urls': 'member.advertisePeerURLs',
  'listen-metrics-urls': 'member.listenMetricsURLs',
  'quota-backend-bytes': 'etcd.quotaBackendBytes',
  'auto-compaction-mode': 'etcd.autoCompactionMode',
  'auto-compaction-retention': 'etcd.autoCompactionRetention',
  'heartbeat-interval': 'etcd.heartbeatInterval',
  'election-timeout': 'etcd.electionTimeout',
  'experimental-initial-corrupt-check': 'etcd.corruptCheck',
  'experimental-corrupt-check-time': 'etcd.corruptCheck',
  'corrupt-check-time': 'etcd.corruptCheck',
  'experimental-compact-hash-check-enabled': 'etcd.corruptCheck',
  'tls-min-version': 'tls.minVersion',
  'cipher-suites': 'tls.cipherSuites',
  'peer-cert-allowed-cn': 'tls.peerCertAllowedCN',
  'initial-cluster': null,
  'initial-cluster-state': null,
  'initial-cluster-token': null,
  'cert-file': null,
  'key-file': null,
  'trusted-ca-file': null,
  'client-cert-auth': null,
  'peer-cert-file': null,
  'peer-key-file': null,
  'peer-trusted-ca-file': null,
  'peer-client-cert-auth': null,
  'strict-reconfig-check': null,
  logger: null,
  'config-file': null,
  version: null,
  help: null,
};

interface Problem {
  path: DocumentPath;
  message: string;
  /** The problem is the key itself (unknown or forbidden), not its value. */
  atKey: boolean;
}

/** The etcd version the version-dependent checks use: the override, the file's, or the default. */
function checkedVersion(doc: unknown, options: SchemaOptions): string | undefined {
  const fromFile = field(doc, 'etcd', 'version');
  const text = options.etcdVersion ?? (fromFile === undefined ? DEFAULTS.etcdVersion : typeof fromFile === 'string' ? fromFile : undefined);
  return text === undefined ? undefined : normalizeVersion(text);
}

type Doc = Record<string, unknown>;
type Rule = (doc: Doc, options: SchemaOptions) => Problem[];
const D = () => DEFAULT_DOCUMENT_VALUES;

const kindRule: Rule = (doc) =>
  doc.join !== undefined && typeof doc.kind === 'string' && doc.kind !== 'JoinConfiguration' && (CONFIG_KINDS as readonly string[]).includes(doc.kind)
    ? [{ path: ['join'], atKey: true, message: `only allowed in kind JoinConfiguration (this is ${doc.kind})` }]
    : [];

/** Member settings that belong to one host: in a Cluster document they go under hosts[].member. */
const HOST_MEMBER_FIELDS = ['name', 'bindAddress', 'listenClientURLs', 'advertiseClientURLs', 'listenPeerURLs', 'advertisePeerURLs'] as const;

/** kind Cluster: ssh and hosts only there (and hosts required); one host's own settings where they belong; no duplicates. */
const clusterRule: Rule = (doc) => {
  const out: Problem[] = [];
  if (doc.kind !== 'Cluster') {
    if (typeof doc.kind !== 'string' || !(CONFIG_KINDS as readonly string[]).includes(doc.kind)) return [];
    for (const key of ['ssh', 'hosts'] as const)
      if (doc[key] !== undefined) out.push({ path: [key], atKey: true, message: `only allowed in kind Cluster (this is ${doc.kind}, a document for one host)` });
    return out;
  }
  if (doc.hosts === undefined) out.push({ path: ['kind'], atKey: false, message: 'a Cluster document must list its hosts (hosts: - address: ...)' });
  const member = isRecord(doc.member) ? doc.member : {};
  for (const f of HOST_MEMBER_FIELDS)
    if (member[f] !== undefined)
      out.push({ path: ['member', f], atKey: true, message: f === 'name' ? "each host's member name is hosts[].name" : `belongs to one host: set it under hosts[].member.${f}` });
  const hosts = Array.isArray(doc.hosts) ? doc.hosts : [];
  const seen = { address: new Map<string, number>(), name: new Map<string, number>() };
  hosts.forEach((h, i) => {
    if (!isRecord(h)) return;
    if (isRecord(h.member) && h.member.name !== undefined) out.push({ path: ['hosts', i, 'member', 'name'], atKey: true, message: "the host's member name is hosts[].name" });
    for (const key of ['address', 'name'] as const) {
      const value = h[key];
      if (typeof value !== 'string') continue;
      const first = seen[key].get(value);
      if (first !== undefined) out.push({ path: ['hosts', i, key], atKey: false, message: `${describeValue(value)} is already hosts[${first}].${key}` });
      else seen[key].set(value, i);
    }
  });
  return out;
};

const portsRule: Rule = (doc) => {
  const clientPort = num(field(doc, 'member', 'clientPort'), D().member.clientPort);
  const peerPort = num(field(doc, 'member', 'peerPort'), D().member.peerPort);
  if (clientPort !== peerPort) return [];
  return [{ path: ['member', has(doc, 'member', 'peerPort') ? 'peerPort' : 'clientPort'], atKey: false, message: `member.clientPort and member.peerPort must differ, both are ${clientPort}` }];
};

/** etcd refuses to start with an election timeout below 5 heartbeats. */
const raftRule: Rule = (doc) => {
  const heartbeat = num(field(doc, 'etcd', 'heartbeatInterval'), D().etcd.heartbeatInterval);
  const election = num(field(doc, 'etcd', 'electionTimeout'), D().etcd.electionTimeout);
  if (election >= 5 * heartbeat) return [];
  if (has(doc, 'etcd', 'electionTimeout'))
    return [{ path: ['etcd', 'electionTimeout'], atKey: false, message: `must be at least 5 × etcd.heartbeatInterval (${heartbeat} ms), got ${election}` }];
  return [
    {
      path: ['etcd', 'heartbeatInterval'],
      atKey: false,
      message: `5 × ${heartbeat} ms is more than etcd.electionTimeout (${election} ms, the default); set etcd.electionTimeout to at least ${5 * heartbeat}`,
    },
  ];
};

const retentionRule: Rule = (doc) => {
  const retention = field(doc, 'etcd', 'autoCompactionRetention');
  const modeValue = field(doc, 'etcd', 'autoCompactionMode');
  const p = typeof retention === 'string' ? retentionProblem(retention, typeof modeValue === 'string' ? modeValue : D().etcd.autoCompactionMode) : undefined;
  return p ? [{ path: ['etcd', 'autoCompactionRetention'], atKey: false, message: p }] : [];
};

const validityRule: Rule = (doc) => {
  const caDays = num(field(doc, 'pki', 'caValidityDays'), D().pki.caValidityDays);
  const certDays = num(field(doc, 'pki', 'certValidityDays'), D().pki.certValidityDays);
  const renewDays = num(field(doc, 'pki', 'renewBeforeDays'), D().pki.renewBeforeDays);
  if (certDays <= caDays && renewDays < certDays) return [];
  if (certDays <= caDays)
    return [
      {
        path: ['pki', has(doc, 'pki', 'renewBeforeDays') ? 'renewBeforeDays' : 'certValidityDays'],
        atKey: false,
        message: `pki.renewBeforeDays (${renewDays}) must be less than pki.certValidityDays (${certDays}): every renewal would be due at once`,
      },
    ];
  return [
    {
      path: ['pki', has(doc, 'pki', 'certValidityDays') ? 'certValidityDays' : 'caValidityDays'],
      atKey: false,
      message: `pki.certValidityDays (${certDays}) must not exceed pki.caValidityDays (${caDays}): a certificate cannot outlive its CA`,
    },
  ];
};

const tlsRule: Rule = (doc, options) => {
  const version = checkedVersion(doc, options);
  const minVersion = field(doc, 'tls', 'minVersion');
  const suites = field(doc, 'tls', 'cipherSuites');
  const out: Problem[] = [];
  if (minVersion === 'TLS1.3' && Array.isArray(suites) && suites.length > 0)
    out.push({ path: ['tls', 'cipherSuites'], atKey: false, message: 'must be empty when tls.minVersion is TLS1.3 (TLS 1.3 suites are not configurable; etcd refuses the combination)' });
  if (minVersion === 'TLS1.3' && version && !atLeastMinor(version, 3, 5))
    out.push({ path: ['tls', 'minVersion'], atKey: false, message: `TLS1.3 needs etcd 3.5 or newer; etcd ${version} has no --tls-min-version` });
  return out;
};

/** One extraArgs key: a flag name, not one etcdadm sets, and a flag of that etcd version. */
function extraArgProblem(name: string, version: string | undefined): string | undefined {
  const p = extraArgNameProblem(name);
  if (p) return p;
  if (name in MANAGED_ETCD_FLAGS) {
    const owner = MANAGED_ETCD_FLAGS[name];
    return owner ? `--${name} comes from ${owner}; set that field instead` : `--${name} is set by etcdadm and cannot be overridden`;
  }
  const flags = version && etcdFlagList(version)?.exact ? knownEtcdFlags(version) : undefined;
  const renamed = version ? renamedFlag(version, name) : undefined;
  if (renamed && flags && !flags.has(name)) return `etcd ${version} has no flag --${name}; etcd ${renamed.since} replaced it with ${describeRename(renamed)}`;
  if (!flags || flags.has(name)) return undefined;
  const near = closest(name, flags);
  return `etcd ${version} has no flag --${name}${near ? `; did you mean ${near}?` : ''}`;
}

const extraArgsRule: Rule = (doc, options) => {
  const extraArgs = field(doc, 'etcd', 'extraArgs');
  if (!isRecord(extraArgs)) return [];
  const version = checkedVersion(doc, options);
  return Object.keys(extraArgs).flatMap((name) => {
    const message = extraArgProblem(name, version);
    return message ? [{ path: ['etcd', 'extraArgs', name], atKey: true, message }] : [];
  });
};

const CROSS_FIELD_RULES: readonly Rule[] = [kindRule, clusterRule, portsRule, raftRule, retentionRule, validityRule, tlsRule, extraArgsRule];

function crossFieldProblems(doc: unknown, options: SchemaOptions): Problem[] {
  return isRecord(doc) ? CROSS_FIELD_RULES.flatMap((rule) => rule(doc, options)) : [];
}

/** Flag names as etcd spells them: lower-case words joined by "-", without the leading "--". */
function extraArgNameProblem(name: string): string | undefined {
  if (/^[a-z0-9][a-z0-9-]*$/.test(name)) return undefined;
  if (/^-+[a-z0-9]/.test(name)) return `write the flag name without the leading dashes: ${name.replace(/^-+/, '')}`;
  const guess = name.replace(/^ETCD_/i, '').toLowerCase().replace(/_/g, '-');
  return /^[a-z0-9][a-z0-9-]*$/.test(guess)
    ? `not an etcd flag name; flag names are lower-case with dashes, such as ${guess}`
    : `not an etcd flag name (lower-case letters, digits and "-", without the leading --)`;
}

/** etcd's rules for --auto-compaction-retention: "0" is off; periodic: hours or a duration; revision: a count. */
export function retentionProblem(retention: string, mode: string): string | undefined {
  if (/^\d+$/.test(retention)) return undefined;
  if (mode === 'revision') return `must be a whole number of revisions with etcd.autoCompactionMode revision, got ${describeValue(retention)}`;
  const ms = /[a-z]/.test(retention) ? parseDuration(retention) : undefined;
  if (ms === undefined || ms <= 0) return `must be "0" (off), a whole number of hours, or a duration such as 1h or 30m; got ${describeValue(retention)}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// warnings: fine to run with, worth a line in the log

export interface DocumentWarning {
  path: DocumentPath;
  message: string;
}

export function quotaBackendBytesWarning(bytes: number): string | undefined {
  if (bytes <= QUOTA_BACKEND_BYTES_WARN) return undefined;
  return `${bytes} bytes (${(bytes / 1024 ** 3).toFixed(1)} GiB) is above 8 GiB, etcd's suggested maximum: large backends make defragmentation, snapshots and member recovery slow`;
}

/** Warnings about a valid document: a large backend quota, extraArgs that cannot be checked for this etcd version. */
export function documentWarnings(doc: ConfigDocument, options: SchemaOptions = {}): DocumentWarning[] {
  const out: DocumentWarning[] = [];
  const quota = doc.etcd?.quotaBackendBytes;
  const q = quota === undefined ? undefined : quotaBackendBytesWarning(quota);
  if (q) out.push({ path: ['etcd', 'quotaBackendBytes'], message: q });
  const version = checkedVersion(doc, options);
  for (const name of Object.keys(doc.etcd?.extraArgs ?? {})) {
    const renamed = version ? renamedFlag(version, name) : undefined;
    if (renamed && knownEtcdFlags(version!)?.has(name))
      out.push({ path: ['etcd', 'extraArgs', name], message: `etcd ${renamed.since} deprecated --${name} (etcd logs a warning, and 3.7 removed it); use ${describeRename(renamed)}` });
  }
  const list = version ? etcdFlagList(version) : undefined;
  if (version && list && !list.exact) {
    const flags = knownEtcdFlags(version)!;
    for (const name of Object.keys(doc.etcd?.extraArgs ?? {}))
      if (!flags.has(name) && !(name in MANAGED_ETCD_FLAGS))
        out.push({
          path: ['etcd', 'extraArgs', name],
          message: `etcd ${list.minor} has no flag --${name}; etcdadm has no flag list for etcd ${version}, so check 'etcd --help' of that version`,
        });
  }
  return out;
}

/** The cipher suites to give etcd: none when only TLS 1.3 is allowed (etcd refuses suites then). */
export function effectiveCipherSuites(minVersion: (typeof TLS_VERSIONS)[number], cipherSuites: readonly string[]): string[] {
  return minVersion === 'TLS1.3' ? [] : [...cipherSuites];
}

// ---------------------------------------------------------------------------------------------------------------
// defaults

type Sections = Omit<ConfigDocument, 'apiVersion' | 'kind' | 'ssh' | 'hosts'>;
/** Every section with every field set. */
export type DocumentDefaults = { readonly [K in keyof Sections]-?: Readonly<Required<NonNullable<Sections[K]>>> };

function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null) {
    for (const value of Object.values(x)) deepFreeze(value);
    Object.freeze(x);
  }
  return x;
}

/**
 * The defaults of every field: the single source for the printed defaults documents and the resolver. Empty strings
 * and lists mean "derived": member.name → hostname, bindAddress → the default-route address, the client/peer URL
 * lists → from the addresses and ports, walDir → inside dataDir, peerCertAllowedCN → not set.
 */
export const DEFAULT_DOCUMENT_VALUES: DocumentDefaults = deepFreeze({
  member: {
    name: '',
    dataDir: DEFAULTS.dataDir,
    walDir: '',
    bindAddress: '',
    clientPort: DEFAULTS.clientPort,
    peerPort: DEFAULTS.peerPort,
    listenClientURLs: [],
    advertiseClientURLs: [],
    listenPeerURLs: [],
    advertisePeerURLs: [],
    listenMetricsURLs: [DEFAULTS.metricsURL],
  },
  etcd: {
    version: DEFAULTS.etcdVersion,
    releaseURL: DEFAULTS.releaseUrl,
    skipHashCheck: false,
    insecureReleaseURL: false,
    downloadConnectTimeout: DEFAULTS.downloadConnectTimeout,
    quotaBackendBytes: DEFAULTS.quotaBackendBytes,
    autoCompactionMode: 'periodic',
    autoCompactionRetention: '0',
    heartbeatInterval: DEFAULTS.heartbeatIntervalMs,
    electionTimeout: DEFAULTS.electionTimeoutMs,
    corruptCheck: true,
    extraArgs: {},
  },
  pki: {
    certsDir: DEFAULTS.certsDir,
    keyAlgorithm: DEFAULTS.keyAlgorithm,
    caValidityDays: DEFAULTS.caValidityDays,
    certValidityDays: DEFAULTS.certValidityDays,
    renewBeforeDays: DEFAULTS.renewBeforeDays,
    autoRenew: false,
    serverCertExtraSANs: [],
    peerCertExtraSANs: [],
  },
  tls: { minVersion: 'TLS1.2', cipherSuites: [...DEFAULT_CIPHER_SUITES], peerCertAllowedCN: '' },
  install: { installDir: DEFAULTS.installDir, cacheDir: DEFAULTS.cacheDir },
  service: {
    initSystem: DEFAULTS.initSystem,
    unitName: DEFAULTS.unitName,
    user: DEFAULTS.serviceUser,
    diskPriorities: [...DEFAULTS.diskPriorities],
    imageRepository: DEFAULTS.imageRepository,
    kubeletPodManifestPath: DEFAULTS.podManifestDir,
    kubeletPodManifestName: PATHS.podManifestName,
  },
  join: { endpoints: [], learner: true, retry: true },
  backup: { every: '', keep: DEFAULTS.backupKeep, dir: PATHS.backupDir, s3Endpoint: '', s3Bucket: '', s3Prefix: '', s3Region: '', s3PathStyle: false, s3CaFile: '', s3AllowHTTP: false, s3CredentialsFile: '' },
  defrag: { every: '', threshold: DEFAULTS.defragThreshold },
});
