/**
 * A real S3 server for tests: versitygw through lab/s3-server.sh, each with its own data dir and PID file, on
 * 127.0.0.1 (a free port) or on a lab address inside a lab namespace. Stopped (or killed) by its own PID.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './lab.js';

export const S3_KEY = 'AKIAETCDADMTEST7Q3Z';
export const S3_SECRET = 'testsecret-0f3c9a7e51d2';

export interface S3ServerOptions {
  /** The served dir: a bucket is DIR/BUCKET. */
  dir: string;
  port: number;
  /** Where the PID file and the log go. */
  runDir: string;
  /** A lab namespace and its 10.88.0.x address (default: 127.0.0.1 on this machine). */
  netns?: string;
  listen?: string;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
}

export class S3Server {
  constructor(readonly opts: S3ServerOptions) {}

  get pidFile(): string {
    return join(this.opts.runDir, 's3-server.pid');
  }
  get endpoint(): string {
    return `${this.opts.tls ? 'https' : 'http'}://${this.opts.listen ?? '127.0.0.1'}:${this.opts.port}`;
  }
  get pid(): number {
    return Number(readFileSync(this.pidFile, 'utf8').trim());
  }

  private script(args: string[]): void {
    execFileSync('bash', [join(REPO, 'lab/s3-server.sh'), ...args], {
      env: {
        ...process.env,
        S3_PID_FILE: this.pidFile,
        S3_ACCESS_KEY: S3_KEY,
        S3_SECRET_KEY: S3_SECRET,
        ...(this.opts.netns ? { S3_NETNS: this.opts.netns, S3_LISTEN: this.opts.listen ?? '' } : {}),
        ...(this.opts.tls ? { S3_TLS_CERT: this.opts.tls.cert, S3_TLS_KEY: this.opts.tls.key } : {}),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  static start(opts: S3ServerOptions): S3Server {
    const s = new S3Server(opts);
    s.start();
    return s;
  }

  start(): void {
    this.script(['start', this.opts.dir, String(this.opts.port)]);
  }

  /** SIGTERM by PID, waiting for it to exit (the script checks that the PID is versitygw). */
  stop(): void {
    this.script(['stop']);
  }

  /** SIGKILL by PID, at once: the server dies mid-request. */
  kill(): void {
    const pid = this.pid;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      execFileSync('sleep', ['0.05']);
    }
  }

  /** Create a bucket through the gateway (the lab bridge's 10.88.0.254 reaches a lab address too). */
  mkBucket(name: string): void {
    execFileSync(
      'curl',
      ['-sf', '-o', '/dev/null', '-X', 'PUT', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${S3_KEY}:${S3_SECRET}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', `${this.endpoint}/${name}`],
    );
  }
}
