import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addCheck,
  canLoseText,
  faultTolerance,
  quorumInfo,
  quorumSize,
  removalCheck,
  type Check,
  type QuorumMember,
} from '../../src/cluster/quorum.js';

/** Voters eahost1..N (ids a1..aN), then learners (ids b1..), health: the ids listed in `down` are unhealthy. */
function cluster(voters: number, opts: { learners?: number; down?: string[] } = {}): { members: QuorumMember[]; health: Map<string, boolean> } {
  const members: QuorumMember[] = [];
  for (let i = 1; i <= voters; i++) members.push({ idHex: `a${i}`, name: `eahost${i}`, isLearner: false });
  for (let i = 1; i <= (opts.learners ?? 0); i++) members.push({ idHex: `b${i}`, name: `learner${i}`, isLearner: true });
  const down = new Set(opts.down ?? []);
  return { members, health: new Map(members.map((m) => [m.idHex, !down.has(m.idHex)])) };
}

function refused(c: Check): { kind: string; reason: string } {
  assert.equal(c.ok, false, `expected a refusal, got ${JSON.stringify(c)}`);
  return c as { kind: string; reason: string };
}

describe('quorum size and failure tolerance', () => {
  it('quorum = floor(n/2)+1, tolerance = n - quorum', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(quorumSize), [0, 1, 2, 2, 3, 3, 4, 4]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(faultTolerance), [0, 0, 0, 1, 1, 2, 2, 3]);
  });

  it('all healthy, 1..5 voters: can lose 0, 0, 1, 1, 2', () => {
    const got = [1, 2, 3, 4, 5].map((n) => {
      const c = cluster(n);
      const q = quorumInfo(c.members, c.health);
      return [q.voters, q.quorum, q.hasQuorum, q.canLose, canLoseText(q)];
    });
    assert.deepEqual(got, [
      [1, 1, true, 0, 'can lose 0 members'],
      [2, 2, true, 0, 'can lose 0 members'],
      [3, 2, true, 1, 'can lose 1 member'],
      [4, 3, true, 1, 'can lose 1 member'],
      [5, 3, true, 2, 'can lose 2 members'],
    ]);
  });

  it('unhealthy voters reduce what the cluster can lose; below quorum it has none', () => {
    const q5 = quorumInfo(...args(cluster(5, { down: ['a1'] })));
    assert.deepEqual([q5.healthyVoters, q5.canLose, q5.hasQuorum, q5.faultTolerance], [4, 1, true, 2]);
    const q3 = quorumInfo(...args(cluster(3, { down: ['a1', 'a2'] })));
    assert.deepEqual([q3.healthyVoters, q3.canLose, q3.hasQuorum], [1, 0, false]);
    assert.equal(canLoseText(q3), 'quorum lost');
  });

  it('learners do not count, healthy or not', () => {
    const q = quorumInfo(...args(cluster(3, { learners: 1, down: ['b1'] })));
    assert.deepEqual([q.voters, q.learners, q.quorum, q.healthyVoters, q.canLose], [3, 1, 2, 3, 1]);
  });

  it('a member missing from the health map counts as unhealthy; a plain object works as map', () => {
    const { members } = cluster(3);
    assert.equal(quorumInfo(members, { a1: true, a2: true }).healthyVoters, 2);
    assert.equal(quorumInfo(members, new Map()).hasQuorum, false);
  });
});

function args(c: { members: QuorumMember[]; health: Map<string, boolean> }): [QuorumMember[], Map<string, boolean>] {
  return [c.members, c.health];
}

describe('removalCheck', () => {
  it('3 healthy voters: removing any one is fine (2 left, quorum 2)', () => {
    const c = cluster(3);
    for (const id of ['a1', 'a2', 'a3']) assert.equal(removalCheck(c.members, c.health, id).ok, true);
  });

  it('3 voters, 1 down: removing a healthy one is refused with the numbers', () => {
    const c = cluster(3, { down: ['a3'] });
    const r = refused(removalCheck(c.members, c.health, 'a2'));
    assert.equal(r.kind, 'quorum-loss');
    assert.equal(r.reason, 'removing eahost2 would leave 2 voting members of which 1 is healthy; quorum of 2 needs 2');
  });

  it('3 voters, 1 down: removing the dead one is fine (the dead-member case)', () => {
    const c = cluster(3, { down: ['a3'] });
    const r = removalCheck(c.members, c.health, 'a3');
    assert.equal(r.ok, true);
    assert.match((r as { note: string }).note, /eahost3 is not healthy/);
  });

  it('2 voters: removing either is refused as unsafe', () => {
    const c = cluster(2);
    for (const id of ['a1', 'a2']) {
      const r = refused(removalCheck(c.members, c.health, id));
      assert.equal(r.kind, 'two-member');
      assert.match(r.reason, /^a 2-member cluster loses quorum safety when one is removed/);
      assert.match(r.reason, /unsafe/);
    }
  });

  it('2 voters, 1 down: no quorum, nothing can be removed', () => {
    const c = cluster(2, { down: ['a2'] });
    const r = refused(removalCheck(c.members, c.health, 'a2'));
    assert.equal(r.kind, 'no-quorum');
    assert.equal(r.reason, 'the cluster has no quorum: 2 voting members of which 1 is healthy; quorum of 2 needs 2, so no membership change can be committed');
  });

  it('1 voter: removing the last member is refused', () => {
    const c = cluster(1);
    const r = refused(removalCheck(c.members, c.health, 'a1'));
    assert.equal(r.kind, 'last-member');
    assert.match(r.reason, /eahost1 is the only voting member/);
  });

  it('4 voters: 1 down → removing a healthy one leaves 3 with 2 healthy (quorum 2): fine; 2 down → no quorum', () => {
    const c = cluster(4, { down: ['a4'] });
    assert.equal(removalCheck(c.members, c.health, 'a1').ok, true);
    assert.equal(removalCheck(c.members, c.health, 'a4').ok, true);
    const c2 = cluster(4, { down: ['a3', 'a4'] });
    assert.equal(refused(removalCheck(c2.members, c2.health, 'a3')).kind, 'no-quorum');
  });

  it('5 voters, 2 down: removing a healthy one is refused (4 left, 2 healthy, quorum 3); a dead one is fine', () => {
    const c = cluster(5, { down: ['a4', 'a5'] });
    assert.equal(
      refused(removalCheck(c.members, c.health, 'a1')).reason,
      'removing eahost1 would leave 4 voting members of which 2 are healthy; quorum of 4 needs 3',
    );
    assert.equal(removalCheck(c.members, c.health, 'a5').ok, true);
    const healthy5 = cluster(5, { down: ['a5'] });
    assert.equal(removalCheck(healthy5.members, healthy5.health, 'a1').ok, true); // 4 left, 3 healthy, quorum 3
  });

  it('learners: removing one is always fine, even from a 1- or 2-voter cluster, healthy or not', () => {
    for (const n of [1, 2, 3]) {
      const c = cluster(n, { learners: 1, down: ['b1'] });
      const r = removalCheck(c.members, c.health, 'b1');
      assert.equal(r.ok, true);
      assert.match((r as { note: string }).note, /learner/);
    }
  });

  it('learners do not help a removal: 2 voters + 1 learner is still the 2-member case', () => {
    const c = cluster(2, { learners: 1 });
    assert.equal(refused(removalCheck(c.members, c.health, 'a1')).kind, 'two-member');
  });

  it('an unknown ID is not-found; IDs are matched as hex (bigint, 0x, case)', () => {
    const c = cluster(3);
    assert.equal(refused(removalCheck(c.members, c.health, 'ff')).kind, 'not-found');
    const members: QuorumMember[] = [
      { idHex: '8e9e05c52164694d', name: 'x', isLearner: false },
      { idHex: '1', name: 'y', isLearner: false },
      { idHex: '2', name: 'z', isLearner: false },
    ];
    const health = { '8e9e05c52164694d': true, '1': true, '2': true };
    assert.equal(removalCheck(members, health, 0x8e9e05c52164694dn).ok, true);
    assert.equal(removalCheck(members, health, '0x8E9E05C52164694D').ok, true);
  });

  it('an unstarted voter (no name) is named by its ID and removable as a dead member', () => {
    const members: QuorumMember[] = [
      { idHex: 'a1', name: 'eahost1', isLearner: false },
      { idHex: 'a2', name: 'eahost2', isLearner: false },
      { idHex: 'a3', name: 'eahost3', isLearner: false },
      { idHex: 'c4', name: '', isLearner: false },
    ];
    const health = { a1: true, a2: true, a3: true };
    assert.equal(removalCheck(members, health, 'c4').ok, true);
    const r = refused(removalCheck(members, { a1: true, a2: true, c4: false }, 'c4'));
    assert.equal(r.kind, 'no-quorum'); // 4 voters, 2 healthy, quorum 3
  });
});

describe('addCheck', () => {
  it('a learner can be added whenever the cluster has quorum', () => {
    for (const [n, down] of [[1, []], [3, ['a3']], [5, ['a4', 'a5']]] as const) {
      const c = cluster(n, { down: [...down] });
      assert.equal(addCheck(c.members, c.health, { learner: true }).ok, true, `${n} voters, down ${down.join(',')}`);
    }
  });

  it('nothing can be added without quorum', () => {
    const c = cluster(3, { down: ['a2', 'a3'] });
    assert.equal(refused(addCheck(c.members, c.health, { learner: true })).kind, 'no-quorum');
    assert.equal(refused(addCheck(c.members, c.health, { learner: false })).kind, 'no-quorum');
  });

  it('a voter: refused when the healthy voters are below the new quorum', () => {
    // 2 with 1 down → 3: quorum 2, only 1 healthy until the new one starts
    const two = cluster(2, { down: ['a2'] });
    const r1 = refused(addCheck(two.members, two.health, { learner: false }));
    assert.equal(r1.kind, 'no-quorum');
    // 3 with 1 down → 4: quorum 3, 2 healthy
    const three = cluster(3, { down: ['a3'] });
    assert.match(refused(addCheck(three.members, three.health, { learner: false })).reason, /4 voting members with quorum 3, but only 2 are healthy/);
    // 4 with 1 down → 5: quorum 3, 3 healthy: fine
    const four = cluster(4, { down: ['a4'] });
    assert.equal(addCheck(four.members, four.health, { learner: false }).ok, true);
  });

  it('a voter: fine when all are healthy from 2 voters up', () => {
    for (const n of [2, 3, 4, 5]) {
      const c = cluster(n);
      assert.equal(addCheck(c.members, c.health, { learner: false }).ok, true, `${n} voters`);
    }
  });

  it('a plain 1-member cluster may grow to 2 voters, as etcd allows for recovery (quorum 2 until the new one starts)', () => {
    const one = cluster(1);
    const c = addCheck(one.members, one.health, { learner: false });
    assert.equal(c.ok, true);
    assert.match(c.ok ? c.note : '', /quorum is 2 until the new member starts/);
    const down = cluster(1, { down: ['a1'] });
    assert.equal(refused(addCheck(down.members, down.health, { learner: false })).kind, 'no-quorum');
  });

  it('learners already there do not count for the new quorum', () => {
    const c = cluster(1, { learners: 1 });
    assert.equal(addCheck(c.members, c.health, { learner: false }).ok, false);
  });
});
