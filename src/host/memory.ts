/**
 * A machine in memory, as a Host (the contract is in host.ts): files with bytes, modes and owners, directories,
 * symlinks (followed like the kernel does, at most 40 of them per path), temp files, streams, archives, locks. Tests
 * run phases against it without root; programs are answered by the test's own `exec` handler.
 *
 * Over a `base` Host it is an overlay: reads fall through to the base for everything the overlay has not touched,
 * changes stay in memory, and every change is reported to `onChange` — what a dry run prints, with nothing changed on
 * the base. A directory renamed or chmod-ed in the overlay keeps showing the base's entries under its new name.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join, posix } from 'node:path';
import { Writable } from 'node:stream';
import type { HostFacts } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { DEFAULT_EXEC_TIMEOUT_MS, missing, ROOT, type Account, type ExecOptions, type ExecResult, type ExtractOptions, type FileInfo, type FileWriter, type Host, type HostLock, type WriteOptions } from './host.js';

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}
type FileNode = Meta & { kind: 'file'; data?: Buffer; baseData?: string };
type DirNode = Meta & { kind: 'dir'; inherit?: string };
type LinkNode = Meta & { kind: 'symlink'; target: string };
type Node = FileNode | DirNode | LinkNode | { kind: 'gone' };

/** One change an overlay (or a memory host) made, as a dry run prints it. */
export type MemoryChange =
  | { op: 'write'; path: string; mode: number; bytes: number; owner?: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'remove'; path: string }
  | { op: 'remove-tree'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'chown'; path: string; owner: string; tree?: boolean }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'extract'; archive: string; dest: string }
  | { op: 'copy-tree'; from: string; to: string }
  | { op: 'exec'; argv: string[] }
  | { op: 'user'; name: string };

export type ExecHandler = (cmd: string, args: string[], opts: ExecOptions, host: MemoryHost) => ExecResult | undefined | Promise<ExecResult | undefined>;

export interface MemoryHostOptions {
  name?: string;
  base?: Host;
  facts?: HostFacts;
  /** The uid etcdadm runs as here (0: root). */
  uid?: number;
  exec?: ExecHandler;
  /** Ports something listens on, as `host:port`. */
  portsInUse?: string[];
  freeBytes?: number;
  users?: Account[];
  onChange?(c: MemoryChange): void;
  /** Fault injection: a write of `path` fails half-way (the temp file half written), as a kill there would leave it. */
  failWriteHalfway?(path: string): boolean;
}

const err = (code: string, path: string, what: string) => Object.assign(new Error(`${path}: ${what}`), { code, path });

const norm = (p: string): string => {
  if (!p.startsWith('/')) throw err('EINVAL', p, 'not an absolute path');
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
};

export class MemoryHost implements Host {
  readonly name: string;
  private readonly nodes = new Map<string, Node>();
  private readonly base: Host | undefined;
  private clock = Date.UTC(2026, 0, 1);
  private readonly users = new Map<string, Account>();
  private readonly locks = new Map<string, string>();
  private readonly devOf = 1;

  constructor(private readonly opts: MemoryHostOptions = {}) {
    this.name = opts.name ?? 'memory';
    this.base = opts.base;
    this.nodes.set('/', { kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeMs: this.clock, ...(this.base ? { inherit: '/' } : {}) });
    this.users.set('root', ROOT);
    for (const u of opts.users ?? []) this.users.set(u.name, u);
  }

  private get uid(): number {
    return this.opts.uid ?? 0;
  }

  private meta(mode: number, owner?: Account): Meta {
    this.clock += 1000;
    return { mode, uid: owner?.uid ?? this.uid, gid: owner?.gid ?? this.uid, mtimeMs: this.clock };
  }

  private changed(c: MemoryChange): void {
    this.opts.onChange?.(c);
  }

  // ------------------------------------------------------------------ lookups

  /** The node at exactly `p` (no symlink resolution of `p` itself), from the overlay or the base. */
  private async own(p: string): Promise<Node | undefined> {
    const here = this.nodes.get(p);
    if (here) return here.kind === 'gone' ? undefined : here;
    // the nearest ancestor the overlay knows decides where `p` comes from
    let a = p;
    while (a !== '/') {
      a = dirname(a);
      const n = this.nodes.get(a);
      if (!n) continue;
      if (n.kind !== 'dir' || n.inherit === undefined || !this.base) return undefined;
      return this.fromBase(posix.join(n.inherit, p.slice(a === '/' ? 0 : a.length)));
    }
    return undefined;
  }

  private async fromBase(bp: string): Promise<Node | undefined> {
    const st = await this.base!.stat(bp);
    if (!st) return undefined;
    const meta = { mode: st.mode, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
    if (st.kind === 'dir') return { kind: 'dir', ...meta, inherit: bp };
    if (st.kind === 'symlink') return { kind: 'symlink', ...meta, target: (await this.base!.readlink(bp)) ?? '' };
    return { kind: 'file', ...meta, baseData: bp };
  }

  /** `p` with every symlink in it resolved (the final one too when `followFinal`); ENOENT/ENOTDIR/ELOOP like the kernel. */
  private async resolve(p: string, followFinal: boolean): Promise<string> {
    let path = norm(p);
    for (let hops = 0; ; ) {
      const parts = path.split('/').filter(Boolean);
      let cur = '/';
      let restart = false;
      for (let i = 0; i < parts.length; i++) {
        const next = cur === '/' ? `/${parts[i]}` : `${cur}/${parts[i]}`;
        const last = i === parts.length - 1;
        const n = await this.own(next);
        if (n?.kind === 'symlink' && (!last || followFinal)) {
          if (++hops > 40) throw err('ELOOP', p, 'too many levels of symbolic links');
          const target = n.target.startsWith('/') ? n.target : posix.join(cur, n.target);
          path = norm(posix.join(target, ...parts.slice(i + 1)));
          restart = true;
          break;
        }
        if (!last && n && n.kind !== 'dir') throw err('ENOTDIR', p, 'not a directory');
        if (!last && !n) throw err('ENOENT', p, 'no such file or directory');
        cur = next;
      }
      if (!restart) return cur;
    }
  }

  private async lookup(p: string, followFinal: boolean): Promise<{ path: string; node: Exclude<Node, { kind: 'gone' }> } | undefined> {
    let path: string;
    try {
      path = await this.resolve(p, followFinal);
    } catch (e) {
      if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw e;
    }
    const node = await this.own(path);
    return node && node.kind !== 'gone' ? { path, node } : undefined;
  }

  private async fileBytes(n: FileNode): Promise<Buffer> {
    if (n.data) return n.data;
    return Buffer.from((await this.base!.readBytes(n.baseData!)) ?? Buffer.alloc(0));
  }

  /** The parent directory of `path` (resolved), which must exist. */
  private async parentDir(path: string): Promise<string> {
    const parent = await this.lookup(dirname(norm(path)), true);
    if (!parent) throw err('ENOENT', path, 'no such file or directory');
    if (parent.node.kind !== 'dir') throw err('ENOTDIR', path, 'not a directory');
    return parent.path;
  }

  private async childrenOf(dir: string, node: DirNode): Promise<string[]> {
    const names = new Set<string>(node.inherit !== undefined && this.base ? ((await this.base.list(node.inherit)) ?? []) : []);
    const prefix = dir === '/' ? '/' : `${dir}/`;
    for (const [k, n] of this.nodes) {
      if (!k.startsWith(prefix) || k === dir) continue;
      const rest = k.slice(prefix.length);
      if (rest.includes('/')) continue;
      if (n.kind === 'gone') names.delete(rest);
      else names.add(rest);
    }
    return [...names].sort();
  }

  /** Put `node` at `path` (whose parent exists), dropping what the overlay had under it. */
  private place(path: string, node: Node): void {
    const prefix = `${path}/`;
    for (const k of [...this.nodes.keys()]) if (k.startsWith(prefix)) this.nodes.delete(k);
    this.nodes.set(path, node);
  }

  // ------------------------------------------------------------------ Host

  async facts(): Promise<HostFacts> {
    if (this.opts.facts) return this.opts.facts;
    if (this.base) return this.base.facts();
    return { hostname: this.name, addresses: [{ iface: 'eth0', address: '10.0.0.1', family: 4, internal: false }, { iface: 'lo', address: '127.0.0.1', family: 4, internal: true }], defaultRouteIfaces: ['eth0'], cpus: 2 };
  }

  isPrivileged(): boolean {
    return this.base ? this.base.isPrivileged() : this.uid === 0;
  }

  async read(path: string): Promise<string | undefined> {
    return (await this.readBytes(path))?.toString('utf8');
  }

  async readBytes(path: string): Promise<Buffer | undefined> {
    const f = await this.lookup(path, true);
    if (!f) return undefined;
    if (f.node.kind === 'dir') throw err('EISDIR', path, 'is a directory');
    return Buffer.from(await this.fileBytes(f.node as FileNode));
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    const b = await this.readBytes(path);
    if (!b) throw missing(path);
    return b.subarray(offset, offset + length);
  }

  async *readStream(path: string, range: { start?: number; end?: number } = {}): AsyncIterable<Uint8Array> {
    const b = await this.readBytes(path);
    if (!b) throw missing(path);
    const end = range.end === undefined ? b.length : range.end + 1;
    for (let at = range.start ?? 0; at < end; at += 1 << 16) yield b.subarray(at, Math.min(end, at + (1 << 16)));
  }

  async write(path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
    const p = norm(path);
    await this.mkdirQuiet(dirname(p), opts.dirMode ?? 0o755);
    const dir = await this.parentDir(p);
    const target = posix.join(dir, posix.basename(p));
    const bytes = Buffer.from(typeof data === 'string' ? Buffer.from(data) : data);
    if (this.opts.failWriteHalfway?.(p)) {
      // a kill half-way: the temp file holds half, the target is untouched
      const tmp = posix.join(dir, `.${posix.basename(p)}.${randomBytes(6).toString('hex')}.tmp`);
      this.place(tmp, { kind: 'file', ...this.meta(opts.mode ?? 0o644, opts.owner), data: bytes.subarray(0, bytes.length >> 1) });
      throw err('EINTR', p, 'killed half-way (fault injected)');
    }
    const existing = await this.own(target);
    if (existing?.kind === 'dir') throw err('EISDIR', path, 'is a directory');
    // what an interrupted write of this file left
    const stale = `.${posix.basename(p)}.`;
    for (const n of (await this.list(dir)) ?? []) if (n.startsWith(stale) && /\.[0-9a-f]{12}\.tmp$/.test(n)) this.place(posix.join(dir, n), { kind: 'gone' });
    this.place(target, { kind: 'file', ...this.meta(opts.mode ?? 0o644, opts.owner), data: bytes });
    this.changed({ op: 'write', path: target, mode: opts.mode ?? 0o644, bytes: bytes.length, ...(opts.owner ? { owner: opts.owner.name } : {}) });
  }

  async writeStream(path: string, opts: { mode: number; exclusive?: boolean }): Promise<FileWriter> {
    const p = norm(path);
    const dir = await this.parentDir(p);
    const target = posix.join(dir, posix.basename(p));
    const tmp = posix.join(dir, `.${posix.basename(p)}.${randomBytes(6).toString('hex')}.part`);
    const chunks: Buffer[] = [];
    const node: FileNode = { kind: 'file', ...this.meta(opts.mode), data: Buffer.alloc(0) };
    this.place(tmp, node);
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    });
    const host = this;
    const writer: FileWriter = {
      sink,
      tempPath: tmp,
      async commit() {
        if (!sink.writableFinished) await new Promise<void>((resolve, reject) => sink.end((e?: Error | null) => (e ? reject(e) : resolve())));
        node.data = Buffer.concat(chunks);
        if (opts.exclusive && (await host.own(target))) {
          await writer.abort();
          throw err('EEXIST', target, 'file exists');
        }
        host.nodes.delete(tmp);
        host.nodes.set(tmp, { kind: 'gone' });
        host.place(target, node);
        host.changed({ op: 'write', path: target, mode: opts.mode, bytes: node.data.length });
        return node.data.length;
      },
      async abort() {
        sink.destroy();
        host.nodes.set(tmp, { kind: 'gone' });
      },
    };
    return writer;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.lookup(path, true)) !== undefined;
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const f = await this.lookup(path, false);
    if (!f) return undefined;
    const n = f.node;
    const size = n.kind === 'file' ? (n.data ? n.data.length : ((await this.base!.stat(n.baseData!))?.size ?? 0)) : n.kind === 'symlink' ? n.target.length : 4096;
    return { kind: n.kind, mode: n.mode, uid: n.uid, gid: n.gid, size, dev: this.devOf, mtimeMs: n.mtimeMs };
  }

  async list(path: string): Promise<string[] | undefined> {
    const f = await this.lookup(path, true);
    if (!f) return undefined;
    if (f.node.kind !== 'dir') throw err('ENOTDIR', path, 'not a directory');
    return this.childrenOf(f.path, f.node);
  }

  private async mkdirQuiet(path: string, mode: number): Promise<boolean> {
    const p = norm(path);
    const have = await this.lookup(p, true);
    if (have) {
      if (have.node.kind !== 'dir') throw err('ENOTDIR', path, 'not a directory');
      return false;
    }
    if (p !== '/') await this.mkdirQuiet(dirname(p), 0o755);
    const dir = await this.parentDir(p);
    const at = posix.join(dir, posix.basename(p));
    this.place(at, { kind: 'dir', ...this.meta(mode) });
    this.changed({ op: 'mkdir', path: at, mode });
    return true;
  }

  mkdir(path: string, mode: number): Promise<boolean> {
    return this.mkdirQuiet(path, mode);
  }

  async mkdtemp(prefix: string): Promise<string> {
    const path = `${prefix}${randomBytes(3).toString('hex')}`;
    await this.parentDir(path);
    await this.mkdirQuiet(path, 0o700);
    return norm(path);
  }

  async remove(path: string): Promise<boolean> {
    const dir = await this.parentDir(path).catch(() => undefined);
    if (!dir) return false;
    const at = posix.join(dir, posix.basename(norm(path)));
    const n = await this.own(at);
    if (!n || n.kind === 'gone') return false;
    if (n.kind === 'dir') throw err('EISDIR', path, 'is a directory');
    this.place(at, { kind: 'gone' });
    this.changed({ op: 'remove', path: at });
    return true;
  }

  async removeTree(path: string): Promise<void> {
    const dir = await this.parentDir(path).catch(() => undefined);
    if (!dir) return;
    const at = posix.join(dir, posix.basename(norm(path)));
    if (!(await this.own(at))) return;
    this.place(at, { kind: 'gone' });
    this.changed({ op: 'remove-tree', path: at });
  }

  async rename(from: string, to: string): Promise<void> {
    const src = posix.join(await this.parentDir(from), posix.basename(norm(from)));
    const dst = posix.join(await this.parentDir(to), posix.basename(norm(to)));
    const n = await this.own(src);
    if (!n || n.kind === 'gone') throw missing(from);
    const there = await this.own(dst);
    if (there?.kind === 'dir' && n.kind === 'dir' && (await this.childrenOf(dst, there)).length > 0) throw err('ENOTEMPTY', to, 'directory not empty');
    if (there?.kind === 'dir' && n.kind !== 'dir') throw err('EISDIR', to, 'is a directory');
    if (dst === src || dst.startsWith(`${src}/`)) throw err('EINVAL', to, 'cannot move a directory into itself');
    const moved: [string, Node][] = [];
    const prefix = `${src}/`;
    for (const [k, v] of this.nodes) if (k.startsWith(prefix)) moved.push([dst + k.slice(src.length), v]);
    this.place(src, { kind: 'gone' });
    this.place(dst, n);
    for (const [k, v] of moved) this.nodes.set(k, v);
    this.changed({ op: 'rename', from: src, to: dst });
  }

  async chmod(path: string, mode: number): Promise<void> {
    const f = await this.lookup(path, false);
    if (!f) throw missing(path);
    if (f.node.kind === 'symlink') throw err('ELOOP', path, 'is a symlink: its mode is not changed');
    this.nodes.set(f.path, { ...f.node, mode });
    this.changed({ op: 'chmod', path: f.path, mode });
  }

  async chown(path: string, who: Account): Promise<void> {
    const f = await this.lookup(path, false);
    if (!f) throw missing(path);
    this.nodes.set(f.path, { ...f.node, uid: who.uid, gid: who.gid });
    this.changed({ op: 'chown', path: f.path, owner: who.name });
  }

  async chownTree(path: string, who: Account): Promise<void> {
    const f = await this.lookup(path, false);
    if (!f) return;
    const walk = async (p: string): Promise<void> => {
      const n = await this.own(p);
      if (!n || n.kind === 'gone') return;
      this.nodes.set(p, { ...n, uid: who.uid, gid: who.gid });
      if (n.kind === 'dir') for (const c of await this.childrenOf(p, n)) await walk(posix.join(p, c));
    };
    await walk(f.path);
    this.changed({ op: 'chown', path: f.path, owner: who.name, tree: true });
  }

  async symlink(target: string, path: string): Promise<void> {
    const at = posix.join(await this.parentDir(path), posix.basename(norm(path)));
    if ((await this.own(at))?.kind === 'dir') throw err('EISDIR', path, 'is a directory');
    this.place(at, { kind: 'symlink', ...this.meta(0o777), target });
    this.changed({ op: 'symlink', path: at, target });
  }

  async readlink(path: string): Promise<string | undefined> {
    const f = await this.lookup(path, false);
    return f?.node.kind === 'symlink' ? f.node.target : undefined;
  }

  async realpath(path: string): Promise<string | undefined> {
    return (await this.lookup(path, true))?.path;
  }

  async writeProblem(path: string): Promise<string | undefined> {
    const f = await this.lookup(path, true);
    if (!f) return `ENOENT: no such file or directory, access '${path}'`;
    if (f.node.kind !== 'dir') return `ENOTDIR: not a directory, access '${path}'`;
    const ok = this.uid === 0 || (f.node.uid === this.uid && (f.node.mode & 0o200) !== 0) || (f.node.mode & 0o002) !== 0;
    return ok ? undefined : `EACCES: permission denied, access '${path}'`;
  }

  async freeBytes(): Promise<number> {
    return this.opts.freeBytes ?? 100 * 2 ** 30;
  }

  async treeBytes(path: string): Promise<number> {
    const f = await this.lookup(path, false);
    if (!f) return 0;
    let total = 0;
    const walk = async (p: string): Promise<void> => {
      const n = await this.own(p);
      if (n?.kind === 'file') total += (await this.fileBytes(n)).length;
      if (n?.kind === 'dir') for (const c of await this.childrenOf(p, n)) await walk(posix.join(p, c));
    };
    await walk(f.path);
    return total;
  }

  // `link` makes no difference here: a hard link shares the data a copy has
  async copyTree(from: string, to: string, mode: number, _opts?: { link?: boolean }): Promise<void> {
    if (await this.own(norm(to))) throw err('EEXIST', to, 'exists already');
    const copy = async (src: string, dst: string, top: boolean): Promise<void> => {
      const n = await this.own(src);
      if (!n || n.kind === 'gone') return;
      if (n.kind === 'dir') {
        this.nodes.set(dst, { kind: 'dir', mode: top ? mode : n.mode, uid: n.uid, gid: n.gid, mtimeMs: n.mtimeMs });
        for (const c of await this.childrenOf(src, n)) await copy(posix.join(src, c), posix.join(dst, c), false);
      } else if (n.kind === 'file') this.nodes.set(dst, { ...n, data: await this.fileBytes(n) });
      else this.nodes.set(dst, { ...n });
    };
    await this.parentDir(to);
    await copy(norm(from), norm(to), true);
    this.changed({ op: 'copy-tree', from, to });
  }

  async extract(archive: string, dest: string, opts: ExtractOptions): Promise<string[]> {
    const bytes = await this.readBytes(archive);
    if (!bytes) throw missing(archive);
    const refused: string[] = [];
    const root = norm(dest);
    const { readArchive } = await import('./archive.js'); // the tar library only where an archive is read
    for (const e of await readArchive(bytes)) {
      const why = opts.refuse?.(e);
      if (why) {
        refused.push(why);
        continue;
      }
      const rel = e.path.split('/').filter((s) => s && s !== '.').slice(opts.strip);
      if (rel.length === 0) continue;
      const at = join(root, ...rel);
      if (e.type === 'Directory') await this.mkdirQuiet(at, e.mode & 0o7777);
      else if (e.type === 'SymbolicLink') {
        await this.mkdirQuiet(dirname(at), 0o755);
        this.place(at, { kind: 'symlink', ...this.meta(0o777), target: e.linkpath ?? '' });
      } else {
        await this.mkdirQuiet(dirname(at), 0o755);
        this.place(at, { kind: 'file', ...this.meta(e.mode & 0o7777), data: e.data });
      }
    }
    this.changed({ op: 'extract', archive, dest: root });
    return refused;
  }

  async exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const ms = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new EtcdadmError(`${[cmd, ...args].join(' ')} did not finish within ${ms} ms`, { hint: 'the program hangs; check it by hand' })), ms);
    });
    try {
      const r = await Promise.race([Promise.resolve(this.opts.exec?.(cmd, args, opts, this)), expired]);
      if (r) {
        this.changed({ op: 'exec', argv: [cmd, ...args] });
        return r;
      }
      if (this.base) return await Promise.race([this.base.exec(cmd, args, opts), expired]);
      return { code: 127, stdout: '', stderr: `${cmd}: command not found` };
    } finally {
      clearTimeout(timer);
    }
  }

  async lookupUser(name: string): Promise<Account | undefined> {
    return this.users.get(name) ?? (this.base ? this.base.lookupUser(name) : undefined);
  }

  async ensureServiceUser(name: string, _home: string, log: Logger): Promise<Account> {
    const have = await this.lookupUser(name);
    if (have) return have;
    const uid = 990 - (this.users.size - 1);
    const made = { name, uid, gid: uid };
    this.users.set(name, made);
    this.changed({ op: 'user', name });
    log.info(`Created the system user ${name}`);
    return made;
  }

  async portInUse(host: string, port: number): Promise<boolean> {
    if (this.opts.portsInUse) return this.opts.portsInUse.includes(`${host}:${port}`);
    return this.base ? this.base.portInUse(host, port) : false;
  }

  async lock(path: string, command: string): Promise<HostLock> {
    const held = this.locks.get(path);
    if (held !== undefined)
      throw new EtcdadmError(`another etcdadm command is changing this host: ${held} holds ${path}`, { hint: 'wait for it to finish' });
    this.locks.set(path, command);
    return {
      release: async () => {
        if (this.locks.get(path) === command) this.locks.delete(path);
      },
    };
  }

  async etcdadmCommand(): Promise<string[]> {
    return this.base ? this.base.etcdadmCommand() : ['/usr/bin/etcdadm'];
  }

  /** Every path in the overlay with what is there (for tests: the tree a run left). */
  async tree(root = '/'): Promise<{ path: string; kind: string; mode: number; uid: number; gid: number; size: number; target?: string }[]> {
    const out: { path: string; kind: string; mode: number; uid: number; gid: number; size: number; target?: string }[] = [];
    const walk = async (p: string): Promise<void> => {
      const st = await this.stat(p);
      if (!st) return;
      out.push({ path: p, kind: st.kind, mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, ...(st.kind === 'symlink' ? { target: (await this.readlink(p))! } : {}) });
      if (st.kind === 'dir') for (const c of (await this.list(p)) ?? []) await walk(posix.join(p, c));
    };
    await walk(norm(root));
    return out;
  }
}
