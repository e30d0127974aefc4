/** What every command action needs: the logger built from the global flags, and the error boundary. */
import { EtcdadmError, causeChain, describe, systemError } from '../errors.js';
import { LOG_FORMATS, LOG_LEVELS, Logger, type LogFormat, type LogLevel } from '../log/logger.js';

export interface GlobalFlags {
  logLevel?: string;
  logFormat?: string;
}

export function loggerFrom(g: GlobalFlags): Logger {
  const level = (g.logLevel ?? 'info') as LogLevel;
  const format = (g.logFormat ?? 'text') as LogFormat;
  if (!LOG_LEVELS.includes(level)) throw new EtcdadmError(`invalid --log-level "${g.logLevel}": must be one of ${LOG_LEVELS.join(', ')}`, { exitCode: 2 });
  if (!LOG_FORMATS.includes(format)) throw new EtcdadmError(`invalid --log-format "${g.logFormat}": must be text or json`, { exitCode: 2 });
  return new Logger(level, format);
}

export const stdout = (line: string): void => void process.stdout.write(line + '\n');

/** Print a failure as one line (plus the cause chain at debug level) and set the exit code. */
export function reportFailure(err: unknown, log: Logger): number {
  err = systemError(err) ?? err;
  if (err instanceof EtcdadmError) {
    log.error(err.oneLine());
    if (log.enabled('debug')) for (const c of causeChain(err).slice(1)) log.debug(`caused by: ${c}`);
    return err.exitCode;
  }
  log.error(`unexpected error: ${describe(err)}`);
  if (log.enabled('debug') && err instanceof Error && err.stack) log.debug(err.stack);
  return 1;
}
