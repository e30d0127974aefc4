import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { copyTreeDurable, treeBytes } from '../../src/host/files.js';
import { decideRecover, type RecoverMember, type RecoverWorld } from '../../src/cluster/recover.js';
import { copyPathFor } from '../../src/phases/recover.js';

/** Voters eahost1..N (ids a1..aN), learners learner1.. (ids b1..); this member is eahost<self>. */
function world(voters: number, opts: { self?: number; answering?: number[]; learners?: number; quorumRead?: boolean; leader?: string | null } = {}): RecoverWorld {
  const self = opts.self ?? voters;
  const members: RecoverMember[] = [];
  const urls = (i: number, kind: 'a' | 'b') => ({ clientURLs: [`https://10.88.0.${kind === 'a' ? i : 100 + i}:2379`], peerURLs: [`https://10.88.0.${kind === 'a' ? i : 100 + i}:2380`] });
  for (let i = 1; i <= voters; i++) members.push({ id: `a${i}`, name: `eahost${i}`, isLearner: false, ...urls(i, 'a') });
  for (let i = 1; i <= (opts.learners ?? 0); i++) members.push({ id: `b${i}`, name: `learner${i}`, isLearner: true, ...urls(i, 'b') });
  const answering = new Set((opts.answering ?? []).map((i) => `a${i}`));
  return {
    recorded: { memberName: `eahost${self}`, memberId: `a${self}`, complete: true },
    local: { answers: true, id: `a${self}`, clusterId: 'c1', leader: opts.leader ?? null, quorumRead: opts.quorumRead ?? false, isLearner: false },
    members,
    peers: members.filter((m) => m.id !== `a${self}`).map((m) => (answering.has(m.id) ? { id: m.id, answered: true, endpoint: m.clientURLs[0]! } : { id: m.id, answered: false, error: 'no answer within 1500 ms' })),
    localURL: 'https://127.0.0.1:2379',
    unitName: 'etcd.service',
  };
}

function refused(w: RecoverWorld): { message: string; hint: string; exitCode?: number } {
  const d = decideRecover(w);
  assert.equal(d.kind, 'refuse', JSON.stringify(d));
  return d as { message: string; hint: string; exitCode?: number };
}

describe('recover: refuse or proceed', () => {
  it('3 members, all answer, quorum read works: refused with the numbers', () => {
    const r = refused(world(3, { answering: [1, 2], quorumRead: true, leader: 'a1' }));
    assert.match(r.message, /^refusing to recover: 3 of 3 voting members answer; quorum is 2: the cluster is not lost/);
    assert.match(r.message, /answering: eahost1 \(a1\) at https:\/\/10\.88\.0\.1:2379, eahost2 \(a2\)/);
    assert.match(r.hint, /etcdadm member remove.*etcdadm join/);
  });

  it('3 members, one lost: 2 of 3 answer, quorum 2: refused (replace the member instead)', () => {
    const r = refused(world(3, { answering: [2], quorumRead: true, leader: 'a2' }));
    assert.match(r.message, /2 of 3 voting members answer; quorum is 2: the cluster is not lost/);
  });

  it('a linearizable read through this member is quorum although no other member answers here', () => {
    const r = refused(world(3, { answering: [], quorumRead: true, leader: 'a1' }));
    assert.match(r.message, /1 of 3 voting members answers, but eahost3 \(a3\) reads linearizably through a leader \(a1\) that a quorum follows; quorum is 2: the cluster is not lost/);
  });

  it('5 members, quorum lost, but one other voter still answers: refused naming it', () => {
    const r = refused(world(5, { answering: [2] }));
    assert.match(r.message, /2 of 5 voting members answer; quorum is 3: quorum is lost, but eahost2 \(a2\) at https:\/\/10\.88\.0\.2:2379 still runs/);
    assert.match(r.hint, /stop etcd for good on eahost2/);
    assert.doesNotMatch(r.hint, /eahost1|eahost3|eahost4/);
  });

  it('3 members, 2 lost for good: proceed, dropping both', () => {
    const d = decideRecover(world(3));
    assert.equal(d.kind, 'proceed');
    if (d.kind !== 'proceed') return;
    assert.deepEqual(d.self, { name: 'eahost3', id: 'a3' });
    assert.deepEqual(d.dead.map((m) => m.name), ['eahost1', 'eahost2']);
    assert.equal(d.resuming, false);
    assert.deepEqual(d.warnings, []);
  });

  it('5 members, 4 lost: proceed; learners are dropped too, one that answers is warned about', () => {
    const w = world(5, { self: 1, learners: 1 });
    w.peers = w.peers.map((p) => (p.id === 'b1' ? { id: 'b1', answered: true, endpoint: 'https://10.88.0.101:2379' } : p));
    const d = decideRecover(w);
    assert.equal(d.kind, 'proceed');
    if (d.kind !== 'proceed') return;
    assert.deepEqual(d.dead.map((m) => m.id), ['a2', 'a3', 'a4', 'a5', 'b1']);
    assert.deepEqual(d.answeringLearners, ['learner1 (b1)']);
    assert.match(d.warnings[0]!, /learner learner1 \(b1\) still answers/);
  });

  it('a learner answering does not count for quorum', () => {
    const w = world(3, { learners: 1 });
    w.peers = w.peers.map((p) => (p.id === 'b1' ? { id: 'b1', answered: true, endpoint: 'x' } : p));
    assert.equal(decideRecover(w).kind, 'proceed');
  });

  it('refused on a learner, without a host record, with an incomplete setup, with another member running here', () => {
    const learner = world(3);
    learner.members = learner.members.map((m) => (m.id === 'a3' ? { ...m, isLearner: true } : m));
    assert.match(refused(learner).message, /eahost3 \(a3\) is a learner/);

    const none = world(3);
    none.recorded = undefined;
    const r = refused(none);
    assert.match(r.message, /no etcdadm member is set up on this host/);

    const incomplete = world(3);
    incomplete.recorded = { ...incomplete.recorded!, complete: false };
    assert.match(refused(incomplete).message, /setup of member eahost3 on this host never completed/);

    const other = world(3);
    other.local = { answers: true, id: 'ff', clusterId: 'c9', leader: null, quorumRead: false, isLearner: false };
    assert.match(refused(other).message, /etcd on this host is member ff of cluster c9, not the member eahost3 \(a3\) the host record names/);

    const down = world(3);
    down.local = { answers: false, why: 'connection refused' };
    const d = refused(down);
    assert.match(d.message, /etcd on this host does not answer at https:\/\/127\.0\.0\.1:2379 \(connection refused\)/);
    assert.match(d.hint, /systemctl start etcd\.service/);
  });

  it('resuming: proceeds from the record with etcd down; refused when a dropped member answers before the forced start, only warned after', () => {
    const dead = [
      { name: 'eahost1', id: 'a1', clientURLs: ['https://10.88.0.1:2379'], peerURLs: ['https://10.88.0.1:2380'] },
      { name: 'eahost2', id: 'a2', clientURLs: ['https://10.88.0.2:2379'], peerURLs: ['https://10.88.0.2:2380'] },
    ];
    const w = world(3);
    w.local = { answers: false, why: 'connection refused' };
    w.members = [];
    w.resume = { startedAt: '2026-01-01T00:00:00Z', dead, copies: [{ from: '/var/lib/etcd', to: '/var/lib/etcd.before-recover-x' }] };
    w.peers = dead.map((m) => ({ id: m.id, answered: false }));
    const d = decideRecover(w);
    assert.equal(d.kind, 'proceed');
    if (d.kind === 'proceed') {
      assert.equal(d.resuming, true);
      assert.deepEqual(d.dead.map((m) => m.id), ['a1', 'a2']);
    }
    w.peers = [{ id: 'a1', answered: true, endpoint: 'https://10.88.0.1:2379' }, { id: 'a2', answered: false }];
    const r = refused(w);
    assert.match(r.message, /eahost1 \(a1\) at https:\/\/10\.88\.0\.1:2379 answers again, and this recovery has not forced a new cluster yet/);
    assert.match(r.message, /a copy in \/var\/lib\/etcd\.before-recover-x/);
    w.resume = { ...w.resume, forced: true };
    const after = decideRecover(w);
    assert.equal(after.kind, 'proceed');
    if (after.kind === 'proceed') assert.match(after.warnings[0]!, /eahost1 \(a1\) answers again; it was removed by this recovery/);
  });

  it('the copy is a sibling of the data dir with a UTC timestamp', () => {
    assert.equal(copyPathFor('/var/lib/etcd/', new Date('2026-12-01T23:04:05.678Z')), '/var/lib/etcd.before-recover-20261201T230405Z');
  });
});

describe('recover: the copy aside', () => {
  it('copies a tree all or nothing: modes kept, the top 0700, symlinks as symlinks, a stale .partial replaced, an existing target refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-copy-'));
    try {
      const src = join(dir, 'etcd');
      mkdirSync(join(src, 'member', 'snap'), { recursive: true, mode: 0o700 });
      mkdirSync(join(src, 'member', 'wal'), { mode: 0o700 });
      writeFileSync(join(src, 'member', 'snap', 'db'), 'x'.repeat(1000), { mode: 0o600 });
      writeFileSync(join(src, 'member', 'wal', '0.wal'), 'y'.repeat(24), { mode: 0o600 });
      symlinkSync('snap/db', join(src, 'member', 'link'));
      const to = join(dir, 'etcd.before-recover-x');
      mkdirSync(`${to}.partial`);
      writeFileSync(join(`${to}.partial`, 'junk'), 'from a crash');
      assert.equal(await treeBytes(src), 1024);
      await copyTreeDurable(src, to, 0o700);
      assert.equal(statSync(to).mode & 0o777, 0o700);
      assert.equal(statSync(join(to, 'member', 'snap', 'db')).mode & 0o777, 0o600);
      assert.equal(readFileSync(join(to, 'member', 'snap', 'db'), 'utf8'), 'x'.repeat(1000));
      assert.equal(readFileSync(join(to, 'member', 'wal', '0.wal'), 'utf8'), 'y'.repeat(24));
      assert.equal(readlinkSync(join(to, 'member', 'link')), 'snap/db');
      assert.throws(() => statSync(`${to}.partial`), /ENOENT/);
      assert.throws(() => statSync(join(to, 'junk')), /ENOENT/);
      assert.equal(readFileSync(join(src, 'member', 'snap', 'db'), 'utf8'), 'x'.repeat(1000), 'the source is only read');
      await assert.rejects(copyTreeDurable(src, to, 0o700), /exists already/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
