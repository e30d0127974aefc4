import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockedMessage, moveKind, planUpgrade, proposedTargets, type UpgradeWorld } from '../../src/cluster/upgrade.js';
import { listingNames, versionsIn } from '../../src/release/available.js';

type M = UpgradeWorld['members'][number];
const member = (name: string, version: string | null, extra: Partial<M> = {}): M => ({
  name, id: `${name}-id`, role: 'follower', health: 'healthy', version, isLearner: false, alarms: [], error: null, ...extra,
});
const OFFERED = ['3.4.23', '3.5.16', '3.5.30', '3.5.35', '3.6.14', '3.6.16', '3.7.3'];
const world = (members: M[], target: string, extra: Partial<UpgradeWorld> = {}): UpgradeWorld => ({
  members, clusterVersion: '3.5.0', target, targetOffered: true, releaseUrl: 'http://mirror', offered: OFFERED, extraArgs: {}, ...extra,
});
const three = (v: string) => [member('a', v, { role: 'leader' }), member('b', v), member('c', v)];
const problems = (w: UpgradeWorld) => planUpgrade(w).blockers.map((b) => b.problem);

describe('planUpgrade: the kinds of move and their order', () => {
  it('3.5.30 → 3.6.16: a minor upgrade, followers first and the leader last, with the newest-patch advice as a warning', () => {
    const p = planUpgrade(world(three('3.5.30'), '3.6.16'));
    assert.equal(p.kind, 'minor-upgrade');
    assert.equal(p.from, '3.5.30');
    assert.deepEqual(p.steps.map((s) => [s.member, s.done]), [['b', false], ['c', false], ['a', false]]);
    assert.deepEqual(p.blockers, []);
    assert.match(p.warnings[0]!, /newest 3\.5 patch \(3\.5\.35\)/);
  });
  it('an upgrade under way continues: members already on the target are done, the others still to go', () => {
    const p = planUpgrade(world([member('a', '3.5.30', { role: 'leader' }), member('b', '3.6.16'), member('c', '3.5.30')], '3.6.16'));
    assert.deepEqual(p.blockers, []);
    assert.equal(p.from, '3.5.30');
    assert.deepEqual(p.steps.map((s) => [s.member, s.done]), [['b', true], ['c', false], ['a', false]]);
  });
  it('everything on the target: nothing to do', () => {
    const p = planUpgrade(world(three('3.6.16'), '3.6.16'));
    assert.equal(p.kind, 'none');
    assert.ok(p.steps.every((s) => s.done));
  });
  it('patch moves and one-minor moves; skipping a minor either way is a blocker', () => {
    assert.deepEqual(moveKind('3.6.14', '3.6.16'), { kind: 'patch' });
    assert.deepEqual(moveKind('3.4.23', '3.5.16'), { kind: 'minor-upgrade' });
    assert.deepEqual(moveKind('3.6.16', '3.5.30'), { kind: 'minor-downgrade' });
    const skip = moveKind('3.5.30', '3.7.3');
    assert.ok('blocker' in skip);
    assert.match(skip.blocker.problem, /cannot upgrade to 3\.7\.3 in one step: etcd moves one minor version at a time/);
    assert.match(skip.blocker.fix, /newest 3\.6 patch first/);
    assert.ok('blocker' in moveKind('3.7.3', '3.5.30'));
    assert.ok('blocker' in moveKind('3.5.30', '4.0.0'));
  });
});

describe('planUpgrade: blockers from etcd\'s upgrade guides, each with its fix', () => {
  it('3.5.16 → 3.6: below the 3.5 patch the guide requires (3.5.26), fixed by the newest 3.5 offered', () => {
    const p = planUpgrade(world(three('3.5.16'), '3.6.16'));
    assert.equal(p.blockers.length, 1);
    assert.match(p.blockers[0]!.problem, /requires 3\.5\.26 or later on every member; a runs 3\.5\.16, b runs 3\.5\.16, c runs 3\.5\.16/);
    assert.match(p.blockers[0]!.fix, /upgrade every member to 3\.5\.35 first/);
    assert.deepEqual(problems(world(three('3.5.26'), '3.6.16')), []);
  });
  it('a member down, a learner, an alarm', () => {
    const ps = problems(world([member('a', '3.5.30', { role: 'leader' }), member('b', null, { health: 'unreachable', error: 'connection refused' }), member('c', '3.5.30', { isLearner: true, role: 'learner', alarms: ['NOSPACE'] })], '3.6.16'));
    assert.deepEqual(ps, ['member b is unreachable (connection refused)', 'member c is a learner, not yet promoted', 'the cluster has an active NOSPACE alarm']);
  });
  it("this host's own member may be down while its interrupted upgrade is resumed", () => {
    const members = [member('a', '3.6.16', { role: 'leader' }), member('b', null, { health: 'unreachable' }), member('c', '3.5.30')];
    assert.deepEqual(problems(world(members, '3.6.16', { resuming: 'b' })), []);
    assert.equal(problems(world(members, '3.6.16', { resuming: 'c' })).length, 1);
  });
  it('members on different versions outside an upgrade to the target', () => {
    const ps = problems(world([member('a', '3.5.30'), member('b', '3.5.35'), member('c', '3.5.35')], '3.6.16'));
    assert.deepEqual(ps, ['the members run different versions (3.5.30, 3.5.35) outside an upgrade to 3.6.16']);
  });
  it('flags the target removed: enable-v2 with the v2store check, renamed experimental flags with their successor', () => {
    const p = planUpgrade(world(three('3.5.30'), '3.6.16', { extraArgs: { 'enable-v2': 'true', 'max-txn-ops': '256' } }));
    assert.deepEqual(p.blockers.map((b) => b.problem), ['etcd.extraArgs sets enable-v2, which etcd 3.6 removed']);
    assert.match(p.blockers[0]!.fix, /etcdutl check v2store/);
    const q = planUpgrade(world(three('3.6.16'), '3.7.3', { extraArgs: { 'experimental-watch-progress-notify-interval': '5s' } }));
    assert.deepEqual(q.blockers.map((b) => b.fix), ['use --watch-progress-notify-interval instead (etcd 3.6 renamed it)']);
  });
  it('downgrades: one minor from 3.6 on; a downgrade in progress blocks any other move', () => {
    const p = planUpgrade(world(three('3.6.16'), '3.5.30'));
    assert.equal(p.kind, 'minor-downgrade');
    assert.deepEqual(p.blockers, []);
    assert.match(problems(world(three('3.5.30'), '3.4.23'))[0]!, /etcd supports downgrades from 3\.6 on/);
    assert.deepEqual(problems(world([member('a', '3.5.30'), member('b', '3.6.16')], '3.5.30', { downgrade: { targetVersion: '3.5.0' } })), []);
    assert.deepEqual(problems(world(three('3.6.16'), '3.7.3', { downgrade: { targetVersion: '3.5.0' } })), ['a downgrade to 3.5 is in progress']);
  });
  it('a version the release URL does not have', () => {
    const p = planUpgrade(world(three('3.6.14'), '3.6.99', { targetOffered: false }));
    assert.deepEqual(p.blockers.map((b) => b.problem), ['http://mirror has no etcd 3.6.99']);
    assert.match(p.blockers[0]!.fix, /newest: 3\.7\.3/);
  });
  it('the refusal is one line naming every blocker, the hint every fix', () => {
    const p = planUpgrade(world([member('a', '3.5.16'), member('b', null, { health: 'unreachable' })], '3.7.3'));
    const m = blockedMessage(p);
    assert.match(m.message, /^the upgrade to etcd 3\.7\.3 is blocked: etcd 3\.5\.16 cannot upgrade to 3\.7\.3 in one step.*; member b is unreachable$/);
    assert.ok(!m.message.includes('\n'));
    assert.match(m.hint, /newest 3\.6 patch first, then to 3\.7\.3; bring b back/);
  });
});

describe('upgrade targets from a release listing', () => {
  it('the newest patch of the current minor and of the next', () => {
    assert.deepEqual(proposedTargets('3.5.30', OFFERED), { patch: '3.5.35', minor: '3.6.16' });
    assert.deepEqual(proposedTargets('3.7.3', OFFERED), {});
    assert.deepEqual(proposedTargets('3.6.14', OFFERED), { patch: '3.6.16', minor: '3.7.3' });
  });
  it('versions from an HTML directory listing and from tag names, pre-releases left out', () => {
    const html = '<ul><li><a href="v3.5.30/">v3.5.30/</a></li><li><a href="v3.6.16/">v3.6.16/</a></li><li><a href="README.md">x</a></li><a href="v3.7.0-rc.1/">rc</a></ul>';
    assert.deepEqual(versionsIn(listingNames(html)), ['3.5.30', '3.6.16']);
    assert.deepEqual(versionsIn(['v3.6.16', 'v3.5.35', 'v3.6.16', 'v3.7.0-alpha.0']), ['3.5.35', '3.6.16']);
  });
});

describe('decideUpgradeApply: this member\'s step', async () => {
  const { decideUpgradeApply } = await import('../../src/phases/upgrade.js');
  const { planOf, hostFacts, eth0 } = await import('../helpers/plan.js');
  const plan = planOf({ name: 'b', version: '3.6.16' }, hostFacts([eth0('10.0.0.2')]));
  const status = (members: M[]) => ({ members, downgrade: undefined }) as unknown as Parameters<typeof decideUpgradeApply>[1]['status'];
  const obs = (members: M[], extra: object = {}) => ({
    status: status(members), clusterVersion: '3.5.0', offered: { versions: OFFERED }, targetOffered: true, selfId: 'b-id', selfName: 'b', inProgress: undefined, ...extra,
  });
  it('goes from the version this member runs; refuses with every blocker; is done when it runs the target already', () => {
    const go = decideUpgradeApply(plan, obs(three('3.5.30')));
    assert.equal(go.kind, 'go');
    assert.equal(go.kind === 'go' ? go.from : '', '3.5.30');
    const down = decideUpgradeApply(plan, obs([member('a', '3.5.30', { role: 'leader' }), member('b', '3.5.30'), member('c', null, { health: 'unreachable' })]));
    assert.equal(down.kind, 'refuse');
    assert.match(down.kind === 'refuse' ? down.message : '', /^the upgrade to etcd 3\.6\.16 is blocked: member c is unreachable$/);
    assert.equal(decideUpgradeApply(plan, obs([member('a', '3.6.16'), member('b', '3.6.16'), member('c', '3.5.30')])).kind, 'done');
  });
  it('resumes an interrupted run: its own member down is allowed, the recorded source version kept', () => {
    const d = decideUpgradeApply(plan, obs([member('a', '3.6.16', { role: 'leader' }), member('b', null, { health: 'unreachable' }), member('c', '3.5.30')], { inProgress: { from: '3.5.30', to: '3.6.16' } }));
    assert.equal(d.kind, 'go');
    assert.equal(d.kind === 'go' ? d.from : '', '3.5.30');
    assert.equal(decideUpgradeApply(plan, obs(three('3.5.30'), { selfId: 'x', selfName: 'x' })).kind, 'refuse', 'a host whose member is not in the cluster');
  });
});
