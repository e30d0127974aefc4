/**
 * The run's journal (src/run/journal.ts) on a MemoryHost: every kind of change made through the journaled host is
 * undone by a rollback, leaving exactly the tree (paths, kinds, modes, owners, bytes) there was before; data a run's
 * directory came to hold is moved aside, never deleted; a tree removed during the run is only gone for good once the
 * run commits; services and timers come back in the state they were in, after their files.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Plan } from '../../src/config/types.js';
import type { InitSystem, SystemdTimers, TimerState } from '../../src/initsystem/index.js';
import { MemoryHost } from '../../src/host/memory.js';
import { Logger } from '../../src/log/logger.js';
import { Journal, JournaledHost, journaledInit, journaledTimers } from '../../src/run/journal.js';
import { tarGz } from '../helpers/host-contract.js';

const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });
const ETCD = { name: 'etcd', uid: 990, gid: 990 };

async function snapshot(h: MemoryHost): Promise<string> {
  const rows = await h.tree('/');
  const out: string[] = [];
  for (const r of rows) out.push(`${r.path} ${r.kind} ${r.mode.toString(8)} ${r.uid}:${r.gid} ${r.kind === 'file' ? ((await h.read(r.path)) ?? '') : (r.target ?? '')}`);
  return out.join('\n');
}

async function seeded(): Promise<MemoryHost> {
  const h = new MemoryHost({ users: [ETCD], exec: () => ({ code: 0, stdout: '', stderr: '' }) });
  await h.write('/etc/etcd/etcd.env', 'OLD=1\n', { mode: 0o644 });
  await h.write('/etc/etcd/pki/ca.key', 'KEY', { mode: 0o600 });
  await h.write('/var/lib/etcd/member/db', 'data', { mode: 0o600 });
  await h.chmod('/var/lib/etcd', 0o700);
  await h.mkdir('/opt/bin/etcd-v3.5.30', 0o755);
  await h.write('/opt/bin/etcd-v3.5.30/etcd', '#!etcd 3.5.30', { mode: 0o755 });
  await h.symlink('etcd-v3.5.30/etcd', '/opt/bin/etcd');
  await h.write('/srv/r.tar.gz', tarGz([{ path: 'etcd-v3.6.16/etcd', data: '#!etcd 3.6.16', mode: 0o755 }]));
  return h;
}

describe('the run journal', () => {
  it('rolls back every kind of change through the host, to exactly the tree there was', async () => {
    const h = await seeded();
    const before = await snapshot(h);
    const j = new Journal();
    const jh = new JournaledHost(h, j);
    await jh.write('/etc/etcd/etcd.env', 'NEW=1\n', { mode: 0o600 }); // replaced
    await jh.write('/etc/etcd/etcdctl.env', 'X=1\n'); // new
    await jh.write('/etc/systemd/system/etcd.service', '[Unit]\n'); // new, in a new directory tree
    await jh.mkdir('/var/backups/etcdadm', 0o700);
    await jh.remove('/etc/etcd/pki/ca.key');
    await jh.chmod('/etc/etcd/etcd.env', 0o640);
    await jh.chownTree('/var/lib/etcd', ETCD);
    await jh.chown('/opt/bin/etcd-v3.5.30/etcd', ETCD);
    const tmp = await jh.mkdtemp('/opt/bin/.etcd-v3.6.16.tmp-');
    await jh.extract('/srv/r.tar.gz', tmp, { strip: 1 });
    await jh.rename(tmp, '/opt/bin/etcd-v3.6.16');
    await jh.symlink('etcd-v3.6.16/etcd', '/opt/bin/etcd');
    await jh.removeTree('/opt/bin/etcd-v3.5.30');
    await jh.copyTree('/var/lib/etcd', '/var/lib/etcd.copy', 0o700);
    await jh.ensureServiceUser('etcd2', '/var/lib/etcd', quiet);
    assert.notEqual(await snapshot(h), before);
    assert.ok(j.count >= 14);
    await j.rollback(quiet);
    assert.equal(await snapshot(h), before);
  });

  it('moves aside a directory the run made once something else was put in it; never deletes its content', async () => {
    const h = await seeded();
    const j = new Journal();
    const jh = new JournaledHost(h, j);
    await jh.mkdir('/var/lib/etcd2', 0o700);
    await h.write('/var/lib/etcd2/member/wal/0.wal', 'written by etcd'); // not through the journal: etcd's own
    await j.rollback(quiet);
    assert.equal(await h.stat('/var/lib/etcd2'), undefined);
    const aside = (await h.list('/var/lib'))!.find((n) => n.startsWith('etcd2.bak-'));
    assert.ok(aside, 'moved aside');
    assert.equal(await h.read(`/var/lib/${aside}/member/wal/0.wal`), 'written by etcd');
  });

  it('a file or tree removed by a run that succeeds is gone once it commits, and only then; the run does not see it', async () => {
    const h = await seeded();
    const j = new Journal();
    const jh = new JournaledHost(h, j);
    await jh.removeTree('/var/lib/etcd');
    await jh.remove('/etc/etcd/etcd.env');
    assert.equal(await h.stat('/var/lib/etcd'), undefined);
    const trash = (await h.list('/var/lib'))!;
    assert.equal(trash.length, 1);
    assert.match(trash[0]!, /^\.etcd\.removed-[0-9a-f]{8}$/);
    assert.deepEqual(await jh.list('/var/lib'), [], 'the run sees it gone');
    assert.deepEqual(await jh.list('/etc/etcd'), ['pki']);
    assert.equal((await h.list('/etc/etcd'))!.length, 2, 'moved aside, not deleted yet');
    await j.commit(quiet);
    assert.deepEqual(await h.list('/var/lib'), []);
    assert.deepEqual(await h.list('/etc/etcd'), ['pki']);
    await j.rollback(quiet); // nothing is left to undo
    assert.deepEqual(await h.list('/var/lib'), []);
  });

  it('puts services and timers back as they were, after their files', async () => {
    const calls: string[] = [];
    let active = true;
    const h = await seeded();
    const plan = { service: { unitName: 'etcd.service' } } as unknown as Plan;
    const init: InitSystem = {
      name: 'systemd',
      configure: async () => void calls.push('configure'),
      reload: async () => void calls.push(`reload(env=${(await h.read('/etc/etcd/etcd.env'))?.trim()})`),
      start: async () => void ((active = true), calls.push('start')),
      stop: async () => void ((active = false), calls.push('stop')),
      restart: async () => void calls.push(`restart(env=${(await h.read('/etc/etcd/etcd.env'))?.trim()})`),
      isActive: async () => active,
      isInstalled: async () => true,
      remove: async () => void calls.push('remove'),
      down: async () => undefined,
      logHint: () => '',
    };
    const state: Record<string, TimerState> = { 'b.timer': { enabled: 'disabled', active: 'inactive' }, 'r.timer': { enabled: 'enabled', active: 'active' } };
    const timers: SystemdTimers = {
      available: async () => true,
      install: async () => void calls.push('install'),
      reload: async () => void calls.push('timers-reload'),
      enableNow: async (t) => void ((state[t] = { enabled: 'enabled', active: 'active' }), calls.push(`enable ${t}`)),
      disableNow: async (us) => void (us.forEach((u) => (state[u] = { enabled: 'disabled', active: 'inactive' })), calls.push(`disable ${us.join(',')}`)),
      removeFiles: async () => [],
      state: async (t) => state[t] ?? { enabled: 'not-found', active: 'inactive' },
    };
    const j = new Journal();
    const jh = new JournaledHost(h, j);
    const ji = journaledInit(init, j);
    const jt = journaledTimers(timers, j);
    await ji.stop(plan);
    await jh.write('/etc/etcd/etcd.env', 'NEW=1\n');
    await ji.configure(plan);
    await ji.start(plan);
    await ji.restart(plan);
    await jt.enableNow('b.timer', false);
    await jt.disableNow(['r.timer']);
    calls.length = 0;
    await j.rollback(quiet);
    // the new timer disabled, the running etcd stopped, files back, then the old state restored with the old files
    assert.deepEqual(calls, ['disable b.timer', 'stop', 'reload(env=OLD=1)', 'enable r.timer', 'restart(env=OLD=1)', 'start']);
    assert.equal(active, true);
    assert.equal(await h.read('/etc/etcd/etcd.env'), 'OLD=1\n');
  });
});
