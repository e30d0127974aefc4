/**
 * The run's journal: every change a run makes through its Host is recorded with how to undo it, so that a failed run
 * puts the host back exactly as it was — files written (their earlier bytes, mode and owner, or that there was
 * none), directories made, files and trees removed, renames, modes, owners, symlinks, copies, extractions, users
 * created — and, recorded by the init system and by cluster/ (the only places that make them), services started,
 * stopped or restarted and members added. Nothing is undone by hand-written entries in the phases.
 *
 * `rollback` undoes newest first; a daemon-reload once the unit files are back, then the services and timers brought
 * back to the state they were in, run at the end, so a service comes back with its earlier files. An undo
 * that fails is logged and the others still run. Data is never deleted by a rollback: a directory the run made that
 * now holds anything is moved aside (`<dir>.bak-<time>`), and a tree the run removed is only moved to a trash name
 * beside it until the run succeeded (`commit` deletes it).
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { Journal } from '../util/journal.js';
import { backupPathFor } from '../host/dirs.js';
import type { Account, ExecOptions, ExecResult, ExtractOptions, FileInfo, FileWriter, Host, HostLock, WriteOptions } from '../host/host.js';
import type { HostFacts } from '../config/types.js';
import type { InitSystem, SystemdTimers } from '../initsystem/index.js';
import type { Logger } from '../log/logger.js';

export { Journal };

/** Files larger than this are not kept in memory to be put back; a change to one is refused while journaling. */
const MAX_SAVED_BYTES = 64 << 20;

/** What was at a path before a change, enough to put it back. */
type Before = { kind: 'none' } | { kind: 'file'; data: Uint8Array; info: FileInfo } | { kind: 'symlink'; target: string } | { kind: 'dir'; info: FileInfo };

async function before(host: Host, path: string): Promise<Before> {
  const st = await host.stat(path);
  if (!st) return { kind: 'none' };
  if (st.kind === 'symlink') return { kind: 'symlink', target: (await host.readlink(path)) ?? '' };
  if (st.kind === 'dir') return { kind: 'dir', info: st };
  if (st.kind !== 'file') throw new Error(`${path} is not a regular file: etcdadm does not change it`);
  if (st.size > MAX_SAVED_BYTES) throw new Error(`${path} is larger than ${MAX_SAVED_BYTES >> 20} MiB: it cannot be put back if the run fails`);
  return { kind: 'file', data: (await host.readBytes(path)) ?? new Uint8Array(), info: st };
}

async function putBack(host: Host, path: string, b: Before): Promise<void> {
  if (b.kind === 'none') {
    const st = await host.stat(path);
    if (st && st.kind !== 'dir') await host.remove(path);
    return;
  }
  if (b.kind === 'symlink') return host.symlink(b.target, path);
  if (b.kind === 'file') {
    await host.write(path, b.data, { mode: b.info.mode, owner: { name: String(b.info.uid), uid: b.info.uid, gid: b.info.gid } });
  }
}

/** The directories a creation at `path` makes: its missing ancestors (and itself when `self`), outermost first. */
async function missingDirs(host: Host, path: string, self: boolean): Promise<string[]> {
  const out: string[] = [];
  for (let p = self ? path : dirname(path); p !== '/' && !(await host.stat(p)); p = dirname(p)) out.unshift(p);
  return out;
}

/** Undo the creation of `dirs` (outermost first): innermost first, each removed when empty, else moved aside. */
async function removeCreated(host: Host, dirs: readonly string[]): Promise<void> {
  for (const d of [...dirs].reverse()) {
    const entries = await host.list(d);
    if (entries === undefined) continue;
    if (entries.length === 0) await host.removeTree(d);
    else if (d === dirs[dirs.length - 1]) await host.rename(d, backupPathFor(d)); // what is in it is not ours to delete
  }
}

/** Every owner under `path` (symlinks not followed), to put them back. */
async function owners(host: Host, path: string): Promise<{ path: string; uid: number; gid: number }[]> {
  const out: { path: string; uid: number; gid: number }[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await host.stat(p);
    if (!st) return;
    out.push({ path: p, uid: st.uid, gid: st.gid });
    if (st.kind === 'dir') for (const c of (await host.list(p)) ?? []) await walk(join(p, c));
  };
  await walk(path);
  return out;
}

const who = (uid: number, gid: number): Account => ({ name: String(uid), uid, gid });

/** `host` with every change recorded in `journal` (the run's host while a failure rolls back). */
export class JournaledHost implements Host {
  constructor(
    private readonly inner: Host,
    readonly journal: Journal,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  facts(): Promise<HostFacts> {
    return this.inner.facts();
  }
  isPrivileged(): boolean {
    return this.inner.isPrivileged();
  }
  read(path: string): Promise<string | undefined> {
    return this.inner.read(path);
  }
  readBytes(path: string): Promise<Uint8Array | undefined> {
    return this.inner.readBytes(path);
  }
  readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.inner.readRange(path, offset, length);
  }
  readStream(path: string, range?: { start?: number; end?: number }): AsyncIterable<Uint8Array> {
    return this.inner.readStream(path, range);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  stat(path: string): Promise<FileInfo | undefined> {
    return this.inner.stat(path);
  }
  /** The names in a directory, without what this run removed (moved aside until it succeeds). */
  async list(path: string): Promise<string[] | undefined> {
    return (await this.inner.list(path))?.filter((n) => !this.journal.isTrash(join(path, n)));
  }
  readlink(path: string): Promise<string | undefined> {
    return this.inner.readlink(path);
  }
  realpath(path: string): Promise<string | undefined> {
    return this.inner.realpath(path);
  }
  writeProblem(path: string): Promise<string | undefined> {
    return this.inner.writeProblem(path);
  }
  freeBytes(path: string): Promise<number> {
    return this.inner.freeBytes(path);
  }
  treeBytes(path: string): Promise<number> {
    return this.inner.treeBytes(path);
  }
  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(cmd, args, opts);
  }
  lookupUser(name: string): Promise<Account | undefined> {
    return this.inner.lookupUser(name);
  }
  portInUse(host: string, port: number): Promise<boolean> {
    return this.inner.portInUse(host, port);
  }
  lock(path: string, command: string): Promise<HostLock> {
    return this.inner.lock(path, command);
  }
  etcdadmCommand(): Promise<string[]> {
    return this.inner.etcdadmCommand();
  }

  private made(paths: readonly string[]): void {
    for (const p of paths) this.journal.created.add(p);
  }

  async write(path: string, data: string | Uint8Array, opts?: WriteOptions): Promise<void> {
    const dirs = await missingDirs(this.inner, path, false);
    const b = await before(this.inner, path);
    await this.inner.write(path, data, opts);
    this.made([...dirs, ...(b.kind === 'none' ? [path] : [])]);
    this.journal.record(`write ${path}`, async () => {
      await putBack(this.inner, path, b);
      await removeCreated(this.inner, dirs);
    });
  }

  async writeStream(path: string, opts: { mode: number; exclusive?: boolean }): Promise<FileWriter> {
    const w = await this.inner.writeStream(path, opts);
    return {
      sink: w.sink,
      tempPath: w.tempPath,
      abort: () => w.abort(),
      commit: async () => {
        const b = opts.exclusive ? ({ kind: 'none' } as Before) : await before(this.inner, path);
        const n = await w.commit();
        if (b.kind === 'none') this.made([path]);
        this.journal.record(`write ${path}`, () => putBack(this.inner, path, b));
        return n;
      },
    };
  }

  async mkdir(path: string, mode: number): Promise<boolean> {
    const dirs = await missingDirs(this.inner, path, true);
    const created = await this.inner.mkdir(path, mode);
    if (dirs.length) {
      this.made(dirs);
      this.journal.record(`create ${path}`, () => removeCreated(this.inner, dirs));
    }
    return created;
  }

  async mkdtemp(prefix: string): Promise<string> {
    const dir = await this.inner.mkdtemp(prefix);
    this.made([dir]);
    this.journal.record(`create ${dir}`, () => removeCreated(this.inner, [dir]));
    return dir;
  }

  async remove(path: string): Promise<boolean> {
    const st = await this.inner.stat(path);
    if (!st) return false;
    if (st.kind === 'dir') return this.inner.remove(path); // refused as the contract says
    if (this.journal.created.delete(path) || !this.journal.active) return this.inner.remove(path);
    // moved aside beside itself (the same file: bytes, mode, owner; any size), deleted once the run succeeded
    const trash = join(dirname(path), `.${basename(path)}.removed-${randomBytes(4).toString('hex')}`);
    await this.inner.rename(path, trash);
    this.journal.trashed(this.inner, trash);
    this.journal.record(`remove ${path}`, () => this.inner.rename(trash, path));
    return true;
  }

  async removeTree(path: string): Promise<void> {
    const st = await this.inner.stat(path);
    if (!st) return;
    if (this.journal.created.has(path) || st.kind !== 'dir' || !this.journal.active) {
      if (st.kind !== 'dir') await this.remove(path);
      else await this.inner.removeTree(path);
      return;
    }
    // moved aside, deleted once the run succeeded
    const trash = join(dirname(path), `.${basename(path)}.removed-${randomBytes(4).toString('hex')}`);
    await this.inner.rename(path, trash);
    this.journal.trashed(this.inner, trash);
    this.journal.record(`remove ${path}`, () => this.inner.rename(trash, path));
  }

  async rename(from: string, to: string): Promise<void> {
    const b = await before(this.inner, to).catch(() => ({ kind: 'none' }) as Before);
    await this.inner.rename(from, to);
    if (this.journal.created.delete(from)) this.made([to]);
    this.journal.record(`rename ${from} to ${to}`, async () => {
      if (await this.inner.stat(dirname(from))) await this.inner.rename(to, from);
      else await this.inner.rename(to, backupPathFor(to));
      await putBack(this.inner, to, b);
    });
  }

  async chmod(path: string, mode: number): Promise<void> {
    const st = await this.inner.stat(path);
    await this.inner.chmod(path, mode);
    if (st && st.mode !== mode) this.journal.record(`chmod ${path}`, () => this.inner.chmod(path, st.mode));
  }

  async chown(path: string, account: Account): Promise<void> {
    const st = await this.inner.stat(path);
    await this.inner.chown(path, account);
    if (st && (st.uid !== account.uid || st.gid !== account.gid)) this.journal.record(`chown ${path}`, () => this.inner.chown(path, who(st.uid, st.gid)));
  }

  async chownTree(path: string, account: Account): Promise<void> {
    const was = (await owners(this.inner, path)).filter((o) => o.uid !== account.uid || o.gid !== account.gid);
    await this.inner.chownTree(path, account);
    if (was.length)
      this.journal.record(`chown -R ${path}`, async () => {
        for (const o of was) await this.inner.chown(o.path, who(o.uid, o.gid)).catch(() => undefined);
      });
  }

  async symlink(target: string, path: string): Promise<void> {
    const b = await before(this.inner, path);
    await this.inner.symlink(target, path);
    if (b.kind === 'none') this.made([path]);
    this.journal.record(`symlink ${path}`, () => putBack(this.inner, path, b));
  }

  async copyTree(from: string, to: string, mode: number, opts?: { link?: boolean }): Promise<void> {
    await this.inner.copyTree(from, to, mode, opts);
    this.made([to]);
    this.journal.record(`copy ${from} to ${to}`, () => this.inner.removeTree(to));
  }

  async extract(archive: string, dest: string, opts: ExtractOptions): Promise<string[]> {
    const had = new Set((await this.inner.list(dest)) ?? []);
    const refused = await this.inner.extract(archive, dest, opts);
    const added = ((await this.inner.list(dest)) ?? []).filter((n) => !had.has(n)).map((n) => join(dest, n));
    this.made(added);
    this.journal.record(`extract ${archive} into ${dest}`, async () => {
      for (const p of added) await this.inner.removeTree(p);
    });
    return refused;
  }

  async ensureServiceUser(name: string, home: string, log: Logger): Promise<Account> {
    const had = await this.inner.lookupUser(name);
    const account = await this.inner.ensureServiceUser(name, home, log);
    if (!had)
      this.journal.record(`create the user ${name}`, async () => {
        const r = await this.inner.exec('userdel', [name], { timeoutMs: 30_000 });
        if (r.code !== 0) throw new Error(`userdel ${name}: ${(r.stderr || r.stdout).trim()}`);
      }, 'after');
    return account;
  }
}

/**
 * The init system with what it does to etcd's service recorded — before it is done, so that a start or restart that
 * fails half-way is undone too: a start undone by a stop; a stop or restart by a start or restart once the files
 * are back.
 */
export function journaledInit(init: InitSystem, journal: Journal): InitSystem {
  return {
    ...init,
    async configure(plan) {
      if (init.name === 'systemd') journal.record('systemctl daemon-reload', () => init.reload(), 'reload');
      await init.configure(plan);
    },
    async start(plan) {
      if (!(await init.isActive(plan))) journal.record(`start ${plan.service.unitName}`, () => init.stop(plan));
      await init.start(plan);
    },
    async stop(plan) {
      if (await init.isActive(plan)) journal.record(`stop ${plan.service.unitName}`, () => init.start(plan), 'after');
      await init.stop(plan);
    },
    async restart(plan, whileStopped) {
      const was = await init.isActive(plan);
      journal.record(`restart ${plan.service.unitName}`, () => (was ? init.restart(plan) : init.stop(plan)), was ? 'after' : 'now');
      await init.restart(plan, whileStopped);
    },
    async remove(plan) {
      if (init.name === 'systemd') journal.record('systemctl daemon-reload', () => init.reload(), 'reload');
      await init.remove(plan);
    },
  };
}

/** systemd timers with what they do recorded: an enabled timer disabled again, a disabled one enabled again. */
export function journaledTimers(t: SystemdTimers, journal: Journal): SystemdTimers {
  return {
    ...t,
    async install(files) {
      journal.record('systemctl daemon-reload', () => t.reload(), 'reload');
      await t.install(files);
    },
    async enableNow(timer, restart) {
      const was = await t.state(timer);
      if (was.enabled === 'enabled' && was.active === 'active') journal.record(`restart ${timer}`, () => t.enableNow(timer, true), 'after');
      else journal.record(`enable ${timer}`, () => t.disableNow([timer]));
      await t.enableNow(timer, restart);
    },
    async disableNow(units) {
      const was = await Promise.all(units.map(async (u) => ({ u, s: await t.state(u) })));
      for (const { u, s } of was) if (s.enabled === 'enabled') journal.record(`disable ${u}`, () => t.enableNow(u, false), 'after');
      await t.disableNow(units);
    },
    async removeFiles(paths) {
      const removed = await t.removeFiles(paths);
      if (removed.length) journal.record('systemctl daemon-reload', () => t.reload(), 'reload');
      return removed;
    },
  };
}
