/**
 * A run's journal: what the run changed, each with how to undo it (src/run/journal.ts records the changes made
 * through the Host, the init system and the timers; cluster/ records the members it adds). `rollback` undoes newest
 * first; a daemon-reload and then services started again once their files are back run at the end (UndoStage). An undo that fails is logged and the others still run. Trees removed during the run are only moved to
 * a trash name until `commit`.
 */
import { describe } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';

/**
 * When an undo runs: `now` in reverse order of the changes; then `reload` (the init system reads its unit files
 * again, once they are back); then `after` (a service or timer brought back to the state it was in, with its files).
 */
export type UndoStage = 'now' | 'reload' | 'after';

interface Entry {
  what: string;
  undo: () => Promise<void>;
  stage: UndoStage;
}

export class Journal {
  private readonly entries: Entry[] = [];
  private readonly trash: { host: Host; path: string }[] = [];
  /** Paths made by this run (a tree made by the run is removed for real, not moved to the trash). */
  readonly created = new Set<string>();

  private recording = true;

  /** Whether changes are still recorded (false past a run's point of no return). */
  get active(): boolean {
    return this.recording;
  }

  /** A point of no return: commit what was recorded; nothing is recorded (or rolled back) any more. */
  async close(log?: Logger): Promise<void> {
    await this.commit(log);
    this.recording = false;
  }

  /** Remember how to undo `what` (see UndoStage for when it runs). */
  record(what: string, undo: () => Promise<void>, stage: UndoStage = 'now'): void {
    if (this.recording) this.entries.push({ what, undo, stage });
  }

  get count(): number {
    return this.entries.length;
  }

  /** What the run changed, oldest first (for messages and tests). */
  get changes(): string[] {
    return this.entries.map((e) => e.what);
  }

  async rollback(log: Logger): Promise<void> {
    if (this.entries.length === 0) return;
    const all = this.entries.splice(0).reverse();
    log.warn(`Rolling back what this run changed (${all.length} change${all.length === 1 ? '' : 's'})`);
    for (const e of (['now', 'reload', 'after'] as const).flatMap((stage) => all.filter((x) => x.stage === stage))) {
      try {
        await e.undo();
        log.debug(`undid: ${e.what}`);
      } catch (err) {
        log.warn(`could not undo ${e.what}: ${describe(err)}; check it by hand`);
      }
    }
    this.trash.splice(0);
  }

  /** The run succeeded: what it removed is deleted for good; nothing is undone any more. */
  async commit(log?: Logger): Promise<void> {
    this.entries.splice(0);
    for (const t of this.trash.splice(0)) await t.host.removeTree(t.path).catch((err: unknown) => log?.warn(`could not remove ${t.path}: ${describe(err)}`));
  }

  /** A tree removed while journaling: moved beside itself until commit. */
  trashed(host: Host, path: string): void {
    this.trash.push({ host, path });
  }

  /** Whether `path` is where this run moved something it removed (hidden from the run's own listings). */
  isTrash(path: string): boolean {
    return this.trash.some((t) => t.path === path);
  }
}

