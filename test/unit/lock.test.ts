import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireHostLock } from '../../src/host/lock.js';
import { EtcdadmError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'etcdadm-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('host lock', () => {
  it('is exclusive while held and free after release', async () => {
    const path = join(dir, 'a.lock');
    const lock = await acquireHostLock(path, 'init');
    assert.match(readFileSync(path, 'utf8'), new RegExp(`^${process.pid} \\d+ init\\n$`));
    await assert.rejects(acquireHostLock(path, 'join'), (e: unknown) => e instanceof EtcdadmError && /another etcdadm command is changing this host: PID \d+ \(init\)/.test(e.message));
    await lock.release();
    assert.equal(existsSync(path), false);
    await (await acquireHostLock(path, 'reset')).release();
  });
  it('takes over the lock of a process that is gone', async () => {
    const path = join(dir, 'b.lock');
    const child = spawn('true');
    const pid = child.pid!;
    await new Promise((r) => child.on('close', r));
    writeFileSync(path, `${pid} 12345 init\n`);
    const lock = await acquireHostLock(path, 'join');
    assert.match(readFileSync(path, 'utf8'), / join\n$/);
    await lock.release();
  });
  it('takes over a lock whose PID now belongs to another process (PID reuse)', async () => {
    const path = join(dir, 'c.lock');
    writeFileSync(path, `${process.pid} 1 init\n`); // our PID, but not our start time
    await (await acquireHostLock(path, 'join')).release();
  });
});

describe('host lock: owners that are gone', () => {
  it('takes over the lock of a zombie (a SIGKILLed etcdadm nobody reaped, under a PID 1 that does not reap)', async () => {
    const path = join(dir, 'z.lock');
    // sh forks `sleep 0` and execs a long sleep that never waits for it: the child stays a zombie (state Z)
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number((await new Promise<Buffer>((r) => parent.stdout.once('data', r))).toString().trim());
      let stat = '';
      for (let i = 0; i < 100 && !/\) Z /.test(stat); i++) {
        await new Promise((r) => setTimeout(r, 20));
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      }
      assert.match(stat, /\) Z /, 'the child is a zombie');
      const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      writeFileSync(path, `${pid} ${started} init\n`);
      const lock = await acquireHostLock(path, 'join');
      assert.match(readFileSync(path, 'utf8'), / join\n$/);
      await lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
