/**
 * S3 credentials, from a file only root can read or from the standard AWS environment variables; never from the
 * command line, and never logged (S3Credentials has no field a log line prints; errors name the file, not values).
 *
 * Exported interface:
 *   parseCredentials(text, file): S3Credentials     the file format (pure)
 *   credentialsFromEnv(env): S3Credentials | undefined
 *   loadCredentials(location, env?): Promise<S3Credentials>
 *                                                    the file when --s3-credentials-file is given (refused unless
 *                                                    group and others have no access), else the environment
 *
 * The file: one `NAME=value` a line, `#` comments and blank lines ignored, names case-insensitive, spaces around `=`
 * allowed, so an AWS shared-credentials file with a single `[default]` profile is read as well:
 *   AWS_ACCESS_KEY_ID=AKIA...
 *   AWS_SECRET_ACCESS_KEY=...
 *   AWS_SESSION_TOKEN=...        (optional)
 */
import { EtcdadmError } from '../errors.js';
import { operatorHost } from '../host/operator.js';
import type { S3Location } from './location.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const NAMES: Record<string, keyof S3Credentials> = {
  aws_access_key_id: 'accessKeyId',
  aws_secret_access_key: 'secretAccessKey',
  aws_session_token: 'sessionToken',
};

const invalid = (file: string, why: string): EtcdadmError =>
  new EtcdadmError(`invalid S3 credentials file ${file}: ${why}`, {
    hint: 'write AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=... (and AWS_SESSION_TOKEN=...) lines, mode 0600',
    exitCode: 2,
  });

/** The credentials in a file's text; errors name the line number, never a value. */
export function parseCredentials(text: string, file: string): S3Credentials {
  const got: Partial<Record<keyof S3Credentials, string>> = {};
  let sections = 0;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (/^\[[^\]]*\]$/.test(line)) {
      if (++sections > 1) throw invalid(file, `line ${i + 1}: a second [profile]; keep one set of credentials in the file`);
      continue;
    }
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw invalid(file, `line ${i + 1} is not NAME=value`);
    const field = NAMES[m[1]!.toLowerCase()];
    if (!field) continue; // other settings of a shared-credentials file (region, output, ...)
    let value = m[2]!.trim();
    if (/^(["']).*\1$/.test(value) && value.length >= 2) value = value.slice(1, -1);
    if (!value) throw invalid(file, `line ${i + 1}: ${m[1]!.toUpperCase()} is empty`);
    if (got[field] !== undefined) throw invalid(file, `line ${i + 1}: ${m[1]!.toUpperCase()} a second time`);
    got[field] = value;
  }
  if (!got.accessKeyId) throw invalid(file, 'no AWS_ACCESS_KEY_ID');
  if (!got.secretAccessKey) throw invalid(file, 'no AWS_SECRET_ACCESS_KEY');
  return { accessKeyId: got.accessKeyId, secretAccessKey: got.secretAccessKey, ...(got.sessionToken ? { sessionToken: got.sessionToken } : {}) };
}

/** AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); undefined when neither is set. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): S3Credentials | undefined {
  const id = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  if (!id && !secret) return undefined;
  if (!id || !secret)
    throw new EtcdadmError(`${id ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is not set, but ${id ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is`, {
      hint: 'set both, or use --s3-credentials-file',
      exitCode: 2,
    });
  return { accessKeyId: id, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

/** The credentials for `loc`: its file (only if group and others cannot read it), else the environment. */
export async function loadCredentials(loc: Pick<S3Location, 'credentialsFile'>, env: NodeJS.ProcessEnv = process.env): Promise<S3Credentials> {
  const file = loc.credentialsFile;
  if (file === undefined) {
    const c = credentialsFromEnv(env);
    if (!c)
      throw new EtcdadmError('no S3 credentials: neither --s3-credentials-file nor AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY is given', {
        hint: 'write them to a 0600 file and pass --s3-credentials-file, or export the AWS_* variables',
        exitCode: 2,
      });
    return c;
  }
  const host = operatorHost();
  const unreadable = (why: string) =>
    new EtcdadmError(`cannot read the S3 credentials file ${file}: ${why}`, { hint: 'check --s3-credentials-file (run as root)', exitCode: 2 });
  let real: string | undefined;
  try {
    real = await host.realpath(file);
  } catch (err) {
    throw unreadable((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  if (!real) throw unreadable('ENOENT');
  const st = await host.stat(real);
  if (st?.kind !== 'file') throw invalid(file, 'not a regular file');
  if (st.uid !== 0 && st.uid !== (process.getuid?.() ?? 0))
    throw new EtcdadmError(`the S3 credentials file ${file} belongs to uid ${st.uid}, not to root or to this user: another user could have written it`, {
      hint: `make it yours (chown root ${file}) and check what it holds`,
      exitCode: 2,
    });
  if ((st.mode & 0o077) !== 0)
    throw new EtcdadmError(`the S3 credentials file ${file} is mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: group or others may read it`, {
      hint: `make it private (chmod 600 ${file}) and rotate the keys if others could read them`,
      exitCode: 2,
    });
  let text: string | undefined;
  try {
    text = await host.read(real);
  } catch (err) {
    throw unreadable((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  return parseCredentials(text ?? '', file);
}
