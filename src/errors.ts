/**
 * The one error type of etcdadm. Every failure the operator sees is one of these, printed on one line:
 * what failed, where (file, URL, member), and what to do about it. `-l debug` adds the cause chain.
 */
export interface ErrorDetails {
  /** What the operator can do about it, one sentence. */
  hint?: string;
  /** The underlying error, shown only at debug level. */
  cause?: unknown;
  /** Process exit code; 1 unless a command documents others. */
  exitCode?: number;
}

export class EtcdadmError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'EtcdadmError';
    this.hint = details.hint;
    this.exitCode = details.exitCode ?? 1;
  }

  /** The single line printed for this error. */
  oneLine(): string {
    const hint = this.hint ? this.hint.charAt(0).toUpperCase() + this.hint.slice(1) : '';
    const text = hint ? `${this.message.replace(/\.$/, '')}. ${hint}` : this.message;
    return text.replace(/\s*\n\s*/g, ' ');
  }
}

/** A short description of any thrown value, for cause chains and wrapped messages. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** The cause chain of an error, outermost first, for debug output. */
export function causeChain(err: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && depth < 10; depth++) {
    out.push(describe(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return out;
}

/** What to do about a failed system call, by its error code. */
const SYSTEM_HINTS: Record<string, string> = {
  EACCES: 'run etcdadm as root, and check the permissions of that path',
  EPERM: 'run etcdadm as root; the path may be immutable or on a filesystem that forbids this',
  ENOSPC: 'free space on that filesystem, then run the command again',
  EDQUOT: 'free space (a disk quota is exhausted), then run the command again',
  EROFS: 'that filesystem is read-only: remount it read-write or choose another directory',
  EBUSY: 'it is in use (a mount point, or held open): unmount it or stop what holds it, or choose another directory',
  EXDEV: 'the two paths are on different filesystems: choose directories on the same one',
  ENOTDIR: 'a part of that path is a file, not a directory: fix the path',
  EISDIR: 'that path is a directory where a file belongs: fix the path',
  ENOENT: 'a directory on that path does not exist: check the path',
  EEXIST: 'something already exists there: move it away or choose another path',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and run the command again',
};

/**
 * A failed system call (Node's errors carry code, syscall, path, dest) as the one-line error etcdadm prints: what
 * failed, on which path, and what to do. Undefined for anything else.
 */
export function systemError(err: unknown): EtcdadmError | undefined {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string') return undefined;
  const where = e.path ? ` ${e.path}${e.dest ? ` to ${e.dest}` : ''}` : '';
  const why = e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '');
  return new EtcdadmError(`${e.syscall}${where} failed: ${why}`, { hint: SYSTEM_HINTS[e.code] ?? 'check that path and run the command again', cause: err });
}
