/**
 * Reading release files from http(s):// (Node's built-in fetch) or file:// URLs, with failures turned into one-line
 * EtcdadmErrors that name the URL and the cause.
 */
import { fileURLToPath } from 'node:url';
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from '../host/host.js';
import { displayUrl } from './spec.js';

export { displayUrl };

/** A body being received. `size` is the announced length, when known. */
export interface OpenedUrl {
  body: AsyncIterable<Uint8Array>;
  size: number | undefined;
  /** Stop receiving (closes the connection or file). */
  cancel(): Promise<void>;
}

/** A body stalled this long after the headers arrived is abandoned (never shorter than the connect timeout). */
export const BODY_STALL_TIMEOUT_MS = 60_000;

const REACH_HINT = 'Check --release-url and the network (a file:// release URL works on offline hosts)';

class HeadersTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no response within ${formatSeconds(ms)}`);
  }
}

class BodyStalled extends Error {
  constructor(readonly ms: number) {
    super(`no data received for ${formatSeconds(ms)}`);
  }
}

/** "10s", "0.3s", "1.5s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}


function isFileUrl(url: string): boolean {
  return /^file:/i.test(url);
}

function filePath(url: string): string {
  try {
    return fileURLToPath(new URL(url));
  } catch (err) {
    throw new EtcdadmError(`Invalid file URL ${url}: ${describe(err)}`, {
      hint: 'Use file:///absolute/path/to/the/release/directory',
      cause: err,
    });
  }
}

/**
 * Open `url` for reading. Resolves to undefined when the server says 404/410 (or the file does not exist).
 * The timeout covers connecting and receiving the response headers only: the request is aborted when the headers have
 * not arrived within `connectTimeoutMs`. The body may then take as long as it needs, as long as data keeps coming
 * (a body silent for BODY_STALL_TIMEOUT_MS is abandoned).
 */
export async function openUrl(host: Host, url: string, connectTimeoutMs: number): Promise<OpenedUrl | undefined> {
  if (isFileUrl(url)) return openFile(host, url);
  const ctl = new AbortController();
  // Connect timeout: abort if the response headers have not arrived within connectTimeoutMs.
  const timer = setTimeout(() => ctl.abort(new HeadersTimeout(connectTimeoutMs)), connectTimeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal: ctl.signal, redirect: 'follow' });
  } catch (err) {
    throw unreachable(url, ctl.signal.reason ?? err, err);
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new EtcdadmError(`Cannot download ${displayUrl(url)}: HTTP ${res.status} ${res.statusText}`.trimEnd(), {
      hint: REACH_HINT,
    });
  }
  const length = Number(res.headers.get('content-length') ?? NaN);
  const reader = res.body.getReader();
  const stallMs = Math.max(BODY_STALL_TIMEOUT_MS, connectTimeoutMs);
  let finished = false;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const stall = setTimeout(() => ctl.abort(new BodyStalled(stallMs)), stallMs);
    try {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (err) {
          throw new EtcdadmError(`Download of ${displayUrl(url)} failed: ${describe(innermost(ctl.signal.reason ?? err))}`, {
            hint: REACH_HINT,
            cause: err,
          });
        }
        if (r.done) {
          finished = true;
          return;
        }
        stall.refresh();
        yield r.value;
      }
    } finally {
      clearTimeout(stall);
      if (!finished) await reader.cancel().catch(() => undefined);
    }
  }
  return {
    body: chunks(),
    size: Number.isFinite(length) && length >= 0 ? length : undefined,
    cancel: async () => {
      finished = true;
      await reader.cancel().catch(() => undefined);
    },
  };
}

async function openFile(host: Host, url: string): Promise<OpenedUrl | undefined> {
  const path = filePath(url);
  let size: number;
  try {
    const real = await host.realpath(path);
    const st = real ? await host.stat(real) : undefined;
    if (!st) return undefined;
    if (st.kind !== 'file') throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
    size = st.size;
  } catch (err) {
    throw new EtcdadmError(`Cannot read ${path}: ${describe(err)}`, { hint: 'Check --release-url', cause: err });
  }
  let cancelled = false;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const c of host.readStream(path)) {
        if (cancelled) return;
        yield c;
      }
    } catch (err) {
      throw new EtcdadmError(`Cannot read ${path}: ${describe(err)}`, { hint: 'Check --release-url', cause: err });
    }
  }
  return {
    body: chunks(),
    size,
    cancel: async () => void (cancelled = true),
  };
}

/** The text at `url` (at most `maxBytes`), or undefined on 404 / a missing file. */
export async function fetchText(host: Host, url: string, connectTimeoutMs: number, maxBytes = 1 << 20): Promise<string | undefined> {
  if (isFileUrl(url)) {
    const path = filePath(url);
    try {
      return await host.read(path);
    } catch (err) {
      throw new EtcdadmError(`Cannot read ${path}: ${describe(err)}`, { hint: 'Check --release-url', cause: err });
    }
  }
  const opened = await openUrl(host, url, connectTimeoutMs);
  if (!opened) return undefined;
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const c of opened.body) {
    total += c.length;
    if (total > maxBytes) {
      await opened.cancel();
      throw new EtcdadmError(`${displayUrl(url)} is larger than ${maxBytes} bytes`, {
        hint: 'It is not a checksum file; check --release-url',
      });
    }
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The innermost cause of a fetch failure (undici wraps the socket error in TypeError("fetch failed")). */
function innermost(err: unknown): unknown {
  let cur = err;
  for (let i = 0; i < 10; i++) {
    if (cur instanceof AggregateError && cur.errors.length > 0) {
      cur = cur.errors[0];
      continue;
    }
    const next = cur instanceof Error ? cur.cause : undefined;
    if (next === undefined || next === null) return cur;
    cur = next;
  }
  return cur;
}

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  ENOTFOUND: 'host name not found (DNS)',
  EAI_AGAIN: 'host name lookup failed (DNS)',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the server',
};

function unreachable(url: string, reason: unknown, err: unknown): EtcdadmError {
  if (reason instanceof HeadersTimeout) {
    return new EtcdadmError(`Cannot download ${displayUrl(url)}: ${reason.message}`, {
      hint: 'The server accepted the connection but did not answer; check --release-url or raise the connect timeout',
      cause: err,
    });
  }
  const inner = innermost(reason);
  const code = (inner as NodeJS.ErrnoException | undefined)?.code;
  let cause = (code && CAUSES[code] ? `${CAUSES[code]} (${code})` : undefined) ?? describe(inner);
  if (cause === 'bad port') cause = "the port is on fetch's list of blocked ports; serve the release on another port";
  return new EtcdadmError(`Cannot reach ${displayUrl(url)}: ${cause}`, { hint: REACH_HINT, cause: err });
}
