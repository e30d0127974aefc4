/**
 * What a run changed on the host, so that a failed init or join puts the host back as it was: every file written
 * (its earlier content, or that there was none), every directory made, the binaries switched, the service started,
 * the member added. `rollback` undoes them newest first; an undo that fails is logged and the others still run.
 * A data directory etcd already wrote into is moved aside, never deleted.
 */
import { dirname } from 'node:path';
import { backupPathFor } from '../host/dirs.js';
import type { FileInfo, Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { describe } from '../errors.js';

interface Entry {
  what: string;
  undo: () => Promise<void>;
}

export class Changes {
  private readonly entries: Entry[] = [];

  /** Remember how to undo `what` (registered before or right after the change). */
  add(what: string, undo: () => Promise<void>): void {
    this.entries.push({ what, undo });
  }

  get count(): number {
    return this.entries.length;
  }

  async rollback(log: Logger): Promise<void> {
    if (this.entries.length === 0) return;
    log.warn(`Rolling back what this run changed (${this.entries.length} change${this.entries.length === 1 ? '' : 's'})`);
    for (const e of this.entries.splice(0).reverse()) {
      try {
        await e.undo();
        log.debug(`undid: ${e.what}`);
      } catch (err) {
        log.warn(`could not undo ${e.what}: ${describe(err)}; check it by hand`);
      }
    }
  }
}

/** The directories `path`'s creation makes: its missing ancestors, outermost first (and itself when `self`). */
async function missingDirs(host: Host, path: string, self: boolean): Promise<string[]> {
  const out: string[] = [];
  for (let p = self ? path : dirname(path); p !== '/' && !(await host.exists(p)); p = dirname(p)) out.unshift(p);
  return out;
}

/** Undo the creation of `dirs` (outermost first): innermost first, each only when empty, else moved aside. */
async function removeCreated(host: Host, dirs: readonly string[]): Promise<void> {
  for (const d of [...dirs].reverse()) {
    const entries = await host.list(d);
    if (entries === undefined) continue;
    if (entries.length === 0) await host.removeTree(d);
    else if (d === dirs[dirs.length - 1]) await host.rename(d, backupPathFor(d)); // what was made in it is not ours to delete
  }
}

/** `host` with every write, directory creation and removal recorded in `changes` (how to undo it). */
export function journaled(host: Host, changes: Changes): Host {
  const j: Host = Object.create(host) as Host;
  j.write = async (path, data, opts) => {
    const dirs = await missingDirs(host, path, false);
    const before: FileInfo | undefined = await host.stat(path);
    const old = before?.kind === 'file' ? await host.read(path) : undefined;
    await host.write(path, data, opts);
    changes.add(`write ${path}`, async () => {
      if (old === undefined) await host.remove(path);
      else await host.write(path, old, { mode: before!.mode });
      for (const d of [...dirs].reverse()) if (((await host.list(d)) ?? ['x']).length === 0) await host.removeTree(d);
    });
  };
  j.mkdir = async (path, mode) => {
    const dirs = await missingDirs(host, path, true);
    const created = await host.mkdir(path, mode);
    if (dirs.length) changes.add(`create ${path}`, () => removeCreated(host, dirs));
    return created;
  };
  j.remove = async (path) => {
    const before = await host.stat(path);
    const old = before?.kind === 'file' ? await host.read(path) : undefined;
    const removed = await host.remove(path);
    if (removed && old !== undefined) changes.add(`remove ${path}`, () => host.write(path, old, { mode: before!.mode }));
    return removed;
  };
  return j;
}
