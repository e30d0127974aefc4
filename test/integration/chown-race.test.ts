/**
 * The attack on the data dir's chown, reproduced: the service user owns the data dir, so while root hands a tree to
 * it (init/join chown the data dir to etcd), it can swap an entry for a symlink to a file it wants (here a root-only
 * "secret" standing for /etc/shadow). A racer process swaps entries between a directory or file and such a symlink
 * in a tight loop while the tree is chowned again and again. A naive walk (stat, then chown by path: both follow
 * symlinks) is run first under the same race and must be caught handing the secret over — the proof the race is
 * real — and then the Host's chownTree (src/host/files.ts: descriptors opened without following, walked through
 * /proc/self/fd) must never touch it, while still chowning the tree's own files. Root only (chown); temp dirs and the
 * racer (killed by PID) are cleaned up.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, lstat, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chownTreeSafe } from '../../src/host/files.js';

const NOBODY = { name: 'nobody', uid: 65534, gid: 65534 };
let root: string;
let racer: ChildProcess | undefined;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'etcdadm-chown-race-'));
});
after(async () => {
  if (racer?.pid) process.kill(racer.pid, 'SIGKILL');
  await rm(root, { recursive: true, force: true });
});

/** A fresh tree (data/a/f, data/g) and a root-only victim (victim/secret) next to it. */
async function setUp(): Promise<{ data: string; victim: string; secret: string }> {
  const base = await mkdtemp(join(root, 'case-'));
  const data = join(base, 'data');
  const victim = join(base, 'victim');
  await mkdir(join(data, 'a'), { recursive: true });
  await writeFile(join(data, 'a/f'), 'member');
  await writeFile(join(data, 'g'), 'wal');
  await mkdir(victim, { mode: 0o700 });
  await writeFile(join(victim, 'secret'), 'root:$y$...', { mode: 0o600 });
  return { data, victim, secret: join(victim, 'secret') };
}

/** The swapper: `a` (a directory) and `g` (a file) become symlinks to the victim and back, as fast as bash goes. */
function startRacer(data: string): ChildProcess {
  const script = 'cd "$1" && while :; do rm -rf a; ln -s ../victim a; rm -f a; mkdir a; : > a/f; rm -f g; ln -s ../victim/secret g; rm -f g; : > g; done';
  return spawn('bash', ['-c', script, 'racer', data], { stdio: 'ignore' });
}

/** chown -R as a careless program writes it: stat and chown follow symlinks, by path. */
async function naiveChownTree(path: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return;
  await chown(path, NOBODY.uid, NOBODY.gid).catch(() => undefined);
  if (st.isDirectory()) for (const n of await readdir(path).catch(() => [])) await naiveChownTree(join(path, n));
}

const owner = async (p: string) => (await lstat(p)).uid;

describe('chownTree while the tree is being swapped for symlinks', () => {
  it('the race is real: a naive walk hands the root-only file over', { timeout: 60_000 }, async () => {
    const { data, victim, secret } = await setUp();
    racer = startRacer(data);
    try {
      let caught = false;
      for (let i = 0; i < 20_000 && !caught; i++) {
        await naiveChownTree(data);
        caught = (await owner(victim)) === NOBODY.uid || (await owner(secret)) === NOBODY.uid;
      }
      assert.ok(caught, 'the naive walk chowned the victim under the race');
    } finally {
      process.kill(racer.pid!, 'SIGKILL');
      racer = undefined;
    }
  });

  it("the Host's chownTree never follows the swapped entries, and still chowns the tree", { timeout: 60_000 }, async () => {
    const { data, victim, secret } = await setUp();
    racer = startRacer(data);
    let runs = 0;
    try {
      const until = Date.now() + 5_000;
      while (Date.now() < until) {
        await chownTreeSafe(data, NOBODY);
        runs++;
        assert.equal(await owner(victim), 0, `after run ${runs}: the victim dir is root's`);
        assert.equal(await owner(secret), 0, `after run ${runs}: the secret is root's`);
      }
    } finally {
      process.kill(racer.pid!, 'SIGKILL');
      racer = undefined;
    }
    assert.ok(runs > 50, `${runs} runs under the race`);
    // with the racer gone: the tree itself is handed over whole
    await rm(join(data, 'a'), { recursive: true, force: true });
    await rm(join(data, 'g'), { force: true });
    await mkdir(join(data, 'a'));
    await writeFile(join(data, 'a/f'), 'member');
    await chownTreeSafe(data, NOBODY);
    for (const p of [data, join(data, 'a'), join(data, 'a/f')]) assert.equal(await owner(p), NOBODY.uid, p);
    assert.equal(await owner(secret), 0);
  });
});
