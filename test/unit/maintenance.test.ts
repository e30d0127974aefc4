/**
 * The decisions of defrag, alarm disarm and maintain (src/cluster/defrag.ts, src/phases/maintenance.ts): who is
 * defragmented in which order, who is skipped and why, when a rolling run is refused, where the history is compacted,
 * which databases are over the quota, which alarms a disarm selects.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fragmentation, parseThreshold, planDefrag } from '../../src/cluster/defrag.js';
import type { MemberStatus } from '../../src/cluster/status.js';
import { decideCompact, nearQuota, overQuota, selectAlarms } from '../../src/phases/maintenance.js';
import { memberStatus } from '../helpers/status.js';

const MiB = 1024 * 1024;

const m = (name: string, id: string, over: Partial<MemberStatus> = {}): MemberStatus => memberStatus(name, { id, version: '3.5.30', dbSize: 100 * MiB, dbSizeInUse: 50 * MiB, ...over });

describe('defrag and maintain decisions', () => {
  it('fragmentation is the free share of the file; thresholds parse as shares', () => {
    assert.equal(fragmentation(100, 25), 0.75);
    assert.equal(fragmentation(0, 0), 0);
    assert.equal(fragmentation(null, null), 0);
    assert.equal(fragmentation(100, 120), 0);
    assert.equal(parseThreshold('20%'), 0.2);
    assert.equal(parseThreshold('0.35'), 0.35);
    assert.equal(parseThreshold('0%'), 0);
    for (const bad of ['100%', '-1%', 'x', '1.5', '']) assert.equal(parseThreshold(bad), undefined, bad);
  });

  it('--all: followers (and learners) first, the leader last; a member not above the threshold is skipped, saying why', () => {
    const st = {
      members: [
        m('a', 'aa', { role: 'leader', dbSize: 100 * MiB, dbSizeInUse: 40 * MiB }),
        m('b', 'bb', { dbSize: 100 * MiB, dbSizeInUse: 90 * MiB }),
        m('c', 'cc', { role: 'learner', isLearner: true, dbSize: 80 * MiB, dbSizeInUse: 20 * MiB }),
      ],
    };
    const p = planDefrag(st, { threshold: 0.2, force: false });
    assert.equal(p.kind, 'run');
    if (p.kind !== 'run') return;
    assert.deepEqual(
      p.steps.map((s) => [s.name, s.action, s.leader]),
      [
        ['b', 'skip', false],
        ['c', 'defrag', false],
        ['a', 'defrag', true],
      ],
    );
    assert.equal(p.steps[0]!.why, '10.0% free, not above the threshold 20.0%');
    assert.equal(p.steps[2]!.why, `60.0% of ${100 * MiB} bytes free (threshold 20.0%)`);
  });

  it('one member (this host\'s) only; a member down refuses the run unless --force, which leaves it out', () => {
    const st = { members: [m('a', 'aa', { role: 'leader' }), m('b', 'bb'), m('c', 'cc', { health: 'unreachable', endpoint: null, dbSize: null, dbSizeInUse: null })] };
    const refused = planDefrag(st, { threshold: 0.2, force: false });
    assert.equal(refused.kind, 'refuse');
    assert.match(refused.kind === 'refuse' ? refused.message : '', /refusing to defragment while c is unreachable/);
    const forced = planDefrag(st, { threshold: 0.2, force: true });
    assert.deepEqual(forced.kind === 'run' && forced.steps.map((s) => s.name), ['b', 'a']);
    const one = planDefrag({ members: st.members.slice(0, 2) }, { threshold: 0.2, force: false, only: 'bb' });
    assert.deepEqual(one.kind === 'run' && one.steps.map((s) => s.name), ['b']);
    assert.equal(planDefrag({ members: st.members.slice(0, 2) }, { threshold: 0.2, force: false, only: 'ff' }).kind, 'refuse');
    const unstarted = planDefrag({ members: [m('a', 'aa'), m('', 'dd', { role: 'unstarted', health: 'unreachable', endpoint: null })] }, { threshold: 0, force: false });
    assert.match(unstarted.kind === 'refuse' ? unstarted.message : '', /dd is not started/);
  });

  it('maintain defragments a member near its quota whatever its free share says (stale under NOSPACE)', () => {
    assert.match(nearQuota({ dbSize: 15 * MiB }, 16 * MiB) ?? '', /its file is at 93\.8% of the quota/);
    assert.equal(nearQuota({ dbSize: 10 * MiB }, 16 * MiB), undefined);
    assert.equal(nearQuota({ dbSize: null }, 16 * MiB), undefined);
    const st = { members: [m('a', 'aa', { role: 'leader', dbSize: 15 * MiB, dbSizeInUse: 14 * MiB }), m('b', 'bb', { dbSize: 2 * MiB, dbSizeInUse: 2 * MiB })] };
    const p = planDefrag(st, { threshold: 0.2, force: false, regardless: (x) => nearQuota(x, 16 * MiB) });
    assert.deepEqual(p.kind === 'run' && p.steps.map((s) => [s.name, s.action]), [
      ['b', 'skip'],
      ['a', 'defrag'],
    ]);
  });

  it('compaction: at the current revision minus what is kept, and nothing when that is not past the last compaction', () => {
    assert.deepEqual(decideCompact({ revision: 1000n, compacted: 0n }, 0n), { kind: 'compact', to: 1000n });
    assert.deepEqual(decideCompact({ revision: 1000n, compacted: 0n }, 100n), { kind: 'compact', to: 900n });
    assert.deepEqual(decideCompact({ revision: 1000n, compacted: 1000n }, 0n), { kind: 'nothing', why: 'compacted already at revision 1000 (current 1000)' });
    assert.deepEqual(decideCompact({ revision: 50n, compacted: 0n }, 100n), { kind: 'nothing', why: 'revision 50: nothing older than the 100 revisions kept' });
  });

  it('over the quota: a file at or above it', () => {
    const st = { members: [m('a', 'aa', { dbSize: 16 * MiB }), m('b', 'bb', { dbSize: 16 * MiB - 1 }), m('c', 'cc', { dbSize: null })] };
    assert.deepEqual(overQuota(st, 16 * MiB), [{ name: 'a', dbSize: 16 * MiB }]);
  });

  it('alarm disarm: every active alarm, or one member\'s by name or ID; an unknown member is refused', () => {
    const st = { members: [m('a', 'aa'), m('b', 'bb')] };
    const alarms = [
      { memberId: 0xaan, memberIdHex: 'aa', alarm: 'NOSPACE' as const },
      { memberId: 0xbbn, memberIdHex: 'bb', alarm: 'NOSPACE' as const },
      { memberId: 0xbbn, memberIdHex: 'bb', alarm: 'NONE' as const },
    ];
    assert.equal(selectAlarms(alarms, st, undefined).length, 2);
    assert.deepEqual(selectAlarms(alarms, st, 'b').map((a) => a.memberIdHex), ['bb']);
    assert.deepEqual(selectAlarms(alarms, st, 'AA').map((a) => a.memberIdHex), ['aa']);
    assert.throws(() => selectAlarms(alarms, st, 'zz'), /no member zz in the cluster/);
  });
});
