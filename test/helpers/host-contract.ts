/**
 * The Host contract (src/host/host.ts) as a test suite, run against every implementation: LocalHost, MemoryHost
 * and the SSH Host. Each implementation gives a fresh scratch directory on the host and, where it can, a way to kill
 * a write half-way (a process killed there for LocalHost, an injected fault for MemoryHost).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EtcdadmError } from '../../src/errors.js';
import type { Host } from '../../src/host/host.js';
import { Logger } from '../../src/log/logger.js';

const quietLogger = () => new Logger('error', 'text', { write: () => undefined, isTTY: false });

export interface ContractSubject {
  host: Host;
  /** A scratch directory on the host, empty. */
  root: string;
  /** Write `data` to `path` through this host and be killed half-way; resolves once the writer is gone. */
  killHalfway(path: string, data: string): Promise<void>;
  /** A uid/gid other than etcdadm's own that files may be given. */
  other: { name: string; uid: number; gid: number };
  done(): Promise<void>;
}

/** A .tar.gz with a top directory, files, a symlink and an entry the caller refuses. */
export function tarGz(entries: { path: string; type?: 'file' | 'dir' | 'symlink'; data?: string; mode?: number; target?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    const data = Buffer.from(e.data ?? '');
    h.write(e.path, 0, 100, 'utf8');
    h.write(`${(e.mode ?? (e.type === 'dir' ? 0o755 : 0o644)).toString(8).padStart(7, '0')}\0`, 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${(e.type === 'file' || !e.type ? data.length : 0).toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0', 156);
    if (e.target) h.write(e.target, 157, 100, 'utf8');
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h);
    if (e.type === 'file' || !e.type) {
      blocks.push(data);
      if (data.length % 512) blocks.push(Buffer.alloc(512 - (data.length % 512)));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export function hostContract(name: string, make: () => Promise<ContractSubject>): void {
  const withSubject = (fn: (s: ContractSubject) => Promise<void>) => async () => {
    const s = await make();
    try {
      await fn(s);
    } finally {
      await s.done();
    }
  };

  describe(`the Host contract: ${name}`, () => {
    it('writes atomically with exactly the mode and owner asked for, making missing parents 0755', withSubject(async ({ host, root, other }) => {
      const f = `${root}/a/b/key.pem`;
      await host.write(f, 'secret', { mode: 0o600 });
      assert.equal(await host.read(f), 'secret');
      assert.deepEqual([(await host.stat(f))?.kind, (await host.stat(f))?.mode], ['file', 0o600]);
      assert.equal((await host.stat(`${root}/a`))?.mode, 0o755);
      assert.equal((await host.stat(`${root}/a/b`))?.mode, 0o755);
      await host.write(f, 'wide', { mode: 0o666 }); // no umask narrows it
      assert.equal((await host.stat(f))?.mode, 0o666);
      await host.write(`${root}/owned`, 'x', { mode: 0o640, owner: other });
      const st = await host.stat(`${root}/owned`);
      assert.deepEqual([st?.uid, st?.gid, st?.mode], [other.uid, other.gid, 0o640]);
      assert.deepEqual(await host.list(`${root}/a/b`), ['key.pem']); // no temp file left
      assert.equal(await host.read(`${root}/missing`), undefined);
      assert.equal(await host.readBytes(`${root}/missing`), undefined);
      assert.equal(await host.stat(`${root}/missing/deeper`), undefined);
      assert.equal(await host.list(`${root}/missing`), undefined);
    }));

    it('a write killed half-way leaves the old file, and the next write clears what it left', withSubject(async ({ host, root, killHalfway }) => {
      const f = `${root}/etcd.env`;
      await host.write(f, 'OLD=1\n', { mode: 0o644 });
      await killHalfway(f, `NEW=${'x'.repeat(4096)}\n`);
      assert.equal(await host.read(f), 'OLD=1\n');
      const left = (await host.list(root))!.filter((n) => n !== 'etcd.env');
      assert.equal(left.length, 1, `the killed write's temp file: ${left.join(',')}`);
      assert.match(left[0]!, /^\.etcd\.env\.[0-9a-f]{12}\.tmp$/);
      await host.write(f, 'NEW=2\n', { mode: 0o644 });
      assert.deepEqual(await host.list(root), ['etcd.env']);
    }));

    it('never follows a symlink to change what it points at', withSubject(async ({ host, root, other }) => {
      await host.write(`${root}/target`, 'keep', { mode: 0o600 });
      await host.symlink(`${root}/target`, `${root}/link`);
      assert.equal((await host.stat(`${root}/link`))?.kind, 'symlink');
      assert.equal(await host.readlink(`${root}/link`), `${root}/target`);
      assert.equal(await host.read(`${root}/link`), 'keep'); // reads follow
      assert.equal(await host.realpath(`${root}/link`), `${root}/target`);
      await assert.rejects(host.chmod(`${root}/link`, 0o644));
      assert.equal((await host.stat(`${root}/target`))?.mode, 0o600);
      await host.chown(`${root}/link`, other);
      assert.equal((await host.stat(`${root}/target`))?.uid, 0);
      // chownTree does not follow a symlink inside the tree (nor to a directory)
      await host.mkdir(`${root}/outside`, 0o755);
      await host.write(`${root}/outside/f`, 'x', { mode: 0o644 });
      await host.mkdir(`${root}/tree/sub`, 0o700);
      await host.write(`${root}/tree/sub/own`, 'x', { mode: 0o600 });
      await host.symlink(`${root}/target`, `${root}/tree/to-file`);
      await host.symlink(`${root}/outside`, `${root}/tree/to-dir`);
      await host.chownTree(`${root}/tree`, other);
      for (const p of ['tree', 'tree/sub', 'tree/sub/own']) assert.equal((await host.stat(`${root}/${p}`))?.uid, other.uid, p);
      for (const p of ['target', 'outside', 'outside/f']) assert.equal((await host.stat(`${root}/${p}`))?.uid, 0, p);
      // a write to a symlink's path replaces the link
      await host.write(`${root}/link`, 'new', { mode: 0o644 });
      assert.equal((await host.stat(`${root}/link`))?.kind, 'file');
      assert.equal(await host.read(`${root}/target`), 'keep');
      // removing a tree leaves what its links point at
      await host.removeTree(`${root}/tree`);
      assert.equal(await host.stat(`${root}/tree`), undefined);
      assert.equal(await host.read(`${root}/outside/f`), 'x');
      assert.equal(await host.read(`${root}/target`), 'keep');
      // remove takes the link, not its target
      await host.symlink(`${root}/target`, `${root}/link2`);
      assert.equal(await host.remove(`${root}/link2`), true);
      assert.equal(await host.read(`${root}/target`), 'keep');
      assert.equal(await host.remove(`${root}/link2`), false);
    }));

    it('makes directories with exact modes and says whether it made them; renames; replaces symlinks', withSubject(async ({ host, root }) => {
      assert.equal(await host.mkdir(`${root}/x/y/data`, 0o700), true);
      assert.equal((await host.stat(`${root}/x/y/data`))?.mode, 0o700);
      assert.equal((await host.stat(`${root}/x/y`))?.mode, 0o755);
      assert.equal(await host.mkdir(`${root}/x/y/data`, 0o700), false);
      await host.chmod(`${root}/x/y/data`, 0o750);
      assert.equal((await host.stat(`${root}/x/y/data`))?.mode, 0o750);
      const t = await host.mkdtemp(`${root}/x/.tmp-`);
      assert.equal((await host.stat(t))?.mode, 0o700);
      assert.ok(t.startsWith(`${root}/x/.tmp-`));
      await host.write(`${t}/f`, 'in temp');
      await host.rename(t, `${root}/x/placed`);
      assert.equal(await host.read(`${root}/x/placed/f`), 'in temp');
      assert.equal(await host.stat(t), undefined);
      await host.symlink('placed/f', `${root}/x/current`);
      await host.symlink('y', `${root}/x/current`); // replaced, not refused
      assert.equal(await host.readlink(`${root}/x/current`), 'y');
      assert.equal(await host.readlink(`${root}/x/placed`), undefined);
      assert.equal(await host.exists(`${root}/x/current/data`), true);
      assert.ok((await host.freeBytes(`${root}/x/not/yet`)) > 0);
      assert.equal(await host.writeProblem(`${root}/x`), undefined);
      assert.match((await host.writeProblem(`${root}/x/nope`)) ?? '', /^ENOENT/);
    }));

    it('copies a tree whole (modes, symlinks) and counts its bytes', withSubject(async ({ host, root }) => {
      await host.mkdir(`${root}/src/member/wal`, 0o700);
      await host.write(`${root}/src/member/wal/0.wal`, 'w'.repeat(1000), { mode: 0o600 });
      await host.write(`${root}/src/member/snap`, 's'.repeat(24), { mode: 0o640 });
      await host.symlink('member/snap', `${root}/src/link`);
      assert.equal(await host.treeBytes(`${root}/src`), 1024);
      await host.copyTree(`${root}/src`, `${root}/copy`, 0o700);
      assert.equal(await host.read(`${root}/copy/member/wal/0.wal`), 'w'.repeat(1000));
      assert.equal((await host.stat(`${root}/copy/member/snap`))?.mode, 0o640);
      assert.equal(await host.readlink(`${root}/copy/link`), 'member/snap');
      assert.equal((await host.stat(`${root}/copy`))?.mode, 0o700);
      await assert.rejects(host.copyTree(`${root}/src`, `${root}/copy`, 0o700));
      // link: the same tree (files linked where the filesystem allows), the top dir's mode as asked
      await host.copyTree(`${root}/src`, `${root}/linked`, 0o755, { link: true });
      assert.equal(await host.read(`${root}/linked/member/wal/0.wal`), 'w'.repeat(1000));
      assert.equal((await host.stat(`${root}/linked/member/snap`))?.mode, 0o640);
      assert.equal(await host.readlink(`${root}/linked/link`), 'member/snap');
      assert.equal((await host.stat(`${root}/linked`))?.mode, 0o755);
      await assert.rejects(host.copyTree(`${root}/src`, `${root}/linked`, 0o755, { link: true }));
    }));

    it('writes streams to a temp file, in place only at commit; aborts leave nothing; exclusive never overwrites', withSubject(async ({ host, root }) => {
      const f = `${root}/snap.db`;
      const w = await host.writeStream(f, { mode: 0o600, exclusive: true });
      const chunks = Array.from({ length: 40 }, (_v, i) => Buffer.alloc(64 << 10, i));
      await pipeline(Readable.from(chunks), w.sink);
      assert.equal(await host.stat(f), undefined, 'nothing at the path before commit');
      assert.equal(await w.commit(), 40 * (64 << 10));
      assert.deepEqual([(await host.stat(f))?.size, (await host.stat(f))?.mode], [40 * (64 << 10), 0o600]);
      const whole = createHash('sha256');
      for await (const c of host.readStream(f)) whole.update(c);
      assert.equal(whole.digest('hex'), createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
      const part: Buffer[] = [];
      for await (const c of host.readStream(f, { start: (64 << 10) - 2, end: (64 << 10) + 1 })) part.push(Buffer.from(c));
      assert.deepEqual([...Buffer.concat(part)], [0, 0, 1, 1]);
      assert.deepEqual([...(await host.readRange(f, 64 << 10, 3))], [1, 1, 1]);
      assert.equal((await host.readRange(f, 40 * (64 << 10) - 2, 10)).length, 2);
      // exclusive: refused over an existing file, which stays
      const again = await host.writeStream(f, { mode: 0o600, exclusive: true });
      again.sink.write(Buffer.from('other'));
      await assert.rejects(again.commit());
      assert.equal((await host.stat(f))?.size, 40 * (64 << 10));
      // abort: no temp file, no file
      const gone = await host.writeStream(`${root}/aborted.db`, { mode: 0o600 });
      gone.sink.write(Buffer.from('partial'));
      await gone.abort();
      assert.deepEqual(await host.list(root), ['snap.db']);
      // not exclusive: replaces
      const over = await host.writeStream(f, { mode: 0o644 });
      over.sink.end(Buffer.from('small'));
      await over.commit();
      assert.equal(await host.read(f), 'small');
    }));

    it('extracts a .tar.gz with its top directory stripped, refusing what the caller refuses', withSubject(async ({ host, root }) => {
      await host.write(`${root}/r.tar.gz`, tarGz([
        { path: 'etcd-v9.9.9/', type: 'dir' },
        { path: 'etcd-v9.9.9/etcd', data: '#!etcd', mode: 0o755 },
        { path: 'etcd-v9.9.9/docs/README.md', data: 'docs' },
        { path: 'etcd-v9.9.9/latest', type: 'symlink', target: 'etcd' },
        { path: 'etcd-v9.9.9/evil', data: 'no' },
      ]));
      await host.mkdir(`${root}/out`, 0o755);
      const refused = await host.extract(`${root}/r.tar.gz`, `${root}/out`, { strip: 1, refuse: (e) => (e.path.endsWith('evil') ? `${e.path}: refused` : undefined) });
      assert.deepEqual(refused, ['etcd-v9.9.9/evil: refused']);
      assert.deepEqual(await host.list(`${root}/out`), ['docs', 'etcd', 'latest']);
      assert.equal(await host.read(`${root}/out/etcd`), '#!etcd');
      assert.equal((await host.stat(`${root}/out/etcd`))?.mode, 0o755);
      assert.equal(await host.readlink(`${root}/out/latest`), 'etcd');
      assert.equal(await host.read(`${root}/out/docs/README.md`), 'docs');
    }));

    it('runs programs with a deadline and without AWS_* from etcdadm', withSubject(async ({ host }) => {
      const r = await host.exec('sh', ['-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
      process.env.AWS_SECRET_ACCESS_KEY = 'must-not-leak';
      try {
        const env = await host.exec('env', [], { env: { EXTRA: 'yes' } });
        assert.doesNotMatch(env.stdout, /AWS_SECRET_ACCESS_KEY|must-not-leak/);
        assert.match(env.stdout, /^EXTRA=yes$/m);
      } finally {
        delete process.env.AWS_SECRET_ACCESS_KEY;
      }
      const t0 = Date.now();
      await assert.rejects(host.exec('sleep', ['5'], { timeoutMs: 300 }), (e: unknown) => e instanceof EtcdadmError && /sleep 5 did not finish within 300 ms/.test(e.message));
      assert.ok(Date.now() - t0 < 3000);
    }));

    it('locks: one holder per path, named to the next; free again after release', withSubject(async ({ host, root }) => {
      const l = await host.lock(`${root}/etcdadm.lock`, 'init');
      await assert.rejects(host.lock(`${root}/etcdadm.lock`, 'join'), (e: unknown) => e instanceof EtcdadmError && /another etcdadm command is changing this host: .*init.* holds /.test(e.message));
      await l.release();
      await (await host.lock(`${root}/etcdadm.lock`, 'reset')).release();
    }));

    it('creates the service user once and looks users up', withSubject(async ({ host, other }) => {
      assert.deepEqual(await host.lookupUser('root'), { name: 'root', uid: 0, gid: 0 });
      assert.equal((await host.lookupUser(other.name))?.uid, other.uid);
      assert.equal(await host.lookupUser('etcdadm-no-such-user'), undefined);
      assert.equal((await host.ensureServiceUser(other.name, '/nonexistent', quietLogger())).uid, other.uid);
    }));
  });
}
