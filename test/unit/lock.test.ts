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
