/**
 * Where snapshots go in S3-compatible object storage: the `--s3-*` options (one definition, for every command that
 * stores or reads snapshots there), and the pure checks that turn them into a location (a bad value is one line,
 * exit code 2). No secret ever passes through here: credentials come from a 0600 file or the AWS environment
 * variables, read when a store is opened (src/s3/credentials.ts).
 *
 * Exported interface:
 *   s3Options(): Option[]                          --s3-endpoint --s3-bucket --s3-prefix --s3-region --s3-path-style
 *                                                  --s3-ca-file --s3-allow-http --s3-credentials-file, for commander
 *   s3LocationFrom(opts, env?): S3Location | undefined
 *                                                  commander's parsed options → a validated location; undefined when no
 *                                                  --s3-* option is given (local only)
 *   parseS3Url(url, opts, env?): { location: S3Location; key: string }
 *                                                  `s3://bucket/key` (init --snapshot), with endpoint, region, CA and
 *                                                  credentials from the same options
 *   s3Url(location, key): string                   the `s3://bucket/key` of an object
 *   snapshotKey(location, name): string            the object key of a snapshot file name under the prefix
 */
import { Option } from '@commander-js/extra-typings';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { S3_DEFAULTS } from '../config/defaults.js';
import { EtcdadmError } from '../errors.js';

export interface S3Location {
  /** Origin of the service, no path: `https://s3.eu-west-1.amazonaws.com`, `http://10.88.0.200:9000`. */
  endpoint: string;
  bucket: string;
  /** '' or a key prefix ending in '/' (`etcd/prod/`). */
  prefix: string;
  region: string;
  /** Bucket in the path (`endpoint/bucket/key`) rather than in the host name (`bucket.host/key`). */
  pathStyle: boolean;
  /** PEM file of the CA that signed a private endpoint's certificate (trusted besides the system's CAs). */
  caFile?: string;
  /** A plain http:// endpoint, accepted by the operator (--s3-allow-http); never set for https. */
  allowHttp?: boolean;
  /** The 0600 credentials file; without one, the AWS environment variables. */
  credentialsFile?: string;
}

/** The options as commander parses them (attribute names). */
export interface S3OptionValues {
  s3Endpoint?: unknown;
  s3Bucket?: unknown;
  s3Prefix?: unknown;
  s3Region?: unknown;
  s3PathStyle?: unknown;
  s3CaFile?: unknown;
  s3CredentialsFile?: unknown;
  s3AllowHttp?: unknown;
}

/** The --s3-* options; the same definitions for snapshot save/list/prune and any command that reuses them. */
export function s3Options(): Option[] {
  return [
    new Option('--s3-endpoint <url>', `S3-compatible endpoint, http(s)://host[:port] (default: AWS, https://s3.<region>.amazonaws.com)`),
    new Option('--s3-bucket <name>', 'store snapshots in this bucket (turns S3 on; the bucket must exist)'),
    new Option('--s3-prefix <prefix>', "key prefix inside the bucket, e.g. 'etcd/prod/' (default: none)"),
    new Option('--s3-region <region>', `signing region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else ${S3_DEFAULTS.region})`),
    new Option('--s3-path-style', 'bucket in the URL path, not in the host name (always so for an IP-address endpoint)'),
    new Option('--s3-ca-file <file>', "PEM CA certificate(s) to trust for the endpoint's TLS certificate (a private endpoint)"),
    new Option('--s3-allow-http', 'accept a plain http:// --s3-endpoint (snapshots, which hold every secret in etcd, then travel unencrypted; not recommended)'),
    new Option(
      '--s3-credentials-file <file>',
      'file (mode 0600) with AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=..., [AWS_SESSION_TOKEN=...] lines (default: those environment variables)',
    ),
  ];
}

const bad = (flag: string, value: string, why: string): EtcdadmError => new EtcdadmError(`invalid ${flag} "${value}": ${why}`, { exitCode: 2 });
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** S3's bucket naming rules (3-63 lower-case letters, digits, dots, hyphens; starts and ends alphanumeric). */
export function checkBucket(name: string, flag = '--s3-bucket'): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || isIP(name))
    throw bad(flag, name, 'a bucket name is 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit');
  return name;
}

function checkEndpoint(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw bad('--s3-endpoint', value, 'not a URL; give http(s)://host[:port]');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad('--s3-endpoint', value, `the scheme must be https or http, not ${u.protocol.replace(/:$/, '')}`);
  if (u.username || u.password) throw bad('--s3-endpoint', value, 'credentials do not belong in the URL; use --s3-credentials-file or the AWS_* environment variables');
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) throw bad('--s3-endpoint', value, 'give only http(s)://host[:port]; the bucket is --s3-bucket and the key prefix --s3-prefix');
  return u.origin;
}

function checkPrefix(value: string): string {
  const p = value.replace(/^\/+/, '');
  if (p === '') return '';
  if (p.split('/').some((s) => s === '.' || s === '..')) throw bad('--s3-prefix', value, "no '.' or '..' segments");
  if (/[\u0000-\u001f\u007f\\]/.test(p)) throw bad('--s3-prefix', value, 'no control characters or backslashes');
  if (Buffer.byteLength(p) > 512) throw bad('--s3-prefix', value, 'at most 512 bytes');
  return p.endsWith('/') ? p : `${p}/`;
}

function checkRegion(value: string, flag: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/i.test(value)) throw bad(flag, value, 'a region is letters, digits and hyphens, e.g. us-east-1');
  return value;
}

function regionFrom(opts: S3OptionValues, env: NodeJS.ProcessEnv): string {
  const flag = str(opts.s3Region);
  if (flag !== undefined) return checkRegion(flag, '--s3-region');
  if (env.AWS_REGION) return checkRegion(env.AWS_REGION, 'AWS_REGION');
  if (env.AWS_DEFAULT_REGION) return checkRegion(env.AWS_DEFAULT_REGION, 'AWS_DEFAULT_REGION');
  return S3_DEFAULTS.region;
}

/** Everything but the bucket, from the options. */
function common(opts: S3OptionValues, env: NodeJS.ProcessEnv, bucket: string): S3Location {
  const region = regionFrom(opts, env);
  const given = str(opts.s3Endpoint);
  const endpoint = given !== undefined ? checkEndpoint(given) : `https://s3.${region}.amazonaws.com`;
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  // a bucket cannot be a label of an IP address or of localhost
  const pathStyle = opts.s3PathStyle === true || isIP(host) !== 0 || host === 'localhost' || bucket.includes('.');
  const loc: S3Location = { endpoint, bucket, prefix: checkPrefix(str(opts.s3Prefix) ?? ''), region, pathStyle };
  const ca = str(opts.s3CaFile);
  if (ca !== undefined) {
    if (!ca) throw bad('--s3-ca-file', ca, 'give the path of a PEM file');
    loc.caFile = resolve(ca);
  }
  if (opts.s3AllowHttp === true && endpoint.startsWith('http:')) loc.allowHttp = true;
  const refused = s3TransportProblem(loc);
  if (refused) throw refused;
  const cred = str(opts.s3CredentialsFile);
  if (cred !== undefined) {
    if (!cred) throw bad('--s3-credentials-file', cred, 'give the path of a 0600 file');
    loc.credentialsFile = resolve(cred);
  }
  return loc;
}

/**
 * Why etcdadm will not talk to this location's endpoint, or undefined. Plain http only with the operator's consent
 * (--s3-allow-http): snapshots hold every secret stored in etcd, and a session token travels in a header; a CA file
 * with an http endpoint is refused rather than silently ignored (the operator meant TLS). Checked when the options
 * are read and again when a store is opened (a location from the host record takes the same rule). Pure.
 */
export function s3TransportProblem(loc: Pick<S3Location, 'endpoint' | 'caFile' | 'allowHttp'>): EtcdadmError | undefined {
  if (!loc.endpoint.startsWith('http:')) return undefined;
  if (loc.caFile !== undefined)
    return new EtcdadmError(`--s3-ca-file is given but the S3 endpoint ${loc.endpoint} is plain http: nothing would check that CA`, { hint: 'give the https:// endpoint, or leave --s3-ca-file out', exitCode: 2 });
  if (loc.allowHttp !== true)
    return new EtcdadmError(`refusing the plain http S3 endpoint ${loc.endpoint}: snapshots hold every secret stored in etcd and would travel unencrypted`, {
      hint: 'give an https:// endpoint (with --s3-ca-file for a private CA), or accept the risk with --s3-allow-http',
      exitCode: 2,
    });
  return undefined;
}

const S3_KEYS = ['s3Endpoint', 's3Bucket', 's3Prefix', 's3Region', 's3PathStyle', 's3CaFile', 's3AllowHttp', 's3CredentialsFile'] as const;

/**
 * The location the --s3-* options name (pure but for `env`'s region); undefined when none is given. An option
 * without --s3-bucket, or a bad value, is an EtcdadmError with exit code 2.
 */
export function s3LocationFrom(opts: S3OptionValues, env: NodeJS.ProcessEnv = process.env): S3Location | undefined {
  const given = S3_KEYS.filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (given.length === 0) return undefined;
  const bucket = str(opts.s3Bucket);
  if (bucket === undefined) {
    const flags = given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new EtcdadmError(`${flags.join(', ')} given without --s3-bucket`, { hint: 'name the bucket with --s3-bucket, or leave the --s3-* options out to keep snapshots on this host only', exitCode: 2 });
  }
  return common(opts, env, checkBucket(bucket));
}

/**
 * `s3://bucket/key` (as `init --snapshot` takes it) with the endpoint, region, path style, CA and credentials of
 * the --s3-* options (`--s3-bucket`, when given too, must be the same bucket; `--s3-prefix` does not apply: the key
 * is whole).
 */
export function parseS3Url(url: string, opts: S3OptionValues = {}, env: NodeJS.ProcessEnv = process.env): { location: S3Location; key: string } {
  const m = /^s3:\/\/([^/]*)\/(.*)$/.exec(url);
  if (!m) throw bad('snapshot URL', url, 'give s3://bucket/key');
  const bucket = checkBucket(m[1]!, 'snapshot URL');
  const key = m[2]!;
  if (!key || key.endsWith('/')) throw bad('snapshot URL', url, 'name an object: s3://bucket/path/to/snapshot.db');
  if (/[\u0000-\u001f\u007f]/.test(key)) throw bad('snapshot URL', url, 'no control characters in the key');
  const flagBucket = str(opts.s3Bucket);
  if (flagBucket !== undefined && flagBucket !== bucket) throw new EtcdadmError(`--s3-bucket "${flagBucket}" and the snapshot URL's bucket "${bucket}" differ`, { hint: 'leave --s3-bucket out, or make them the same', exitCode: 2 });
  const location = common({ ...opts, s3Prefix: undefined }, env, bucket);
  return { location, key };
}

export const s3Url = (loc: Pick<S3Location, 'bucket'>, key: string): string => `s3://${loc.bucket}/${key}`;

export const snapshotKey = (loc: Pick<S3Location, 'prefix'>, name: string): string => `${loc.prefix}${name}`;
