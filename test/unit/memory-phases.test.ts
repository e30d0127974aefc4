/**
 * init's phases up to start, join's certificates phase and reset's cleanup on MemoryHosts (test/helpers/memory-run.ts)
 * leave exactly the trees that the same phases leave on lab hosts (test/fixtures/phase-trees.json, checked against real
 * hosts by test/e2e/workflows.test.ts). The phases run in a process of an unprivileged user, which cannot write to
 * /etc, /opt or /var: a phase that touched this machine instead of going through the Host would fail there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { REPO } from '../helpers/lab.js';
import type { TreeEntry } from '../helpers/tree.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const unprivileged = asRoot ? { uid: NOBODY, gid: NOBODY } : {};

// the program, bundled into one file an unprivileged user can read wherever the repository is
const dir = mkdtempSync(join(tmpdir(), 'etcdadm-memory-run-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('phases on MemoryHosts, as an unprivileged user', () => {
  it('that user cannot write to /etc, /opt or /var on this machine', () => {
    for (const dir of ['/etc', '/opt', '/var/lib']) {
      const r = spawnSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(`${dir}/etcdadm-probe-${process.pid}`)}, 'x')`], { ...unprivileged, encoding: 'utf8' });
      assert.notEqual(r.status, 0, `${dir} must not be writable`);
      assert.match(r.stderr, /EACCES|EROFS|EPERM/);
    }
  });

  it("init up to start, join's certificates and reset's cleanup leave the trees lab hosts show", async () => {
    const program = join(dir, 'memory-run.mjs');
    await build({ entryPoints: [join(REPO, 'test/helpers/memory-run.ts')], bundle: true, platform: 'node', target: 'node20', format: 'esm', outfile: program, logLevel: 'error', banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
    chmodSync(dir, 0o755);
    chmodSync(program, 0o644);
    const r = spawnSync(process.execPath, [program, 'run'], { ...unprivileged, cwd: '/', encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as Record<string, TreeEntry[]>;
    const want = JSON.parse(readFileSync(join(REPO, 'test/fixtures/phase-trees.json'), 'utf8')) as Record<string, TreeEntry[]>;
    for (const name of ['init', 'joinCertificates', 'resetCleanup']) assert.deepEqual(got[name], want[name], name);
    assert.ok(want.init!.some((e) => e.path === '/etc/etcd/pki/ca.key' && e.mode === 0o600));
    assert.ok(want.init!.some((e) => e.path === '/opt/bin/etcd' && e.target === 'etcd-v3.6.16/etcd'));
  });
});
