/**
 * The etcdadm executable put on a host reached over SSH, before its agent can run there (apply: the hosts need
 * nothing but sshd, root or sudo, and systemd). Checked by SHA-256 first and copied only when it differs or is
 * missing: streamed over the master connection into a temp file beside the target, given 0755, synced, its hash
 * checked on the host, then renamed over the target — a reader (or a crash) sees the old executable or the new one.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EtcdadmError } from '../errors.js';
import { shellQuote, type SshTransport } from './ssh-transport.js';

export type InstallOutcome = { kind: 'same'; sha256: string } | { kind: 'copied'; sha256: string; bytes: number; previous?: string };

const localHashes = new Map<string, Promise<string>>();

/** The SHA-256 of a local file, hex; computed once per file version in this process (apply asks once per host). */
export async function sha256File(path: string): Promise<string> {
  const st = await stat(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  let h = localHashes.get(key);
  if (!h) {
    h = readFile(path).then((b) => createHash('sha256').update(b).digest('hex'));
    localHashes.set(key, h);
  }
  return h;
}

/**
 * Where a host keeps the SHA-256 of its etcdadm executable with the file's identity (size, inode, modification and
 * change times to the nanosecond): while the file is unchanged the hash is read from there instead of hashing
 * ~90 MB again on every apply (the way git trusts its index). Any change to the file changes its ctime.
 */
export const REMOTE_HASH_FILE = '/var/lib/etcdadm/executable.sha256';

/** The shell that prints the file's identity (stat: size, inode, mtime, ctime with nanoseconds). */
const IDENTITY = `stat -c '%s %i %y %z' "$f"`;

/**
 * What is at `remotePath` on the host: its SHA-256, or undefined when there is no file. From REMOTE_HASH_FILE while
 * the file is unchanged; else hashed there, and (`remember`, never in a dry run) noted in REMOTE_HASH_FILE.
 */
export async function remoteSha256(t: SshTransport, sudo: boolean, remotePath: string, opts: { remember?: boolean; hashFile?: string } = {}): Promise<string | undefined> {
  const script =
    `f=$1; m=$2; test -f "$f" || exit 3; k=$(${IDENTITY}); ` +
    'if [ -f "$m" ] && [ "$(head -n1 "$m")" = "$k" ]; then sed -n 2p "$m"; exit 0; fi; ' +
    'h=$(sha256sum "$f" | cut -d" " -f1); ' +
    'if [ "$3" = remember ]; then mkdir -p "$(dirname "$m")"; printf "%s\n%s\n" "$k" "$h" > "$m.new" && mv -f "$m.new" "$m"; fi; echo "$h"';
  const r = await t.run(['sh', '-c', script, 'sh', remotePath, opts.hashFile ?? REMOTE_HASH_FILE, opts.remember ? 'remember' : 'no'], { sudo, timeoutMs: 60_000 });
  if (r.code === 3) return undefined;
  const m = /^([0-9a-f]{64})\s*$/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new EtcdadmError(`cannot read the SHA-256 of ${remotePath} on ${t.label}: ${r.stderr.trim() || `exit ${r.code}`}`, { hint: 'the host needs sha256sum and stat (coreutils)' });
  return m[1];
}

/**
 * `localPath` streamed to `remotePath` on the host in one remote shell over the master connection (no agent, no
 * encoding: ssh's own channel): received into a temp file beside the target, given `mode`, synced (unless `durable`
 * is false: a cache file whose reader verifies it), its SHA-256 checked on arrival when `sha256` is given, renamed
 * over the target (the directory synced), then `then` (a shell snippet with the target as $1); the temp file removed
 * on any failure.
 */
export async function uploadFile(t: SshTransport, sudo: boolean, localPath: string, remotePath: string, opts: { mode: number; sha256?: string; what: string; then?: string; durable?: boolean }): Promise<void> {
  const tmp = `${dirname(remotePath)}/.etcdadm.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}.new`;
  const sync = (what: string) => (opts.durable === false ? '' : `sync ${what}; `);
  const check = opts.sha256
    ? `got=$(sha256sum "$tmp" | cut -d" " -f1); [ "$got" = ${shellQuote(opts.sha256)} ] || { echo "the copy arrived with SHA-256 $got, not ${opts.sha256}" >&2; exit 4; }; `
    : '';
  const script =
    `set -e; dest=$1; tmp=$2; mkdir -p "$(dirname "$dest")"; trap 'rm -f "$tmp"' EXIT; umask 022; cat > "$tmp"; chmod ${opts.mode.toString(8)} "$tmp"; ${sync('"$tmp"')}` +
    `${check}mv -f "$tmp" "$dest"; trap - EXIT; ${sync('"$(dirname "$dest")"')}set -- "$dest"; ${opts.then ?? 'true'}`;
  const child = t.spawn(['sh', '-c', script, 'sh', remotePath, tmp], sudo);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  await pipeline(createReadStream(localPath), child.stdin).catch(() => undefined); // a failure shows in the exit code
  const code = await exited;
  if (code !== 0) throw new EtcdadmError(`copying ${opts.what} to ${remotePath} on ${t.label} failed: ${stderr.trim().split('\n').pop() || `exit ${code}`}`, { hint: 'check free space and that the directory is writable there' });
}

/**
 * `localPath` at `remotePath` on the host (0755, root's), copied only when its SHA-256 differs; `dryRun`: say what
 * would be done, copy nothing.
 */
export async function ensureRemoteExecutable(t: SshTransport, sudo: boolean, localPath: string, remotePath: string, opts: { dryRun?: boolean; hashFile?: string } = {}): Promise<InstallOutcome> {
  const want = await sha256File(localPath);
  const have = await remoteSha256(t, sudo, remotePath, { remember: !opts.dryRun, ...(opts.hashFile ? { hashFile: opts.hashFile } : {}) });
  if (have === want) return { kind: 'same', sha256: want };
  const bytes = (await stat(localPath)).size;
  if (opts.dryRun) return { kind: 'copied', sha256: want, bytes, ...(have ? { previous: have } : {}) };
  // its hash noted beside it for the next apply (REMOTE_HASH_FILE)
  const note = `f=$1; m=${shellQuote(opts.hashFile ?? REMOTE_HASH_FILE)}; mkdir -p "$(dirname "$m")"; printf "%s\\n%s\\n" "$(${IDENTITY})" ${shellQuote(want)} > "$m.new" && mv -f "$m.new" "$m"`;
  await uploadFile(t, sudo, localPath, remotePath, { mode: 0o755, sha256: want, what: 'etcdadm', then: note });
  return { kind: 'copied', sha256: want, bytes, ...(have ? { previous: have } : {}) };
}
