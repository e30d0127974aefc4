/**
 * The protocol between SshHost (ssh.ts, on the operator's machine) and `etcdadm host-agent` (agent.ts, on the
 * managed host), over the stdin and stdout of one ssh session. Pure: no I/O here.
 *
 * One JSON object per line ("JSON lines"), UTF-8:
 * - the agent opens with a hello: `{"id":0,"ok":true,"v":{"protocol":1,"pid":…,"uid":…,"privileged":…}}`;
 * - a request: `{"id":N,"m":"<method>","a":[…arguments]}`, N > 0, chosen by the client, unique among those in flight;
 * - its answer: `{"id":N,"ok":true,"v":<value>}` or `{"id":N,"ok":false,"e":{message, name, code, path, …}}`.
 * Requests run concurrently on the agent and are answered in any order, except that the agent starts each one in
 * the order it arrived (the chunks of one stream are written in order). Bytes travel as `{"$b":"<base64>"}`,
 * `undefined` inside an array as `{"$u":1}`; an object whose own keys would read as one of those is wrapped as
 * `{"$o":{…}}`. Errors carry Node's `code`, `syscall`, `path` and `dest` (so `ENOENT` stays `ENOENT` and
 * errors.ts's systemError still reads them) and EtcdadmError's hint and exit code, and come back as the same type.
 */
import { EtcdadmError } from '../errors.js';

export const PROTOCOL_VERSION = 1;

/** The methods the agent answers; their arguments and values are those of the Host method of the same name unless said. */
export const METHODS = [
  'facts',
  'read',
  'readBytes',
  'readRange',
  'write',
  'exists',
  'stat',
  'list',
  'mkdir',
  'mkdtemp',
  'remove',
  'removeTree',
  'rename',
  'chmod',
  'chown',
  'chownTree',
  'symlink',
  'readlink',
  'realpath',
  'writeProblem',
  'freeBytes',
  'treeBytes',
  'copyTree',
  'exec',
  'lookupUser',
  'portInUse',
  'etcdadmCommand',
  /** (path, command) → a lock handle (number), held until `unlock`, or until the agent exits. */
  'lock',
  /** (handle) */
  'unlock',
  /** (path, range?) → a read handle; `readNext(handle)` → the next chunk, or null at the end; `readClose(handle)`. */
  'readOpen',
  'readNext',
  'readClose',
  /** (path, opts) → { handle, tempPath }; `writeChunk(handle, bytes)`; `writeCommit(handle)` → bytes; `writeAbort(handle)`. */
  'writeOpen',
  'writeChunk',
  'writeCommit',
  'writeAbort',
  /** (archive) → every entry of a .tar.gz, as the extraction filter would see it. */
  'archiveEntries',
  /** (archive, dest, strip, refused: [entry, reason][]) → the reasons: refused are the listed ones, and any entry not listed. */
  'extract',
] as const;

export type Method = (typeof METHODS)[number];

export interface Request {
  id: number;
  m: Method;
  a: unknown[];
}

export interface WireError {
  message: string;
  name?: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
  hint?: string;
  exitCode?: number;
}

export type Response = { id: number; ok: true; v?: unknown } | { id: number; ok: false; e: WireError };

export interface Hello {
  protocol: number;
  pid: number;
  uid: number;
  privileged: boolean;
}

const isPlain = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const RESERVED = new Set(['$b', '$u', '$o']);

/** A value as JSON can carry it: bytes as base64, undefined in arrays kept. */
export function toWire(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? { $u: 1 } : toWire(x)));
  if (v !== null && typeof v === 'object') {
    if (!isPlain(v)) throw new TypeError(`cannot send a ${v.constructor?.name ?? 'object'} to the host agent`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toWire(x);
    return Object.keys(out).some((k) => RESERVED.has(k)) ? { $o: out } : out;
  }
  if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') throw new TypeError(`cannot send a ${typeof v} to the host agent`);
  return v;
}

/** The inverse of toWire. Bytes come back as Buffers (Uint8Arrays). */
export function fromWire(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromWire);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      if (typeof o.$b === 'string') return Buffer.from(o.$b, 'base64');
      if (o.$u === 1) return undefined;
      if (o.$o !== null && typeof o.$o === 'object' && !Array.isArray(o.$o)) return Object.fromEntries(Object.entries(o.$o).map(([k, x]) => [k, fromWire(x)]));
    }
    return Object.fromEntries(keys.map((k) => [k, fromWire(o[k])]));
  }
  return v;
}

/** One message as its line (newline included). */
export function encodeMessage(msg: Request | Response): string {
  if ('m' in msg) return `${JSON.stringify({ id: msg.id, m: msg.m, a: toWire(msg.a) })}\n`;
  if (msg.ok) return `${JSON.stringify(msg.v === undefined ? { id: msg.id, ok: true } : { id: msg.id, ok: true, v: toWire(msg.v) })}\n`;
  return `${JSON.stringify({ id: msg.id, ok: false, e: msg.e })}\n`;
}

const METHOD_SET: ReadonlySet<string> = new Set(METHODS);

function protocolError(what: string): Error {
  return new Error(`host agent protocol: ${what}`);
}

/** A request line, checked: an integer id, a known method, an argument array. */
export function decodeRequest(line: string): Request {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw protocolError(`not JSON: ${line.slice(0, 80)}`);
  }
  const r = raw as Partial<Request>;
  if (!r || typeof r !== 'object' || !Number.isSafeInteger(r.id) || (r.id as number) <= 0) throw protocolError('a request without a positive integer id');
  if (typeof r.m !== 'string' || !METHOD_SET.has(r.m)) throw protocolError(`unknown method ${JSON.stringify(r.m)}`);
  if (!Array.isArray(r.a)) throw protocolError(`${r.m}: arguments are not an array`);
  return { id: r.id as number, m: r.m as Method, a: fromWire(r.a) as unknown[] };
}

/** An answer line, checked. */
export function decodeResponse(line: string): Response {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw protocolError(`not JSON: ${line.slice(0, 80)}`);
  }
  const r = raw as Record<string, unknown>;
  if (!r || typeof r !== 'object' || !Number.isSafeInteger(r.id) || typeof r.ok !== 'boolean') throw protocolError(`not an answer: ${line.slice(0, 80)}`);
  if (r.ok) return { id: r.id as number, ok: true, v: fromWire(r.v) };
  const e = r.e as WireError | undefined;
  if (!e || typeof e.message !== 'string') throw protocolError(`an error answer without a message: ${line.slice(0, 80)}`);
  return { id: r.id as number, ok: false, e };
}

/** A thrown value as it travels: its message, type and the fields callers look at. */
export function errorToWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const out: WireError = { message: err.message, name: err.name };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.errno === 'number') out.errno = e.errno;
  if (typeof e.syscall === 'string') out.syscall = e.syscall;
  if (typeof e.path === 'string') out.path = e.path;
  if (typeof e.dest === 'string') out.dest = e.dest;
  if (err instanceof EtcdadmError) {
    if (err.hint) out.hint = err.hint;
    out.exitCode = err.exitCode;
  }
  return out;
}

/** The error again, on this side: an EtcdadmError stays one; a system error keeps code, syscall, path and dest. */
export function errorFromWire(w: WireError): Error {
  if (w.name === 'EtcdadmError') return new EtcdadmError(w.message, { ...(w.hint ? { hint: w.hint } : {}), ...(w.exitCode !== undefined ? { exitCode: w.exitCode } : {}) });
  const err = new Error(w.message) as NodeJS.ErrnoException & { dest?: string };
  if (w.name && w.name !== 'Error') err.name = w.name;
  if (w.code !== undefined) err.code = w.code;
  if (w.errno !== undefined) err.errno = w.errno;
  if (w.syscall !== undefined) err.syscall = w.syscall;
  if (w.path !== undefined) err.path = w.path;
  if (w.dest !== undefined) err.dest = w.dest;
  return err;
}

/**
 * Lines out of a byte stream: feed chunks, get the complete lines (without the newline) so far. A line longer than
 * `maxLine` bytes is a protocol error (a peer that is not the agent must not make this side buffer without end).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private held = 0;

  constructor(private readonly maxLine = 256 << 20) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      lines.push(this.parts.length ? Buffer.concat([...this.parts, piece]).toString('utf8') : piece.toString('utf8'));
      this.parts = [];
      this.held = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.parts.push(chunk.subarray(start));
      this.held += chunk.length - start;
      if (this.held > this.maxLine) throw protocolError(`a line longer than ${this.maxLine} bytes`);
    }
    return lines;
  }

  /** Bytes after the last newline (a peer that stopped mid-line). */
  get pending(): number {
    return this.held;
  }
}
