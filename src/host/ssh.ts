/**
 * Another machine as a Host, over SSH: an RPC client of `etcdadm host-agent` (agent.ts) running there. The agent is
 * started once per host over the master connection of ssh-transport.ts (OpenSSH's client: the operator's ssh_config,
 * agent, keys and known_hosts), as root or under `sudo -n`; every Host method is one request to it (the protocol:
 * ssh-rpc.ts), done there by that machine's own LocalHost — so the contract's promises (atomic writes, modes,
 * symlinks never followed, the lock, exec deadlines) are kept by the same code as on a local host. Streams travel in
 * chunks: reads pulled one chunk ahead, writes with at most 8 MiB unanswered. A lock is held by the agent until
 * released (or until the agent is gone: its holder is then dead, and the next lock takes it over).
 *
 * The remote host needs only sshd, root or passwordless sudo, and the etcdadm executable (`agentCommand`).
 */
import { Writable } from 'node:stream';
import type { HostFacts } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Account, ExecOptions, ExecResult, ExtractOptions, FileInfo, FileWriter, Host, HostLock, WriteOptions } from './host.js';
import { DEFAULT_EXEC_TIMEOUT_MS } from './host.js';
import { decodeResponse, encodeMessage, errorFromWire, LineSplitter, PROTOCOL_VERSION, type Hello, type Method } from './ssh-rpc.js';
import { sshFailure, SshTransport, targetLabel, type SshTarget } from './ssh-transport.js';
import { ensureServiceAccount } from './user.js';
import { uploadFile } from './ssh-install.js';

export interface SshHostOptions extends SshTarget {
  /** The host's name in messages and in `Host.name`; default the address. */
  name?: string;
  /** The command line that starts etcdadm on the host (`host-agent` is appended): e.g. ['/usr/local/bin/etcdadm']. */
  agentCommand: string[];
  /** Each line the agent (or sudo, or ssh) writes to stderr; default: dropped. */
  onStderr?: (line: string) => void;
  /** The ssh client; default `ssh` on PATH. */
  ssh?: string;
  /** How long connecting and starting the agent may take; default 60 s. */
  connectTimeoutMs?: number;
  /**
   * Run over the master connection before the agent starts (apply puts the etcdadm executable there first); what it
   * answers is kept as `prepared`. Throwing stops the connect.
   */
  beforeAgent?: (t: SshTransport, sudo: boolean) => Promise<unknown>;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** Bytes a stream write may have sent before it waits for the agent to take them. */
const WRITE_WINDOW = 8 << 20;

export class SshHost implements Host {
  /** The host as messages name it: the address until apply learns its member name. */
  name: string;
  private readonly transport: SshTransport;
  private agent: ReturnType<SshTransport['spawn']> | undefined;
  private hello: Hello | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Why the agent is gone (every later request fails with it). */
  private gone: Error | undefined;
  private stderrTail: string[] = [];
  private uid = -1;
  private sudo = false;
  /** What `beforeAgent` answered. */
  prepared: unknown;

  private constructor(private readonly opts: SshHostOptions) {
    this.name = opts.name ?? opts.address;
    this.transport = new SshTransport(opts, opts.ssh);
  }

  /** Connect (the master connection), start the agent and wait for its hello. */
  static async connect(opts: SshHostOptions): Promise<SshHost> {
    const h = new SshHost(opts);
    try {
      await h.start();
    } catch (err) {
      await h.close();
      throw err;
    }
    return h;
  }

  /** The agent's process ID on the host. */
  get agentPid(): number {
    return this.hello?.pid ?? 0;
  }

  /** Whether commands run under `sudo -n` there. */
  get usesSudo(): boolean {
    return this.sudo;
  }

  /** The login's uid on the host (before sudo). */
  get loginUid(): number {
    return this.uid;
  }

  private async start(): Promise<void> {
    const deadline = this.opts.connectTimeoutMs ?? 60_000;
    const t0 = Date.now();
    this.uid = await this.transport.start(deadline);
    this.sudo = this.opts.sudo ?? this.uid !== 0;
    if (this.opts.beforeAgent) this.prepared = await this.opts.beforeAgent(this.transport, this.sudo);
    const child = this.transport.spawn([...this.opts.agentCommand, 'host-agent'], this.sudo);
    this.agent = child;
    child.stdin.on('error', () => undefined); // a dead agent: reported by 'exit'
    let stderrPart = '';
    child.stderr.on('data', (d: Buffer) => {
      stderrPart += d.toString();
      const lines = stderrPart.split('\n');
      stderrPart = lines.pop() ?? '';
      for (const l of lines) {
        this.stderrTail.push(l);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        this.opts.onStderr?.(l);
      }
    });
    const splitter = new LineSplitter();
    const helloWait = new Promise<Hello>((resolve, reject) => {
      this.pending.set(0, { resolve: (v) => resolve(v as Hello), reject });
    });
    child.stdout.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const line of lines) {
        if (!line) continue;
        let res;
        try {
          res = decodeResponse(line);
        } catch (err) {
          this.fail(new EtcdadmError(`the etcdadm agent on ${this.name} answered something else than the protocol: ${line.slice(0, 120)}`, { hint: `check that ${this.opts.agentCommand.join(' ')} runs this version of etcdadm`, cause: err }));
          return;
        }
        const p = this.pending.get(res.id);
        if (!p) continue;
        this.pending.delete(res.id);
        if (res.ok) p.resolve(res.v);
        else p.reject(errorFromWire(res.e));
      }
    });
    child.on('exit', (code, signal) => {
      // the stderr that is still in the pipe arrives before 'close'
      child.once('close', () => {
        if (stderrPart) this.stderrTail.push(stderrPart);
        this.fail(this.exitError(code, signal));
      });
    });
    child.on('error', (err) => this.fail(new EtcdadmError(`cannot run ssh: ${err.message}`, { hint: 'install the OpenSSH client (openssh-client)', cause: err })));
    const left = Math.max(1000, deadline - (Date.now() - t0));
    let timer: NodeJS.Timeout | undefined;
    const hello = await Promise.race([
      helloWait,
      new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new EtcdadmError(`the etcdadm agent on ${this.name} did not start within ${deadline} ms`, { hint: `run ${this.opts.agentCommand.join(' ')} version there by hand` })), left);
      }),
    ]).finally(() => clearTimeout(timer));
    if (hello.protocol !== PROTOCOL_VERSION)
      throw new EtcdadmError(`the etcdadm on ${this.name} speaks agent protocol ${hello.protocol}, this one ${PROTOCOL_VERSION}`, { hint: 'install the same etcdadm version there' });
    this.hello = hello;
  }

  /** Why the agent ended, from its exit and what it (or sudo, or ssh) said. */
  private exitError(code: number | null, signal: NodeJS.Signals | null): Error {
    const said = this.stderrTail.join('\n');
    const last = this.stderrTail.map((l) => l.trim()).filter(Boolean).pop();
    const cmd = this.opts.agentCommand.join(' ');
    if (this.hello) {
      // ssh exits 255 both when the connection is lost and when the remote program is killed by a signal
      const why = signal ? `signal ${signal}` : code === 255 ? 'the agent was killed or the connection was lost' : `exit ${code}`;
      return new EtcdadmError(`the connection to the etcdadm agent on ${this.name} ended (${why})${last ? `: ${last}` : ''}`, {
        hint: 'check the network and the host, then run the command again (what it did so far is safe to redo)',
      });
    }
    if (code === 255 || (this.sudo && /\bsudo\b|sudoers/.test(said))) return sshFailure(this.opts, said);
    if (code === 127 || /not found|No such file/.test(said))
      return new EtcdadmError(`cannot start etcdadm on ${this.name}: ${cmd} is not there`, { hint: `copy the etcdadm executable to the host (${cmd})` });
    return new EtcdadmError(`the etcdadm agent on ${targetLabel(this.opts)} did not start (exit ${code ?? signal})${last ? `: ${last}` : ''}`, {
      hint: `run ${cmd} host-agent there by hand to see why; it must be the same etcdadm version`,
    });
  }

  private fail(err: Error): void {
    this.gone ??= err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(this.gone);
    }
  }

  /** One request; its answer, or its error as the agent threw it. */
  private call<T>(m: Method, ...a: unknown[]): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    if (!this.agent) return Promise.reject(new Error(`${this.name}: not connected`));
    const id = this.nextId++;
    const line = encodeMessage({ id, m, a });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.agent!.stdin.write(line);
    });
  }

  /**
   * Run `argv` on the host over the master connection (under sudo when the login is not root), beside the agent:
   * each line of its stderr handed to `onStderrLine` as it comes (apply shows the remote etcdadm's progress as it
   * happens), stdout kept (the last 64 MiB). Killed at the deadline, failing with one line naming it.
   */
  command(argv: readonly string[], opts: { timeoutMs: number; onStderrLine?: (line: string) => void }): Promise<ExecResult> {
    const child = this.transport.spawn(argv, this.sudo);
    child.stdin.end();
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let part = '';
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      outBytes += d.length;
      while (outBytes > 64 << 20 && out.length > 1) outBytes -= out.shift()!.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      part += d.toString();
      const lines = part.split('\n');
      part = lines.pop() ?? '';
      for (const l of lines) {
        err = (err + l + '\n').slice(-(1 << 20));
        opts.onStderrLine?.(l);
      }
    });
    return new Promise<ExecResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new EtcdadmError(`${argv.join(' ')} on ${this.name} did not finish within ${opts.timeoutMs} ms`, { hint: 'check the host, then run the command again' }));
      }, opts.timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new EtcdadmError(`cannot run ssh: ${e.message}`, { hint: 'install the OpenSSH client (openssh-client)', cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (part) {
          err += part;
          opts.onStderrLine?.(part);
        }
        const stdout = Buffer.concat(out).toString();
        // ssh's own failure (the connection lost, the host gone): one line naming the host
        if (code === 255) reject(sshFailure(this.opts, err));
        else resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: err });
      });
    });
  }

  /**
   * A local file of the operator's machine put at `path` here through ssh's own channel beside the agent (no
   * encoding: large files such as a release archive), atomically, with `mode`; not fsynced when `durable` is false
   * (ssh-install.ts uploadFile).
   */
  upload(localPath: string, path: string, mode: number, opts: { durable?: boolean } = {}): Promise<void> {
    return uploadFile(this.transport, this.sudo, localPath, path, { mode, what: localPath, ...opts });
  }

  /** Stop the agent (its locks released, open writes aborted), close the master connection. */
  async close(): Promise<void> {
    const child = this.agent;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    this.gone ??= new EtcdadmError(`${this.name}: the SSH host is closed`);
    await this.transport.stop();
  }

  facts(): Promise<HostFacts> {
    return this.call('facts');
  }

  isPrivileged(): boolean {
    return this.hello?.privileged ?? false;
  }

  read(path: string): Promise<string | undefined> {
    return this.call('read', path);
  }

  async readBytes(path: string): Promise<Uint8Array | undefined> {
    return this.call('readBytes', path);
  }

  readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.call('readRange', path, offset, length);
  }

  async *readStream(path: string, range?: { start?: number; end?: number }): AsyncIterable<Uint8Array> {
    const h = await this.call<number>('readOpen', path, range);
    let done = false;
    try {
      let next = this.call<Uint8Array | null>('readNext', h);
      for (;;) {
        const chunk = await next;
        if (chunk === null || chunk === undefined) {
          done = true;
          return;
        }
        next = this.call<Uint8Array | null>('readNext', h); // one chunk ahead: the wire works while the caller does
        next.catch(() => undefined); // awaited on the next turn, or dropped when the caller stops
        yield chunk;
      }
    } finally {
      if (!done) await this.call('readClose', h).catch(() => undefined);
    }
  }

  write(path: string, data: string | Uint8Array, opts?: WriteOptions): Promise<void> {
    return this.call('write', path, data, opts);
  }

  async writeStream(path: string, opts: { mode: number; exclusive?: boolean }): Promise<FileWriter> {
    const { handle, tempPath } = await this.call<{ handle: number; tempPath: string }>('writeOpen', path, opts);
    let inflight = 0;
    let failure: Error | undefined;
    const waiters: { limit: number; resolve: () => void }[] = [];
    const settle = () => {
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (inflight <= w.limit || failure) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
    };
    /** Until at most `limit` bytes are unanswered (or a chunk failed). */
    const below = (limit: number) =>
      new Promise<void>((resolve) => {
        if (inflight <= limit || failure) resolve();
        else waiters.push({ limit, resolve });
      });
    const send = (bytes: Buffer) => {
      inflight += bytes.length;
      this.call('writeChunk', handle, bytes).then(
        () => {
          inflight -= bytes.length;
          settle();
        },
        (err: Error) => {
          failure ??= err;
          inflight -= bytes.length;
          settle();
        },
      );
    };
    const sink = new Writable({
      highWaterMark: 1 << 20,
      writev(chunks, cb) {
        if (failure) return cb(failure);
        send(Buffer.concat(chunks.map((c) => c.chunk as Buffer)));
        below(WRITE_WINDOW).then(() => cb(failure ?? null));
      },
      final(cb) {
        below(0).then(() => cb(failure ?? null));
      },
    });
    sink.on('error', (err) => (failure ??= err));
    let finished = false;
    const writer: FileWriter = {
      sink,
      tempPath,
      commit: async () => {
        try {
          if (!sink.writableFinished) await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
          if (failure) throw failure;
          finished = true;
          return await this.call<number>('writeCommit', handle);
        } catch (err) {
          if (!finished) await writer.abort();
          throw failure ?? err;
        }
      },
      abort: async () => {
        finished = true;
        sink.destroy();
        await below(0);
        await this.call('writeAbort', handle).catch(() => undefined);
      },
    };
    return writer;
  }

  exists(path: string): Promise<boolean> {
    return this.call('exists', path);
  }

  stat(path: string): Promise<FileInfo | undefined> {
    return this.call('stat', path);
  }

  list(path: string): Promise<string[] | undefined> {
    return this.call('list', path);
  }

  mkdir(path: string, mode: number): Promise<boolean> {
    return this.call('mkdir', path, mode);
  }

  mkdtemp(prefix: string): Promise<string> {
    return this.call('mkdtemp', prefix);
  }

  remove(path: string): Promise<boolean> {
    return this.call('remove', path);
  }

  removeTree(path: string): Promise<void> {
    return this.call('removeTree', path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.call('rename', from, to);
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.call('chmod', path, mode);
  }

  chown(path: string, who: Account): Promise<void> {
    return this.call('chown', path, { name: who.name, uid: who.uid, gid: who.gid });
  }

  chownTree(path: string, who: Account): Promise<void> {
    return this.call('chownTree', path, { name: who.name, uid: who.uid, gid: who.gid });
  }

  symlink(target: string, path: string): Promise<void> {
    return this.call('symlink', target, path);
  }

  readlink(path: string): Promise<string | undefined> {
    return this.call('readlink', path);
  }

  realpath(path: string): Promise<string | undefined> {
    return this.call('realpath', path);
  }

  writeProblem(path: string): Promise<string | undefined> {
    return this.call('writeProblem', path);
  }

  freeBytes(path: string): Promise<number> {
    return this.call('freeBytes', path);
  }

  treeBytes(path: string): Promise<number> {
    return this.call('treeBytes', path);
  }

  copyTree(from: string, to: string, mode: number, opts?: { link?: boolean }): Promise<void> {
    return this.call('copyTree', from, to, mode, opts);
  }

  /**
   * The caller's `refuse` runs here, on this machine: the agent lists the archive's entries, each is judged here,
   * and the agent extracts with those verdicts (refusing any entry that was not listed).
   */
  async extract(archive: string, dest: string, opts: ExtractOptions): Promise<string[]> {
    const entries = await this.call<{ path: string; type: string; linkpath?: string }[]>('archiveEntries', archive);
    const verdicts = entries.map((e) => [e, opts.refuse?.(e) ?? null] as const);
    return this.call('extract', archive, dest, opts.strip, verdicts);
  }

  async exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    // the agent keeps the deadline; this side gives up too should the connection hang
    const ms = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.call<ExecResult>('exec', cmd, args, opts),
      new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new EtcdadmError(`${[cmd, ...args].join(' ')} on ${this.name} did not finish within ${ms} ms (no answer from the host)`, { hint: 'check the connection to the host' })), ms + 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  lookupUser(name: string): Promise<Account | undefined> {
    return this.call('lookupUser', name);
  }

  ensureServiceUser(name: string, home: string, log: Logger): Promise<Account> {
    return ensureServiceAccount((c, a, o) => this.exec(c, a, o), name, home, log);
  }

  portInUse(host: string, port: number): Promise<boolean> {
    return this.call('portInUse', host, port);
  }

  async lock(path: string, command: string): Promise<HostLock> {
    const h = await this.call<number>('lock', path, command);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        await this.call('unlock', h);
      },
    };
  }

  etcdadmCommand(): Promise<string[]> {
    return this.call('etcdadmCommand');
  }
}
