/**
 * The Host contract (test/helpers/host-contract.ts) against LocalHost (a scratch directory on this machine; a write
 * killed half-way by SIGKILL in a child process held at that point) and against MemoryHost (the kill injected as a
 * fault), and the MemoryHost as an overlay over a real host (what dry runs use): reads fall through, nothing changes
 * below, every change is reported.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, symlinkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExecResult } from '../../src/host/host.js';
import { LocalHost } from '../../src/host/local.js';
import { MemoryHost, type MemoryChange } from '../../src/host/memory.js';
import { hostContract } from '../helpers/host-contract.js';
import { REPO } from '../helpers/lab.js';

const NOBODY = { name: 'nobody', uid: 65534, gid: 65534 };

/** A child process writes through LocalHost, holds half-way (ETCDADM_TEST_HOLD=write:<path>) and is SIGKILLed there. */
function killLocalWriteHalfway(path: string, data: string): Promise<void> {
  const script = `import(${JSON.stringify(join(REPO, 'build/src/host/local.js'))}).then(({ LocalHost }) => new LocalHost().write(${JSON.stringify(path)}, ${JSON.stringify(data)}))`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ETCDADM_TEST_HOLD: `write:${path}` }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes(`etcdadm-test-hold write:${path}`)) child.kill('SIGKILL');
    });
    child.on('close', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the writer was not killed at the hold: ${err}`))));
  });
}

hostContract('LocalHost', async () => {
  const root = mkdtempSync(join(tmpdir(), 'etcdadm-host-'));
  return {
    host: new LocalHost(),
    root,
    killHalfway: killLocalWriteHalfway,
    other: NOBODY,
    done: async () => rmSync(root, { recursive: true, force: true }),
  };
});

/** The few programs the contract runs, answered the way the real ones answer. */
function programs(cmd: string, args: string[], opts: { env?: Record<string, string> }): ExecResult | Promise<ExecResult> | undefined {
  if (cmd === 'sh' && args[1] === 'echo out; echo err >&2; exit 3') return { code: 3, stdout: 'out\n', stderr: 'err\n' };
  if (cmd === 'env') return { code: 0, stdout: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}\n`).join(''), stderr: '' };
  if (cmd === 'sleep') return new Promise((r) => setTimeout(() => r({ code: 0, stdout: '', stderr: '' }), Number(args[0]) * 1000).unref());
  return undefined;
}

hostContract('MemoryHost', async () => {
  let failing: string | undefined;
  const host = new MemoryHost({ exec: programs, users: [NOBODY], failWriteHalfway: (p) => p === failing });
  await host.mkdir('/scratch', 0o755);
  return {
    host,
    root: '/scratch',
    killHalfway: async (path, data) => {
      failing = path;
      await assert.rejects(host.write(path, data));
      failing = undefined;
    },
    other: NOBODY,
    done: async () => undefined,
  };
});

describe('MemoryHost over a real host (the dry-run overlay)', () => {
  it('reads through to the host, keeps every change in memory, reports each one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'etcdadm-overlay-'));
    try {
      mkdirSync(join(root, 'etc/etcd/pki'), { recursive: true });
      writeFileSync(join(root, 'etc/etcd/etcd.env'), 'OLD=1\n');
      writeFileSync(join(root, 'etc/etcd/pki/ca.crt'), 'CA');
      mkdirSync(join(root, 'var/lib/etcd/member'), { recursive: true });
      writeFileSync(join(root, 'var/lib/etcd/member/db'), 'data');
      symlinkSync('etcd.env', join(root, 'etc/etcd/link'));
      const changes: MemoryChange[] = [];
      const o = new MemoryHost({ base: new LocalHost(), onChange: (c) => changes.push(c) });
      assert.equal(await o.read(join(root, 'etc/etcd/etcd.env')), 'OLD=1\n');
      assert.equal(await o.read(join(root, 'etc/etcd/link')), 'OLD=1\n');
      await o.write(join(root, 'etc/etcd/etcd.env'), 'NEW=1\n', { mode: 0o600 });
      await o.write(join(root, 'etc/etcd/pki/server.key'), 'k', { mode: 0o600 });
      await o.rename(join(root, 'var/lib/etcd'), join(root, 'var/lib/etcd.bak'));
      await o.removeTree(join(root, 'etc/etcd/pki'));
      // the overlay sees its changes
      assert.equal(await o.read(join(root, 'etc/etcd/etcd.env')), 'NEW=1\n');
      assert.equal((await o.stat(join(root, 'etc/etcd/etcd.env')))?.mode, 0o600);
      assert.equal(await o.read(join(root, 'var/lib/etcd.bak/member/db')), 'data');
      assert.equal(await o.stat(join(root, 'var/lib/etcd')), undefined);
      assert.equal(await o.stat(join(root, 'etc/etcd/pki/ca.crt')), undefined);
      assert.deepEqual(await o.list(join(root, 'var/lib')), ['etcd.bak']);
      assert.deepEqual(await o.list(join(root, 'etc/etcd')), ['etcd.env', 'link']);
      // the host below is as it was
      assert.equal(readFileSync(join(root, 'etc/etcd/etcd.env'), 'utf8'), 'OLD=1\n');
      assert.equal(statSync(join(root, 'etc/etcd/pki/ca.crt')).isFile(), true);
      assert.deepEqual(readdirSync(join(root, 'var/lib')), ['etcd']);
      assert.deepEqual(readdirSync(join(root, 'etc/etcd/pki')), ['ca.crt']);
      assert.deepEqual(
        changes.map((c) => c.op),
        ['write', 'write', 'rename', 'remove-tree'],
      );
      assert.deepEqual(changes[0], { op: 'write', path: join(root, 'etc/etcd/etcd.env'), mode: 0o600, bytes: 6 });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
