/**
 * The configuration file: YAML → ConfigDocument with errors that name file, line and field
 * (`/etc/etcdadm.yaml:12: etcd.electionTimeout: must be at least 5 × etcd.heartbeatInterval (100 ms), got 300`),
 * the commented defaults documents, and extraArgs → ETCD_* variables.
 */
import { readOperatorFile } from '../host/operator.js';
import * as v from 'valibot';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Document, type Node } from 'yaml';
import { describe, EtcdadmError } from '../errors.js';
import {
  CONFIG_API_VERSION,
  configDocumentSchema,
  describeValue,
  HOST_CONFIG_KINDS,
  SSH_DEFAULTS,
  documentWarnings,
  DEFAULT_DOCUMENT_VALUES,
  formatPath,
  type ConfigDocument,
  type DocumentDefaults,
  type DocumentPath,
  type SchemaOptions,
} from './document.js';
import type { PartialSettings, SettingsLayer } from './settings.js';

export interface ConfigProblem {
  /** 1-based line in the file. */
  line: number;
  /** The field, as formatPath prints it: `etcd.electionTimeout`, `member.listenClientURLs[1]`, `(document)`. */
  path: string;
  message: string;
}

/** An invalid configuration file: the first problem (by line) is the message, all of them are in `problems`. */
export class ConfigFileError extends EtcdadmError {
  readonly file: string;
  readonly line: number;
  readonly path: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: ConfigProblem[], cause?: unknown) {
    const first = problems[0]!;
    const more = problems.length - 1;
    super(`${file}:${first.line}: ${first.path}: ${first.message}`, {
      hint: more > 0 ? `${more} more problem${more === 1 ? '' : 's'} in ${file} after this one` : undefined,
      exitCode: 2,
      cause,
    });
    this.name = 'ConfigFileError';
    this.file = file;
    this.line = first.line;
    this.path = first.path;
    this.problems = problems;
  }
}

export interface ParseOptions extends SchemaOptions {
  /** Called with each warning, formatted like an error (`file:line: path: message`). */
  onWarning?: (message: string) => void;
}

type AnyNode = Node | null | undefined;

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function lineOf(lc: LineCounter, node: AnyNode | unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}

/**
 * The line of `path` in the document: the value's line for a scalar or list element, the key's line for a key
 * (`atKey`) or a block mapping/list value. A path that leaves the file (a field it does not set) gets the line of the
 * deepest part it does set.
 */
function locate(doc: Document, lc: LineCounter, path: DocumentPath, atKey: boolean): number {
  let node: AnyNode = doc.contents as AnyNode;
  let line = lineOf(lc, node) ?? 1;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const last = i === path.length - 1;
    if (isAlias(node)) node = node.resolve(doc) as AnyNode;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(key));
      if (!pair) return line;
      line = lineOf(lc, pair.key) ?? line;
      if ((last && atKey) || !pair.value) return line;
      node = pair.value as AnyNode;
      if (isScalar(node) || isAlias(node) || (last && (node as Node & { flow?: boolean }).flow)) line = lineOf(lc, node) ?? line;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as AnyNode;
      if (!item) return line;
      node = item;
      line = lineOf(lc, node) ?? line;
    } else {
      return line;
    }
  }
  return line;
}

/**
 * The field a YAML syntax error is in: the deepest entry that starts before the error. An error right at a key
 * belongs to the entry before it (an unterminated value), unless it is about the key itself (a duplicate).
 */
function pathAtOffset(doc: Document, offset: number, code: string): (string | number)[] {
  const out: (string | number)[] = [];
  const atKey = code === 'DUPLICATE_KEY';
  let node: AnyNode = doc.contents as AnyNode;
  while (node) {
    let next: AnyNode;
    if (isMap(node)) {
      const pair = node.items
        .filter((p) => {
          const start = (p.key as Node | null)?.range?.[0] ?? Infinity;
          return atKey ? start <= offset : start < offset;
        })
        .pop();
      if (!pair) break;
      out.push(keyText(pair.key));
      next = pair.value as AnyNode;
    } else if (isSeq(node)) {
      let index = -1;
      node.items.forEach((it, i) => {
        if (((it as Node | null)?.range?.[0] ?? Infinity) <= offset) index = i;
      });
      if (index < 0) break;
      out.push(index);
      next = node.items[index] as AnyNode;
    } else break;
    // descend only into a value the error is inside of; an error at a value's start or end belongs to its key
    const r = next?.range;
    if (!r || offset <= r[0] || offset >= r[2]) break;
    node = next;
  }
  return out;
}

/** `key:` with nothing after it means "not set", as an absent key does. */
function withoutNulls(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(withoutNulls);
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(x)) if (val !== null) out[k] = withoutNulls(val);
    return out;
  }
  return x;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.i - b.i)
    .map(({ p }) => p)
    .filter((p) => (seen.has(p.path) ? false : (seen.add(p.path), true)));
}

/** Parse and validate a configuration document; `source` names it in errors (the file path). */
export function parseConfigText(text: string, source: string, options: ParseOptions = {}): ConfigDocument {
  return parseConfig(text, source, options).document;
}

/** The document and a way to find the line of a field in it. */
function parseConfig(text: string, source: string, options: ParseOptions): { document: ConfigDocument; lineOf: (path: DocumentPath, atKey: boolean) => number } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) =>
      e.code === 'MULTIPLE_DOCS'
        ? { line: lc.linePos(e.pos[0]).line, path: '(document)', message: "the file must hold a single YAML document: remove this '---' and what follows" }
        : {
            line: lc.linePos(e.pos[0]).line,
            path: formatPath(pathAtOffset(doc, e.pos[0], e.code)),
            message: `YAML syntax error: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          },
    );
    throw new ConfigFileError(source, sortProblems(problems), doc.errors[0]);
  }
  const contents = doc.contents as AnyNode;
  if (!contents || (isScalar(contents) && contents.value === null))
    throw new ConfigFileError(source, [
      { line: lineOf(lc, contents) ?? 1, path: '(document)', message: `empty; expected a mapping that starts with apiVersion: ${CONFIG_API_VERSION} and kind` },
    ]);
  let input: unknown;
  try {
    input = withoutNulls(doc.toJS({ maxAliasCount: 100 }));
  } catch (err) {
    throw new ConfigFileError(source, [{ line: lineOf(lc, contents) ?? 1, path: '(document)', message: `cannot read the document: ${describe(err)}` }], err);
  }
  if (!isMap(contents))
    throw new ConfigFileError(source, [
      { line: lineOf(lc, contents) ?? 1, path: '(document)', message: `must be a mapping with apiVersion and kind, got ${describeValue(input)}` },
    ]);

  const result = v.safeParse(configDocumentSchema(options), input, { abortEarly: false });
  if (!result.success) {
    const problems = result.issues.map((issue) => {
      const items = issue.path ?? [];
      const path = items.map((it) => it.key as string | number);
      const atKey = items.length > 0 && items[items.length - 1]!.origin === 'key';
      return { line: locate(doc, lc, path, atKey), path: formatPath(path), message: issue.message };
    });
    throw new ConfigFileError(source, sortProblems(problems));
  }
  if (options.onWarning)
    for (const w of documentWarnings(result.output, options))
      options.onWarning(`${source}:${locate(doc, lc, w.path, false)}: ${formatPath(w.path)}: ${w.message}`);
  return { document: result.output, lineOf: (path, atKey) => locate(doc, lc, path, atKey) };
}

function readConfigFile(path: string): Promise<string> {
  return readOperatorFile(path, 'configuration file', 'check the --config path');
}

/** Read and validate a configuration file. */
export async function loadConfigFile(path: string, options: ParseOptions = {}): Promise<ConfigDocument> {
  return parseConfigText(await readConfigFile(path), path, options);
}

/** A configuration document as a settings layer: its problems, also those found after merging, name the file and line. */
export function parseConfigLayer(text: string, source: string, options: ParseOptions = {}): SettingsLayer {
  const { document, lineOf } = parseConfig(text, source, options);
  if (document.kind === 'Cluster')
    throw new ConfigFileError(source, [
      {
        line: lineOf(['kind'], false),
        path: 'kind',
        message: `a Cluster document describes a whole cluster for 'etcdadm apply -f'; this command takes one host's document (${HOST_CONFIG_KINDS.join(', ')})`,
      },
    ]);
  const { apiVersion: _a, kind: _k, ssh: _s, hosts: _h, ...values } = document;
  return {
    name: source,
    values: values as PartialSettings,
    problem: (at, message) => new ConfigFileError(source, [{ line: lineOf(at, false), path: formatPath(at), message }]),
  };
}

/** A configuration file as a settings layer. */
export async function loadConfigLayer(path: string, options: ParseOptions = {}): Promise<SettingsLayer> {
  return parseConfigLayer(await readConfigFile(path), path, options);
}

// ---------------------------------------------------------------------------------------------------------------
// the commented defaults documents

type FieldComments = { [S in keyof DocumentDefaults]: { comment: string; fields: { [F in keyof DocumentDefaults[S]]-?: string } } };

/** One line per section and field; the compiler makes sure every field of the schema has one. */
const COMMENTS: FieldComments = {
  member: {
    comment: 'This member: name, directories, addresses and URLs.',
    fields: {
      name: "Member name, a DNS name (it goes into certificates and ETCD_INITIAL_CLUSTER); empty: this host's hostname.",
      dataDir: "etcd's data directory.",
      walDir: 'A separate directory for the write-ahead log; empty: inside dataDir.',
      bindAddress: "Address to listen on, an address of this host (0.0.0.0 or :: listen everywhere); empty: the default-route interface's address.",
      clientPort: 'Port for client traffic.',
      peerPort: 'Port for traffic between members.',
      listenClientURLs: 'Client URLs to listen on (https, IP hosts); empty: https://<bindAddress>:<clientPort> and https://127.0.0.1:<clientPort>.',
      advertiseClientURLs: 'Client URLs told to clients and other members; empty: https://<advertised address>:<clientPort>.',
      listenPeerURLs: 'Peer URLs to listen on (https, IP hosts); empty: https://<bindAddress>:<peerPort>.',
      advertisePeerURLs: 'Peer URLs told to other members; empty: https://<advertised address>:<peerPort>.',
      listenMetricsURLs: 'URLs serving /metrics and /health without client certificates (http or https).',
    },
  },
  etcd: {
    comment: 'The etcd release and its server settings.',
    fields: {
      version: 'etcd version to install and run.',
      releaseURL: 'Where releases are downloaded from (https, file, or http with insecureReleaseURL): <releaseURL>/vX.Y.Z/etcd-vX.Y.Z-linux-<arch>.tar.gz + SHA256SUMS.',
      skipHashCheck: 'Accept a release without SHA256SUMS (a mismatching hash is always an error).',
      insecureReleaseURL: 'Accept a plain http:// releaseURL: the archive and its SHA256SUMS then come over one unauthenticated channel.',
      downloadConnectTimeout: 'How long the release server may take to answer (connect + response headers).',
      quotaBackendBytes: 'Backend size quota in bytes; etcd raises a NOSPACE alarm above it. More than 8 GiB is not recommended.',
      autoCompactionMode: 'periodic (retention is a time span) or revision (retention is a number of revisions).',
      autoCompactionRetention: '"0": no automatic compaction; periodic: hours or a duration such as 1h; revision: revisions to keep.',
      heartbeatInterval: 'Raft heartbeat interval in milliseconds (at least 10).',
      electionTimeout: 'Raft election timeout in milliseconds; at least 5 × heartbeatInterval, at most 50000.',
      corruptCheck: 'Check the data for corruption against the other members before serving.',
      extraArgs: 'More etcd flags, name (without --) → value, such as max-txn-ops: "256"; written as ETCD_<NAME> variables.',
    },
  },
  pki: {
    comment: 'Certificates.',
    fields: {
      certsDir: 'Directory of the CA and the certificates etcdadm makes.',
      keyAlgorithm: 'Algorithm of new keys: ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096.',
      caValidityDays: 'Validity of a new CA in days.',
      certValidityDays: 'Validity of server, peer and client certificates in days (at most caValidityDays).',
      renewBeforeDays: 'A certificate is due for renewal this many days before it expires (check-expiration exit 3, renew --if-due).',
      autoRenew: 'Install the daily renewal timer (certs renew --schedule) that renews what is due.',
      serverCertExtraSANs: 'Extra IP addresses or DNS names for the server certificate.',
      peerCertExtraSANs: 'Extra IP addresses or DNS names for the peer certificate.',
    },
  },
  tls: {
    comment: 'TLS of client and peer connections.',
    fields: {
      minVersion: 'Oldest TLS version accepted: TLS1.2 or TLS1.3 (TLS1.3 needs etcd 3.5 and an empty cipherSuites).',
      cipherSuites: 'TLS 1.2 cipher suites (Go names), AEAD only by default.',
      peerCertAllowedCN: 'Accept peer connections only from certificates with this common name; empty: any certificate of the CA.',
    },
  },
  install: {
    comment: 'Where etcd is installed.',
    fields: {
      installDir: 'Directory of the etcd, etcdctl and etcdutl binaries (and etcdctl.sh).',
      cacheDir: 'Verified release archives are kept here and not downloaded again.',
    },
  },
  service: {
    comment: 'How etcd runs.',
    fields: {
      initSystem: 'systemd (a unit) or kubelet (a static Pod manifest).',
      unitName: 'Name of the systemd unit.',
      user: "User etcd runs as: root, or a user name (created if missing; it owns the data dir).",
      diskPriorities: 'systemd settings for the unit that give etcd priority on the disk.',
      imageRepository: 'Image for initSystem kubelet, without tag (etcdadm uses <imageRepository>:v<version>).',
      kubeletPodManifestPath: "Directory of the kubelet's static Pod manifests, for initSystem kubelet.",
      kubeletPodManifestName: "File name of etcd's static Pod manifest in that directory (etcdadm v0.1.x used etcd.manifest).",
    },
  },
  join: {
    comment: 'Joining an existing cluster.',
    fields: {
      endpoints: 'Client URLs of existing members, such as https://10.0.0.1:2379; the join command line may give them instead.',
      learner: 'Join as a learner and be promoted once caught up (false: a voting member at once).',
      retry: "Retry membership changes while etcd answers 'unhealthy cluster'.",
    },
  },
  backup: {
    comment: 'Scheduled snapshots (a systemd timer, etcdadm backup schedule); init and join install it when every is set.',
    fields: {
      every: 'How often: 1m-30m dividing an hour, 1h-12h dividing a day, 1d or 7d; empty: no schedule.',
      keep: 'How many of the newest snapshots stay; older ones are pruned after each snapshot.',
      dir: 'Directory of the snapshots (0700, each file 0600).',
      s3Endpoint: 'Upload each snapshot to S3 as well (as --s3-endpoint; empty: AWS for the region).',
      s3Bucket: 'The bucket (empty: no upload).',
      s3Prefix: 'Key prefix inside the bucket.',
      s3Region: 'Signing region (empty: $AWS_REGION, else us-east-1).',
      s3PathStyle: 'The bucket in the URL path, not the host name.',
      s3CaFile: 'PEM CA certificate(s) trusted for the endpoint (a private endpoint).',
      s3AllowHTTP: 'Accept a plain http:// s3Endpoint (snapshots travel unencrypted).',
      s3CredentialsFile: 'A 0600 file of AWS_ACCESS_KEY_ID=/AWS_SECRET_ACCESS_KEY= lines; never the credentials themselves here.',
    },
  },
  defrag: {
    comment: 'The rolling defrag on a systemd timer (etcdadm defrag --schedule); init and join install it when every is set. One run at a time per cluster (a lock in etcd).',
    fields: {
      every: 'How often: 1m-30m dividing an hour, 1h-12h dividing a day, 1d or 7d; empty: no timer.',
      threshold: 'A member is defragmented only when more than this share of its file is free, such as 20%.',
    },
  },
};

function yamlScalar(x: unknown): string {
  return stringify(x, { lineWidth: 0 }).trimEnd();
}

function renderField(name: string, value: unknown, comment: string): string[] {
  const lines = [`  # ${comment}`];
  if (Array.isArray(value)) {
    if (value.length === 0) lines.push(`  ${name}: []`);
    else lines.push(`  ${name}:`, ...value.map((item) => `    - ${yamlScalar(item)}`));
  } else if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) lines.push(`  ${name}: {}`);
    else lines.push(`  ${name}:`, ...entries.map(([k, val]) => `    ${yamlScalar(k)}: ${yamlScalar(val)}`));
  } else {
    lines.push(`  ${name}: ${yamlScalar(value)}`);
  }
  return lines;
}

/**
 * A complete, valid configuration document of `kind` with every field at its default and a comment explaining it
 * (what `--config` takes; the JoinConfiguration has the join section too).
 */
export function defaultsDocument(kind: 'InitConfiguration' | 'JoinConfiguration'): string {
  const lines = [
    `# etcdadm ${kind === 'JoinConfiguration' ? 'join' : 'init'} configuration, for --config <file>.`,
    '# Every field is optional; this document shows each one at its default. Command-line flags override this file.',
    `apiVersion: ${CONFIG_API_VERSION}`,
    `kind: ${kind}`,
  ];
  for (const sectionName of Object.keys(COMMENTS) as (keyof DocumentDefaults)[]) {
    if (sectionName === 'join' && kind !== 'JoinConfiguration') continue;
    const { comment, fields } = COMMENTS[sectionName];
    const values = DEFAULT_DOCUMENT_VALUES[sectionName] as Record<string, unknown>;
    lines.push('', `# ${comment}`, `${sectionName}:`);
    for (const [name, fieldComment] of Object.entries(fields as Record<string, string>)) lines.push(...renderField(name, values[name], fieldComment));
  }
  return `${lines.join('\n')}\n`;
}

const SSH_COMMENTS: Record<keyof typeof SSH_DEFAULTS, string> = {
  user: 'The account on the hosts: root, or a user with passwordless sudo (every command then runs through sudo -n).',
  port: "sshd's port.",
  identityFile: "A private key file (empty: OpenSSH's own choice: ~/.ssh/config, the ssh-agent, its default keys). Never the key itself.",
  knownHostsFile: "The hosts' keys, checked strictly (first contact: etcdadm apply --accept-new-host-keys, as OpenSSH's accept-new).",
  proxyJump: 'A bastion, as OpenSSH\'s ProxyJump: [user@]host[:port], several comma-separated (empty: direct; ~/.ssh/config may set one).',
};

/** Member fields a Cluster document sets per host (hosts[].name, hosts[].member), not for all. */
const PER_HOST_MEMBER_FIELDS = new Set(['name', 'bindAddress', 'listenClientURLs', 'advertiseClientURLs', 'listenPeerURLs', 'advertisePeerURLs']);

/**
 * A commented, valid Cluster document for `etcdadm apply -f`: how to reach the hosts, three example hosts, and every
 * section of the host documents at its default (the member section without the fields that belong to one host).
 */
export function clusterDocument(): string {
  const lines = [
    '# etcdadm cluster file, for etcdadm apply -f <file>: the whole cluster, described once, made and kept so from one',
    '# machine over SSH. The hosts need sshd, root (or sudo) and systemd; etcdadm copies itself there.',
    `apiVersion: ${CONFIG_API_VERSION}`,
    'kind: Cluster',
    '',
    "# How to reach the hosts, with OpenSSH's client (~/.ssh/config aliases, ProxyJump and the ssh-agent apply).",
    '# Every host may override these under hosts[].ssh.',
    'ssh:',
  ];
  for (const [name, value] of Object.entries(SSH_DEFAULTS)) lines.push(...renderField(name, value, SSH_COMMENTS[name as keyof typeof SSH_DEFAULTS]));
  lines.push(
    '',
    '# The hosts, one member each. address: how etcdadm reaches the host (an IP address, a host name or an ~/.ssh/config',
    "# alias); name: the member's name (default: the host's hostname); caHolder: keeps ca.key (default: the first host",
    '# only; the others receive only their own certificates, signed on a CA holder). Under hosts[].member: what belongs',
    '# to one host (bindAddress, the client and peer URLs, dataDir, ...).',
    'hosts:',
    '  - address: 10.0.0.1',
    '    name: etcd-a',
    '    caHolder: true',
    '  - address: 10.0.0.2',
    '    name: etcd-b',
    '  - address: 10.0.0.3',
    '    name: etcd-c',
    '    member:',
    '      dataDir: /srv/etcd',
  );
  for (const sectionName of Object.keys(COMMENTS) as (keyof DocumentDefaults)[]) {
    if (sectionName === 'join') continue;
    const { comment, fields } = COMMENTS[sectionName];
    const values = DEFAULT_DOCUMENT_VALUES[sectionName] as Record<string, unknown>;
    lines.push('', `# ${comment}${sectionName === 'member' ? ' For every host; each may override these under hosts[].member.' : ''}`, `${sectionName}:`);
    for (const [name, fieldComment] of Object.entries(fields as Record<string, string>)) {
      if (sectionName === 'member' && PER_HOST_MEMBER_FIELDS.has(name)) continue;
      lines.push(...renderField(name, values[name], fieldComment));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** etcd.extraArgs as environment variables: `max-txn-ops: "256"` → `['ETCD_MAX_TXN_OPS', '256']`, sorted by name. */
export function extraArgsEnv(extraArgs: Readonly<Record<string, string>> | undefined): [string, string][] {
  return Object.entries(extraArgs ?? {})
    .map(([name, value]): [string, string] => [`ETCD_${name.replace(/^-+/, '').toUpperCase().replace(/-/g, '_')}`, value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
