/** Running a program and getting its result; failures carry the command line and its output. */
import { spawn } from 'node:child_process';
import { EtcdadmError } from '../errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Run `cmd args`; resolves with the exit code and output (a non-zero exit is not an exception). */
export function execFile(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // stdin is a pipe only when there is input: writing to a program that exited without reading it raises EPIPE
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          child.kill('SIGKILL');
          reject(new EtcdadmError(`${[cmd, ...args].join(' ')} did not finish within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new EtcdadmError(`cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // the program may exit before reading all of it; its exit code tells
      child.stdin.end(opts.input);
    }
  });
}

/** Run and require exit 0; the error names the command and quotes its last line of output. */
export async function execChecked(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await execFile(cmd, args, opts);
  if (r.code !== 0) {
    const last = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? '';
    throw new EtcdadmError(`${[cmd, ...args].join(' ')} failed with exit code ${r.code}${last ? `: ${last}` : ''}`);
  }
  return r;
}
