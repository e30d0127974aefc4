/**
 * Running a program on this machine with a deadline: on expiry it is killed (SIGKILL) and the call fails naming it.
 * The output is capped (the last 1 MiB of each stream is kept: a chatty program cannot fill etcdadm's memory). The
 * default environment is etcdadm's own without AWS_* (S3 credentials never reach a child process by accident).
 */
import { spawn } from 'node:child_process';
import { EtcdadmError } from '../errors.js';
import { DEFAULT_EXEC_TIMEOUT_MS, type ExecOptions, type ExecResult } from './host.js';

const OUTPUT_CAP = 1 << 20;

/** etcdadm's environment without the variables that carry credentials. */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^AWS_/.test(k)));
}

class Capped {
  private parts: string[] = [];
  private len = 0;
  add(d: Buffer): void {
    this.parts.push(d.toString());
    this.len += d.length;
    while (this.len > OUTPUT_CAP && this.parts.length > 1) this.len -= this.parts.shift()!.length;
  }
  text(): string {
    const t = this.parts.join('');
    return t.length > OUTPUT_CAP ? t.slice(-OUTPUT_CAP) : t;
  }
}

/** Run `cmd args`; resolves with the exit code and output (a non-zero exit is not an exception). */
export function execFile(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // stdin is a pipe only when there is input: writing to a program that exited without reading it raises EPIPE
    const child = spawn(cmd, args, { env: { ...childEnv(), ...opts.env }, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const stdout = new Capped();
    const stderr = new Capped();
    child.stdout!.on('data', (d: Buffer) => stdout.add(d));
    child.stderr!.on('data', (d: Buffer) => stderr.add(d));
    const ms = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new EtcdadmError(`${[cmd, ...args].join(' ')} did not finish within ${ms} ms`, { hint: 'the program hangs; check it by hand' }));
    }, ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new EtcdadmError(`cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: stdout.text(), stderr: stderr.text() });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // the program may exit before reading all of it; its exit code tells
      child.stdin.end(opts.input);
    }
  });
}
