/**
 * Logging in kubeadm's shape: `[phase] message` for humans (with time and level), one JSON object per line with
 * `--log-format json` for machines. Logs go to stderr; command results go to stdout.
 * A Logger is immutable: `withPhase` returns a new one.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LABEL: Record<LogLevel, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' };

export interface LogSink {
  write(line: string): void;
  /** True when the sink is an interactive terminal (progress is shown only there). */
  readonly isTTY: boolean;
}

export const stderrSink: LogSink = {
  write: (line) => void process.stderr.write(line),
  get isTTY() {
    return process.stderr.isTTY === true;
  },
};

export type Fields = Record<string, string | number | boolean | undefined>;

export class Logger {
  constructor(
    readonly level: LogLevel = 'info',
    readonly format: LogFormat = 'text',
    private readonly sink: LogSink = stderrSink,
    readonly phase?: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  withPhase(phase: string): Logger {
    return new Logger(this.level, this.format, this.sink, phase, this.now);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(msg: string, fields?: Fields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.log('error', msg, fields);
  }

  log(level: LogLevel, msg: string, fields?: Fields): void {
    if (!this.enabled(level)) return;
    const time = this.now();
    if (this.format === 'json') {
      const obj: Record<string, unknown> = { time: time.toISOString(), level };
      if (this.phase) obj.phase = this.phase;
      obj.msg = msg;
      for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) obj[k] = v;
      this.sink.write(JSON.stringify(obj) + '\n');
      return;
    }
    const ts = time.toISOString().replace('T', ' ').replace('Z', '');
    const extra = Object.entries(fields ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`)
      .join('');
    this.sink.write(`${ts} ${LABEL[level]} ${this.phase ? `[${this.phase}] ` : ''}${msg}${extra}\n`);
  }

  /**
   * Progress of long work (downloads). On a TTY in text format it redraws one line; elsewhere it logs at debug level
   * every 25% so that logs stay readable.
   */
  progress(label: string): Progress {
    return new Progress(this, label, this.sink);
  }
}

export class Progress {
  private lastQuarter = -1;
  private drawn = false;
  constructor(
    private readonly logger: Logger,
    private readonly label: string,
    private readonly sink: LogSink,
  ) {}

  update(done: number, total: number | undefined): void {
    const tty = this.sink.isTTY && this.logger.format === 'text' && this.logger.enabled('info');
    if (tty) {
      const pct = total ? ` ${Math.floor((done / total) * 100)}%` : '';
      const size = `${(done / 1048576).toFixed(1)}${total ? `/${(total / 1048576).toFixed(1)}` : ''} MiB`;
      this.sink.write(`\r${this.logger.phase ? `[${this.logger.phase}] ` : ''}${this.label}: ${size}${pct}\x1b[K`);
      this.drawn = true;
      return;
    }
    if (!total) return;
    const quarter = Math.floor((done / total) * 4);
    if (quarter !== this.lastQuarter) {
      this.lastQuarter = quarter;
      this.logger.debug(`${this.label}: ${quarter * 25}%`, { bytes: done, total });
    }
  }

  done(): void {
    if (this.drawn) this.sink.write('\r\x1b[K');
  }
}
