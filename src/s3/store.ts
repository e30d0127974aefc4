/**
 * An S3 bucket as a store of snapshot files: the few S3 calls etcdadm needs, signed with AWS Signature Version 4
 * (the `aws4` package) over Node's own http/https. Loaded only by the commands that use S3 (a dynamic import).
 *
 * Exported interface:
 *   openStore(location, options?): Promise<S3Store>  reads the credentials (src/s3/credentials.ts) and the CA file,
 *                                                    and checks that the bucket answers to them (one clear line if
 *                                                    not: wrong credentials, no such bucket, unreachable, TLS)
 *   S3Store.upload(file, key, { onProgress?, abortStale? }): Promise<UploadResult>
 *       a file up to one part: one PUT with Content-MD5, x-amz-checksum-sha256 and the signed SHA-256 of the body;
 *       larger: a multipart upload whose every part carries the same three (the server refuses a part that does
 *       not match them), the part ETags checked against their MD5s, and after completion the object's size, ETag
 *       (MD5 of the part MD5s, "-N") and x-amz-meta-sha256 (the whole file's SHA-256) compared with the file's.
 *       On any failure the multipart upload is aborted (retried; if the endpoint is gone, the error says so and
 *       `abortStale` at the next upload aborts it) and a completed but mismatching object is removed.
 *       abortStale: a key prefix whose unfinished multipart uploads are aborted first (an earlier failed run's),
 *       staleMatch: only those whose key it accepts
 *   S3Store.list(prefix): Promise<S3Object[]>        every object under the prefix (all pages)
 *   S3Store.read(key, maxBytes?): Promise<Buffer | null>   a small object (a sidecar); null when there is none
 *   S3Store.head(key): Promise<S3Head | null>
 *   S3Store.remove(key): Promise<void>               gone already counts as removed
 *   S3Store.download(key, path): Promise<DownloadResult>
 *       to a temp file beside `path` (0600), fsynced, checked (size; SHA-256 against the sidecar `<key>.json` when
 *       there is one, else against x-amz-meta-sha256), then renamed over `path`; nothing is left at `path` otherwise
 *   S3Store.listUploads(prefix), S3Store.abortUploads(prefix): unfinished multipart uploads
 *   S3Store.close()
 *   downloadS3Url(url, opts, path, options?): Promise<DownloadResult>
 *       `init --snapshot s3://bucket/key`: parseS3Url with the --s3-* options, openStore, download, close
 */
import aws4 from 'aws4';
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { S3_DEFAULTS } from '../config/defaults.js';
import { EtcdadmError, describe } from '../errors.js';
import type { FileWriter, Host } from '../host/host.js';
import { operatorHost, readOperatorFile } from '../host/operator.js';
import { loadCredentials, type S3Credentials } from './credentials.js';
import { parseS3Url, s3TransportProblem, s3Url, type S3Location, type S3OptionValues } from './location.js';

export interface S3Object {
  key: string;
  size: number;
  /** ISO 8601. */
  lastModified: string;
  etag: string;
}

export interface S3Head {
  size: number;
  etag: string;
  lastModified: string;
  /** x-amz-meta-* headers, names without the prefix. */
  metadata: Record<string, string>;
  checksumSha256?: string;
}

export interface UploadResult {
  key: string;
  url: string;
  size: number;
  /** 0 for a single PUT. */
  parts: number;
  /** SHA-256 of the file (hex), also the object's x-amz-meta-sha256. */
  sha256: string;
  etag: string;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** What the SHA-256 was checked against. */
  checkedAgainst: 'sidecar' | 'metadata';
}

export interface UploadOptions {
  /** Called after each part (and once for a single PUT) with the bytes stored so far. */
  onProgress?: (bytes: number, total: number) => void | Promise<void>;
  /** Abort the unfinished multipart uploads under this key prefix first (what an earlier failed upload left). */
  abortStale?: string;
  /** Only those of them whose key this accepts. */
  staleMatch?: (key: string) => boolean;
}

/** The most of an answer read into memory: a listing page of 1000 keys, an error, a sidecar. */
const MAX_REPLY_BYTES = 8 << 20;

export interface StoreOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the files uploaded and downloaded are (default: the machine etcdadm runs on). */
  host?: Host;
  /** Bytes a part (default S3_DEFAULTS.partSize; at least 5 MiB for S3). */
  partSize?: number;
  idleTimeoutMs?: number;
}

export interface S3Store {
  readonly location: S3Location;
  upload(file: string, key: string, options?: UploadOptions): Promise<UploadResult>;
  list(prefix: string): Promise<S3Object[]>;
  read(key: string, maxBytes?: number): Promise<Buffer | null>;
  head(key: string): Promise<S3Head | null>;
  remove(key: string): Promise<void>;
  download(key: string, path: string): Promise<DownloadResult>;
  listUploads(prefix: string): Promise<{ key: string; uploadId: string; initiated: string }[]>;
  abortUploads(prefix: string, match?: (key: string) => boolean): Promise<number>;
  close(): void;
}

// ---- XML (the few flat elements S3 answers with) ----

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    const l = e.toLowerCase();
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16));
    if (l.startsWith('#')) return String.fromCodePoint(parseInt(l.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[l]!;
  });
}
const escapeXml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export function xmlTag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]!) : undefined;
}
export function xmlBlocks(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1]!);
}

// ---- errors ----

interface S3Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Thrown for an S3 error answer; turned into one EtcdadmError line by `explain`. */
class S3ErrorReply extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${status} ${code}${detail ? `: ${detail}` : ''}`);
  }
}

function errorOf(r: S3Reply): S3ErrorReply {
  const xml = r.body.toString('utf8');
  const code = xmlTag(xml, 'Code') ?? (r.status === 404 ? 'NotFound' : r.status === 403 ? 'AccessDenied' : `HTTP${r.status}`);
  return new S3ErrorReply(r.status, code, (xmlTag(xml, 'Message') ?? '').trim());
}

const CREDENTIAL_CODES = new Set(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'XAdminUserNotFound', 'InvalidToken', 'ExpiredToken', 'AccessDenied', 'AuthorizationHeaderMalformed', 'InvalidClientTokenId']);
const TLS_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']);

function credentialSource(loc: S3Location): string {
  return loc.credentialsFile ? `the credentials in ${loc.credentialsFile}` : 'the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY';
}

/** Any failure of a call on `what` as one line: what failed, where, what to do. */
function explain(err: unknown, loc: S3Location, what: string): EtcdadmError {
  if (err instanceof EtcdadmError) return err;
  if (err instanceof S3ErrorReply) {
    if (err.code === 'NoSuchBucket')
      return new EtcdadmError(`the S3 bucket ${loc.bucket} does not exist at ${loc.endpoint}`, { hint: 'create it, or check --s3-bucket and --s3-endpoint', cause: err });
    if (CREDENTIAL_CODES.has(err.code))
      return new EtcdadmError(`${loc.endpoint} refused ${what} (${err.code}${err.detail ? `: ${err.detail.replace(/\.$/, '')}` : ''})`, {
        hint: `check ${credentialSource(loc)}, the key's permissions on bucket ${loc.bucket}, and --s3-region (${loc.region})`,
        cause: err,
      });
    return new EtcdadmError(`${what} failed at ${loc.endpoint}: ${err.message}`, { hint: 'check the endpoint and the bucket, then run the command again', cause: err });
  }
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (TLS_CODES.has(code))
    return new EtcdadmError(`the TLS certificate of ${loc.endpoint} is not trusted (${code})`, { hint: 'pass --s3-ca-file with the CA that signed it', cause: err });
  return new EtcdadmError(`${what} failed: cannot reach ${loc.endpoint}: ${describe(err)}`, { hint: 'check --s3-endpoint and the network, then run the command again', cause: err });
}

// ---- the client ----

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();
const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const EMPTY_SHA256 = sha256('').toString('hex');
const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

/** S3's path encoding of a key: every byte but unreserved ones and '/'. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

interface Call {
  method: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer;
}

class Client {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(
    readonly loc: S3Location,
    private readonly creds: S3Credentials,
    ca: string | undefined,
    readonly idleTimeoutMs: number,
  ) {
    this.url = new URL(loc.endpoint);
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, ...(ca ? { ca: [...rootCertificates, ca] } : {}) }) : new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Sends one signed request; resolves with the response (the body not read). */
  send(c: Call): Promise<IncomingMessage> {
    const host = this.loc.pathStyle ? this.url.host : `${this.loc.bucket}.${this.url.host}`;
    const base = this.loc.pathStyle ? `/${this.loc.bucket}` : '';
    const q = c.query ? Object.entries(c.query) : [];
    const path = `${base}/${c.key !== undefined ? encodeKey(c.key) : ''}${q.length ? `?${q.map(([k, v]) => (v === '' ? k : `${k}=${encodeURIComponent(v)}`)).join('&')}` : ''}`;
    const body = c.body;
    const headers: Record<string, string | number> = {
      Host: host,
      'x-amz-content-sha256': body ? sha256(body).toString('hex') : EMPTY_SHA256,
      ...(body ? { 'Content-Length': body.length } : {}),
      ...c.headers,
    };
    const signed = aws4.sign({ host, path, method: c.method, service: 's3', region: this.loc.region, headers }, this.creds);
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        { protocol: this.url.protocol, hostname: this.url.hostname, port: this.url.port || undefined, method: c.method, path: signed.path, headers: signed.headers, agent: this.agent, ...(this.loc.pathStyle ? {} : { servername: host }) },
        resolve,
      );
      req.setTimeout(this.idleTimeoutMs, () => req.destroy(Object.assign(new Error(`no answer for ${this.idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** One call, its whole answer read; an S3 error answer throws S3ErrorReply. */
  async call(c: Call, ok: (status: number) => boolean = (s) => s >= 200 && s < 300): Promise<S3Reply> {
    const res = await this.send(c);
    const chunks: Buffer[] = [];
    let size = 0;
    res.setTimeout(this.idleTimeoutMs, () => res.destroy(Object.assign(new Error(`no data for ${this.idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    for await (const chunk of res) {
      // the answers read whole are small (XML, a sidecar): one that is not is not read further
      size += (chunk as Buffer).length;
      if (size > MAX_REPLY_BYTES) {
        res.destroy();
        throw new EtcdadmError(`${c.method} ${s3Url(this.loc, c.key ?? '')} answered more than ${MAX_REPLY_BYTES} bytes`, { hint: 'check --s3-endpoint: it does not answer like S3' });
      }
      chunks.push(chunk as Buffer);
    }
    const r = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
    if (!ok(r.status)) throw errorOf(r);
    return r;
  }

  /** A call retried on network errors and 5xx answers (0.5 s, 1 s). */
  async retried(c: Call, tries = 3): Promise<S3Reply> {
    for (let i = 1; ; i++) {
      try {
        return await this.call(c);
      } catch (err) {
        const transient = !(err instanceof S3ErrorReply) || err.status >= 500;
        if (!transient || i >= tries) throw err;
        await sleep(500 * 2 ** (i - 1));
      }
    }
  }
}

function headOf(h: IncomingHttpHeaders): S3Head {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice(11)] = v;
  const checksum = h['x-amz-checksum-sha256'];
  return {
    size: Number(h['content-length'] ?? -1),
    etag: unquote(h.etag),
    lastModified: h['last-modified'] ? new Date(h['last-modified']).toISOString() : '',
    metadata,
    ...(typeof checksum === 'string' ? { checksumSha256: checksum } : {}),
  };
}

async function fileSha256(host: Host, path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of host.readStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

class Store implements S3Store {
  constructor(
    private readonly c: Client,
    private readonly partSize: number,
    private readonly host: Host,
  ) {}

  get location(): S3Location {
    return this.c.loc;
  }

  close(): void {
    this.c.close();
  }

  private fail(err: unknown, what: string): EtcdadmError {
    return explain(err, this.c.loc, what);
  }

  async head(key: string): Promise<S3Head | null> {
    try {
      const r = await this.c.call({ method: 'HEAD', key, headers: { 'x-amz-checksum-mode': 'ENABLED' } }, (s) => (s >= 200 && s < 300) || s === 404);
      return r.status === 404 ? null : headOf(r.headers);
    } catch (err) {
      throw this.fail(err, `HEAD ${s3Url(this.c.loc, key)}`);
    }
  }

  async list(prefix: string): Promise<S3Object[]> {
    const out: S3Object[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.c.retried({ method: 'GET', query: { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) } });
        const xml = r.body.toString('utf8');
        for (const b of xmlBlocks(xml, 'Contents'))
          out.push({ key: xmlTag(b, 'Key') ?? '', size: Number(xmlTag(b, 'Size') ?? 0), lastModified: xmlTag(b, 'LastModified') ?? '', etag: unquote(xmlTag(b, 'ETag')) });
        token = xmlTag(xml, 'IsTruncated') === 'true' ? xmlTag(xml, 'NextContinuationToken') : undefined;
      } while (token);
    } catch (err) {
      throw this.fail(err, `listing ${s3Url(this.c.loc, prefix)}`);
    }
    return out;
  }

  async read(key: string, maxBytes = 1 << 20): Promise<Buffer | null> {
    try {
      const r = await this.c.call({ method: 'GET', key }, (s) => (s >= 200 && s < 300) || s === 404);
      if (r.status === 404) return null;
      if (r.body.length > maxBytes) throw new EtcdadmError(`${s3Url(this.c.loc, key)} is larger than ${maxBytes} bytes`, { hint: 'it is not a snapshot sidecar' });
      return r.body;
    } catch (err) {
      throw this.fail(err, `GET ${s3Url(this.c.loc, key)}`);
    }
  }

  async remove(key: string): Promise<void> {
    try {
      await this.c.retried({ method: 'DELETE', key });
    } catch (err) {
      if (err instanceof S3ErrorReply && err.code === 'NoSuchKey') return;
      throw this.fail(err, `DELETE ${s3Url(this.c.loc, key)}`);
    }
  }

  async listUploads(prefix: string): Promise<{ key: string; uploadId: string; initiated: string }[]> {
    const out: { key: string; uploadId: string; initiated: string }[] = [];
    let marker: { key: string; id: string } | undefined;
    try {
      do {
        const r = await this.c.retried({ method: 'GET', query: { uploads: '', prefix, ...(marker ? { 'key-marker': marker.key, 'upload-id-marker': marker.id } : {}) } });
        const xml = r.body.toString('utf8');
        for (const b of xmlBlocks(xml, 'Upload')) out.push({ key: xmlTag(b, 'Key') ?? '', uploadId: xmlTag(b, 'UploadId') ?? '', initiated: xmlTag(b, 'Initiated') ?? '' });
        const nk = xmlTag(xml, 'NextKeyMarker');
        const ni = xmlTag(xml, 'NextUploadIdMarker');
        marker = xmlTag(xml, 'IsTruncated') === 'true' && nk ? { key: nk, id: ni ?? '' } : undefined;
      } while (marker);
    } catch (err) {
      throw this.fail(err, `listing the multipart uploads under ${s3Url(this.c.loc, prefix)}`);
    }
    return out;
  }

  async abortUploads(prefix: string, match?: (key: string) => boolean): Promise<number> {
    const ups = (await this.listUploads(prefix)).filter((u) => !match || match(u.key));
    for (const u of ups) await this.abort(u.key, u.uploadId, 1);
    return ups.length;
  }

  /** Abort one multipart upload, retried (a brief outage); an error when the endpoint stays away. */
  private async abort(key: string, uploadId: string, tries: number = S3_DEFAULTS.abortTries): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        await this.c.call({ method: 'DELETE', key, query: { uploadId } });
        return;
      } catch (err) {
        if (err instanceof S3ErrorReply && err.code === 'NoSuchUpload') return;
        if (i >= tries) throw err;
        await sleep(500 * 2 ** (i - 1));
      }
    }
  }

  async upload(file: string, key: string, options: UploadOptions = {}): Promise<UploadResult> {
    const url = s3Url(this.c.loc, key);
    if (options.abortStale !== undefined) await this.abortUploads(options.abortStale, options.staleMatch);
    const st = await this.host.stat(file);
    if (st?.kind !== 'file') throw new EtcdadmError(`${file} is not a file`, { hint: 'upload a snapshot file' });
    const size = st.size;
    const whole = await fileSha256(this.host, file);
    const meta = { 'x-amz-meta-sha256': whole };
    if (size <= this.partSize) {
      const body = Buffer.from((await this.host.readBytes(file)) ?? new Uint8Array());
      if (body.length !== size || sha256(body).toString('hex') !== whole) throw new EtcdadmError(`${file} changed while it was being uploaded`, { hint: 'run the command again' });
      let r: S3Reply;
      try {
        r = await this.c.retried({ method: 'PUT', key, body, headers: { ...meta, 'Content-MD5': md5(body).toString('base64'), 'x-amz-checksum-sha256': sha256(body).toString('base64') } });
      } catch (err) {
        throw this.fail(err, `uploading ${file} to ${url}`);
      }
      await options.onProgress?.(size, size);
      const etag = unquote(r.headers.etag);
      await this.verify(file, key, { size, etag: md5(body).toString('hex'), sha256: whole, got: etag, checksum: sha256(body).toString('base64') });
      return { key, url, size, parts: 0, sha256: whole, etag };
    }
    return this.multipart(file, key, size, whole, meta, options);
  }

  /** After completion: the object is the file, or it is removed again. */
  private async verify(file: string, key: string, want: { size: number; etag: string; sha256: string; got: string; checksum: string }): Promise<void> {
    const h = await this.head(key);
    const why = !h
      ? 'it is not there after the upload'
      : h.size !== want.size
        ? `${h.size} bytes stored, ${want.size} sent`
        : h.etag !== want.etag || (want.got && want.got !== want.etag)
          ? `its ETag ${h.etag} is not the ${want.etag} of what was sent`
          : h.metadata.sha256 !== want.sha256
            ? 'its x-amz-meta-sha256 is not the SHA-256 of the file'
            : h.checksumSha256 !== undefined && h.checksumSha256 !== want.checksum
              ? `its x-amz-checksum-sha256 ${h.checksumSha256} is not the ${want.checksum} of what was sent`
              : undefined;
    if (why) {
      await this.remove(key).catch(() => undefined);
      throw new EtcdadmError(`the upload of ${file} to ${s3Url(this.c.loc, key)} does not match the file: ${why}`, { hint: 'the object was removed again; the local file is kept. Run the command again' });
    }
  }

  private async multipart(file: string, key: string, size: number, whole: string, meta: Record<string, string>, options: UploadOptions): Promise<UploadResult> {
    const url = s3Url(this.c.loc, key);
    let uploadId: string | undefined;
    try {
      try {
        const r = await this.c.retried({ method: 'POST', key, query: { uploads: '' }, headers: { ...meta, 'x-amz-checksum-algorithm': 'SHA256' } });
        uploadId = xmlTag(r.body.toString('utf8'), 'UploadId');
        if (!uploadId) throw new Error('the answer to CreateMultipartUpload has no UploadId');
      } catch (err) {
        throw this.fail(err, `starting the upload of ${file} to ${url}`);
      }
      const id = uploadId;
      const count = Math.ceil(size / this.partSize);
      const parts: { md5: Buffer; sha256: Buffer; etag: string }[] = [];
      const whole2 = createHash('sha256');
      let done = 0;
      for (let n = 1; n <= count; n++) {
        const len = Math.min(this.partSize, size - (n - 1) * this.partSize);
        const body = Buffer.from(await this.host.readRange(file, (n - 1) * this.partSize, len));
        if (body.length !== len) throw new EtcdadmError(`${file} changed while it was being uploaded (shorter than ${size} bytes)`, { hint: 'run the command again' });
        whole2.update(body);
        const p = { md5: md5(body), sha256: sha256(body), etag: '' };
        let r: S3Reply;
        try {
          r = await this.c.retried({ method: 'PUT', key, query: { partNumber: String(n), uploadId: id }, body, headers: { 'Content-MD5': p.md5.toString('base64'), 'x-amz-checksum-sha256': p.sha256.toString('base64') } });
        } catch (err) {
          throw this.fail(err, `uploading part ${n} of ${count} of ${file} to ${url}`);
        }
        p.etag = unquote(r.headers.etag);
        if (p.etag !== p.md5.toString('hex')) throw new EtcdadmError(`part ${n} of ${file} was stored with ETag ${p.etag}, not the MD5 ${p.md5.toString('hex')} of what was sent`, { hint: 'run the command again' });
        parts.push(p);
        done += len;
        await options.onProgress?.(done, size);
      }
      if (whole2.digest('hex') !== whole) throw new EtcdadmError(`${file} changed while it was being uploaded`, { hint: 'run the command again' });
      const xml = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts
        .map((p, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>"${escapeXml(p.etag)}"</ETag><ChecksumSHA256>${p.sha256.toString('base64')}</ChecksumSHA256></Part>`)
        .join('')}</CompleteMultipartUpload>`;
      let completed: S3Reply;
      try {
        completed = await this.c.call({ method: 'POST', key, query: { uploadId: id }, body: Buffer.from(xml), headers: { 'Content-Type': 'application/xml' } });
        // a 200 answer can still carry an error
        const text = completed.body.toString('utf8');
        if (/<Error>/.test(text)) throw new S3ErrorReply(completed.status, xmlTag(text, 'Code') ?? 'InternalError', xmlTag(text, 'Message') ?? '');
      } catch (err) {
        throw this.fail(err, `completing the upload of ${file} to ${url}`);
      }
      uploadId = undefined; // completed: nothing to abort from here on
      const etag = `${md5(Buffer.concat(parts.map((p) => p.md5))).toString('hex')}-${count}`;
      // the checksum of a multipart object is the SHA-256 of its parts' SHA-256s, "-N" (COMPOSITE)
      const checksum = `${sha256(Buffer.concat(parts.map((p) => p.sha256))).toString('base64')}-${count}`;
      await this.verify(file, key, { size, etag, sha256: whole, got: unquote(xmlTag(completed.body.toString('utf8'), 'ETag')), checksum });
      return { key, url, size, parts: count, sha256: whole, etag };
    } catch (err) {
      if (uploadId !== undefined) {
        try {
          await this.abort(key, uploadId);
        } catch (abortErr) {
          const e = err instanceof EtcdadmError ? err : this.fail(err, `uploading ${file} to ${url}`);
          throw new EtcdadmError(`${e.message}; its unfinished multipart upload could not be aborted either (${describe(abortErr)})`, {
            hint: `the next snapshot save with the same --s3-* options aborts it (or abort upload ${uploadId} with any S3 client)`,
            cause: err,
          });
        }
      }
      throw err instanceof EtcdadmError ? err : this.fail(err, `uploading ${file} to ${url}`);
    }
  }

  async download(key: string, path: string): Promise<DownloadResult> {
    const url = s3Url(this.c.loc, key);
    let want: { size?: number; sha256?: string; from: 'sidecar' | 'metadata' } | undefined;
    if (!key.endsWith('.json')) {
      const side = await this.read(`${key}.json`);
      if (side) {
        let o: { size?: unknown; sha256?: unknown };
        try {
          o = JSON.parse(side.toString('utf8')) as typeof o;
        } catch {
          throw new EtcdadmError(`the sidecar ${url}.json is not JSON`, { hint: 'the sidecar was damaged; check the object, or remove the sidecar to download without the check' });
        }
        if (typeof o.sha256 === 'string') want = { sha256: o.sha256, ...(typeof o.size === 'number' ? { size: o.size } : {}), from: 'sidecar' };
      }
    }
    let res: IncomingMessage;
    try {
      res = await this.c.send({ method: 'GET', key });
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        const e = errorOf({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        if (e.code === 'NoSuchKey') throw new EtcdadmError(`${url} does not exist at ${this.c.loc.endpoint}`, { hint: "check the key ('etcdadm snapshot list' with the same --s3-* options lists them)", exitCode: 2 });
        throw e;
      }
    } catch (err) {
      throw this.fail(err, `GET ${url}`);
    }
    const head = headOf(res.headers);
    if (!want && head.metadata.sha256) want = { sha256: head.metadata.sha256, size: head.size, from: 'metadata' };
    if (!want) {
      res.destroy();
      throw new EtcdadmError(`${url} has neither a sidecar (${url}.json) nor an x-amz-meta-sha256 to check it against`, { hint: 'upload it with etcdadm snapshot save, or check it by hand and restore from a local file' });
    }
    const hash = createHash('sha256');
    let bytes = 0;
    let out: FileWriter | undefined;
    try {
      out = await this.host.writeStream(path, { mode: 0o600 });
      const sink = out.sink;
      res.setTimeout(this.c.idleTimeoutMs, () => res.destroy(Object.assign(new Error('no data for a while'), { code: 'ETIMEDOUT' })));
      for await (const chunk of res) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        if (!sink.write(chunk)) await new Promise<void>((resolve, reject) => {
          sink.once('drain', resolve);
          sink.once('error', reject);
        });
      }
      const got = hash.digest('hex');
      if (want.size !== undefined && bytes !== want.size) throw new EtcdadmError(`${url} is ${bytes} bytes, its ${want.from} says ${want.size}`, { hint: 'the object is incomplete or was replaced; use another snapshot', exitCode: 2 });
      if (got !== want.sha256) throw new EtcdadmError(`the SHA-256 of ${url} is not the one its ${want.from} names`, { hint: 'the object was changed or damaged; use another snapshot', exitCode: 2 });
      await out.commit();
      return { path, bytes, sha256: got, checkedAgainst: want.from };
    } catch (err) {
      await out?.abort();
      res.destroy();
      throw err instanceof EtcdadmError ? err : this.fail(err, `downloading ${url} to ${path}`);
    }
  }
}

/** A store on `loc`: the credentials and CA read, the bucket checked (it exists, and answers to the credentials). */
export async function openStore(loc: S3Location, options: StoreOptions = {}): Promise<S3Store> {
  const refused = s3TransportProblem(loc);
  if (refused) throw refused;
  const creds = await loadCredentials(loc, options.env ?? process.env);
  let ca: string | undefined;
  if (loc.caFile) {
    ca = await readOperatorFile(loc.caFile, 'S3 CA file', 'check --s3-ca-file');
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new EtcdadmError(`the S3 CA file ${loc.caFile} holds no PEM certificate`, { hint: 'give the CA certificate in PEM form', exitCode: 2 });
  }
  const client = new Client(loc, creds, ca, options.idleTimeoutMs ?? S3_DEFAULTS.idleTimeoutMs);
  try {
    await client.retried({ method: 'GET', query: { 'list-type': '2', 'max-keys': '1', prefix: loc.prefix } }, 2);
  } catch (err) {
    client.close();
    throw explain(err, loc, `access to bucket ${loc.bucket}`);
  }
  return new Store(client, options.partSize ?? S3_DEFAULTS.partSize, options.host ?? operatorHost());
}

/** Download `s3://bucket/key` (endpoint, region, CA and credentials from the --s3-* options) to `path`, checked. */
export async function downloadS3Url(url: string, opts: S3OptionValues, path: string, options: StoreOptions = {}): Promise<DownloadResult> {
  const { location, key } = parseS3Url(url, opts, options.env ?? process.env);
  const store = await openStore(location, options);
  try {
    return await store.download(key, path);
  } finally {
    store.close();
  }
}
