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
