/**
 * --dry-run, done once by the runner for every command: the run context gets a host that is an overlay over the
 * real one (MemoryHost: reads fall through, every change stays in memory and is recorded), programs that change
 * something are not run but recorded (systemctl start, useradd, a restore; programs that only read still run), the
 * cluster handle records the membership changes and waits instead of making them (cluster/), and a download only
 * says what it would fetch. Each phase observes and decides as in a real run; its act runs on that context (or, where
 * the phase says so, only describes itself), and the runner prints, per phase, what would have changed:
 *   [install] would: write /etc/etcd/etcd.env (0644, 1532 bytes)
 * Nothing on the host, in the cluster or in etcd's service changes.
 */
import { basename } from 'node:path';
import type { Host } from '../host/host.js';
import { MemoryHost, type MemoryChange } from '../host/memory.js';
import { cachedArchivePath, extractedDirOf, type DownloadResult, type ReleaseSpec } from '../release/index.js';
import type { DryRunNotes } from '../util/dry-run.js';

const SYSTEMCTL_READS = new Set(['is-active', 'is-enabled', 'is-failed', 'is-system-running', 'show', 'status', 'cat', 'list-units', 'list-timers', 'list-unit-files']);

/** Whether a program only reads (it runs in a dry run too). Pure. */
export function readsOnly(cmd: string, args: readonly string[]): boolean {
  const name = basename(cmd);
  if (name === 'systemctl') return args.some((a) => SYSTEMCTL_READS.has(a));
  if (name === 'journalctl' || name === 'getent' || name === 'systemd-analyze') return true;
  if (args.includes('--version') || args.includes('--help') || (args.length === 1 && args[0] === 'version')) return true;
  return /^(etcdutl|etcdctl)$/.test(name) && args[0] === 'snapshot' && args[1] === 'status';
}

/** One recorded change, in words. Pure. */
export function describeChange(c: MemoryChange): string {
  const mode = (m: number) => m.toString(8).padStart(4, '0');
  switch (c.op) {
    case 'write':
      return `write ${c.path} (${mode(c.mode)}, ${c.bytes} bytes${c.owner ? `, owned by ${c.owner}` : ''})`;
    case 'mkdir':
      return `create the directory ${c.path} (${mode(c.mode)})`;
    case 'remove':
      return `remove ${c.path}`;
    case 'remove-tree':
      return `remove ${c.path} and everything in it`;
    case 'rename':
      return `move ${c.from} to ${c.to}`;
    case 'chmod':
      return `chmod ${mode(c.mode)} ${c.path}`;
    case 'chown':
      return `chown ${c.tree ? '-R ' : ''}${c.owner} ${c.path}`;
    case 'symlink':
      return `point ${c.path} at ${c.target}`;
    case 'extract':
      return `extract ${c.archive} into ${c.dest}`;
    case 'copy-tree':
      return `copy ${c.from} to ${c.to}`;
    case 'exec':
      return `run ${c.argv.join(' ')}`;
    case 'user':
      return `create the system user ${c.name}`;
  }
}

export class DryRun implements DryRunNotes {
  private lines: string[] = [];

  note(line: string): void {
    this.lines.push(line);
  }

  /** What was recorded since the last call (the runner prints it under the phase that did it). */
  take(): string[] {
    return this.lines.splice(0);
  }

  /** The overlay host of a dry run over `base`. */
  host(base: Host): Host {
    return new MemoryHost({
      name: base.name,
      base,
      exec: (cmd, args) => (readsOnly(cmd, args) ? undefined : { code: 0, stdout: '', stderr: '' }),
      onChange: (c) => this.note(describeChange(c)),
    });
  }

  /** What a download would do: the cached archive (checked again by the real run), or the fetch and check. */
  async download(base: Host, spec: ReleaseSpec): Promise<DownloadResult> {
    const archivePath = cachedArchivePath(spec);
    const cached = await base.exists(archivePath);
    this.note(cached ? `use the cached etcd v${spec.version} archive ${archivePath} after checking its SHA-256` : `download etcd v${spec.version} from ${spec.releaseUrl} into ${archivePath} and check its SHA-256`);
    return { archivePath, sha256: '', fromCache: cached, extractedDir: extractedDirOf(archivePath) };
  }
}
