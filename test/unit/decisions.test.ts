/**
 * The phase decisions, tested without root, hosts or etcd: each is a pure function of the plan, the options and
 * what the phase observed. If a decision changes, one of these fails.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockingVoters, pendingChange, transferTarget } from '../../src/cluster/membership.js';
import { decideReplacement } from '../../src/cluster/replace.js';
import type { ClusterStatus, MemberStatus } from '../../src/cluster/status.js';
import type { Member } from '../../src/etcd/client.js';
import type { RecordFacts } from '../../src/host/record.js';
import { decideMembership, decideStaleData, type MembershipWorld } from '../../src/phases/join.js';
import {
  decideInitTakeover,
  decideLocalEtcd,
  dirContentProblem,
  dirRuleProblem,
  freeSpaceProblem,
  hostProblem,
  type HostObservation,
  type LocalEtcdObservation,
} from '../../src/phases/preflight.js';
import { decideDataDir, decideRemoval, decideResetPreflight, type ResetWorld } from '../../src/phases/reset.js';
import type { ResetOptions } from '../../src/phases/reset.js';

/** The options of a run without flags (init, join and reset alike). */
const NO_OPTIONS: ResetOptions = { force: false, skipRemoveMember: false };
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

const host = hostFacts([eth0('10.0.0.3')], [], 'node-c');
const plan = planOf({ endpoints: ['https://10.0.0.1:2379'] }, host);
const MY_PEER = 'https://10.0.0.3:2380';
const force: ResetOptions = { ...NO_OPTIONS, force: true };

const member = (id: number, over: Partial<Member> = {}): Member => ({
  id: BigInt(id),
  idHex: id.toString(16),
  name: `node-${id}`,
  peerURLs: [`https://10.0.0.${id}:2380`],
  clientURLs: [`https://10.0.0.${id}:2379`],
  isLearner: false,
  ...over,
});
const voters = [member(1), member(2)];
const record = (over: Partial<RecordFacts> = {}): RecordFacts => ({ createdBy: 'join', complete: true, clusterToken: 't', memberName: 'node-c', ...over });

describe("join's membership decision, for every shape of the member list", () => {
  const world = (members: Member[], over: Partial<MembershipWorld> = {}): MembershipWorld => ({
    clusterIdHex: 'c1',
    members,
    dataHasMember: false,
    record: undefined,
    recordedDataDir: undefined,
    ...over,
  });
  it('absent: add this host', () => {
    assert.deepEqual(decideMembership(plan, world(voters), NO_OPTIONS), { kind: 'add', data: { kind: 'none' } });
  });
  it('added but never started (no name yet): start it with the cluster, found by peer URL', () => {
    const added = member(3, { name: '', clientURLs: [], isLearner: true });
    const d = decideMembership(plan, world([...voters, added]), NO_OPTIONS);
    assert.equal(d.kind, 'start-added');
    assert.equal(d.kind === 'start-added' && d.member.idHex, '3');
  });
  it('a started learner or voter with its data: keep it', () => {
    for (const self of [member(3, { isLearner: true }), member(3)]) {
      const d = decideMembership(plan, world([...voters, self], { dataHasMember: true }), NO_OPTIONS);
      assert.equal(d.kind, 'keep', self.isLearner ? 'learner' : 'voter');
    }
  });
  it('a started member whose data dir is empty: refused (it would start as a new member with its old ID)', () => {
    const d = decideMembership(plan, world([...voters, member(3)]), NO_OPTIONS);
    assert.equal(d.kind, 'refuse');
    assert.match(d.kind === 'refuse' ? d.message : '', /data dir \/var\/lib\/etcd is empty/);
  });
  it('a name clash: refused as invalid input', () => {
    const d = decideMembership(planOf({ endpoints: ['https://10.0.0.1:2379'], name: 'node-2' }, host), world(voters), NO_OPTIONS);
    assert.equal(d.kind, 'refuse');
    assert.equal(d.kind === 'refuse' && d.exitCode, 2);
  });
  it('another learner joining: still an add (the add waits for it), and that learner is the pending change', () => {
    const other = member(4, { isLearner: true });
    assert.equal(decideMembership(plan, world([...voters, other]), NO_OPTIONS).kind, 'add');
    assert.equal(pendingChange([...voters, other], [MY_PEER])?.idHex, '4');
    assert.equal(pendingChange([...voters, member(3, { isLearner: true })], [MY_PEER]), undefined, 'our own learner is no other change');
  });
  it('data found before joining: moved aside when the record proves an earlier membership of this cluster, else refused unless --force', () => {
    const same = world(voters, { dataHasMember: true, record: record({ clusterId: 'c1' }), recordedDataDir: '/var/lib/etcd' });
    assert.equal(decideStaleData(plan, same, NO_OPTIONS, 'x').kind, 'move');
    const other = world(voters, { dataHasMember: true, record: record({ clusterId: 'c9' }), recordedDataDir: '/var/lib/etcd' });
    const refused = decideStaleData(plan, other, NO_OPTIONS, 'x');
    assert.equal(refused.kind, 'refuse');
    assert.match(refused.kind === 'refuse' ? refused.message : '', /another cluster \(c9\), not of cluster c1/);
    assert.equal(decideStaleData(plan, other, force, 'x').kind, 'move');
    const unknown = world(voters, { dataHasMember: true });
    assert.match((decideStaleData(plan, unknown, NO_OPTIONS, 'x') as { message: string }).message, /an unknown cluster/);
    assert.equal(decideStaleData(plan, world(voters), NO_OPTIONS, 'x').kind, 'none');
  });
});

describe('join --replace: which member goes, and when it is refused', () => {
  const listed = (id: number, health: MemberStatus['health'], over: Partial<MemberStatus> = {}) =>
    ({ name: `node-${id}`, id: id.toString(16), peerURLs: [`https://10.0.0.${id}:2380`], clientURLs: [`https://10.0.0.${id}:2379`], health, ...over }) as MemberStatus;
  const three = [listed(1, 'healthy'), listed(2, 'healthy'), listed(10, 'unreachable')];
  it('a member that does not answer, named by name, hex ID (0x, any case) or peer URL: removed, its name kept', () => {
    for (const t of ['node-10', 'a', '0xA', 'https://10.0.0.10:2380/']) {
      const d = decideReplacement(three, t, undefined);
      assert.equal(d.kind, 'remove', t);
      assert.equal(d.kind === 'remove' && `${d.id} ${d.name}`, 'a node-10', t);
    }
  });
  it('a member that answers, even unhealthy, is refused as invalid input: nothing changes', () => {
    for (const health of ['healthy', 'unhealthy'] as const) {
      const d = decideReplacement([listed(1, 'healthy'), listed(2, health)], 'node-2', undefined);
      assert.equal(d.kind, 'refuse');
      assert.match(d.kind === 'refuse' ? d.message : '', new RegExp(`member node-2 \\(2\\) still answers at https://10.0.0.2:2379 \\(${health}\\)`));
      assert.equal(d.kind === 'refuse' && d.exitCode, 2);
    }
  });
  it('not in the list: refused, unless an earlier run of this join removed it (then joined under its name)', () => {
    const d = decideReplacement(three, 'node-9', undefined);
    assert.equal(d.kind, 'refuse');
    assert.match(d.kind === 'refuse' ? d.message : '', /nothing to replace/);
    const gone = decideReplacement(three.slice(0, 2), 'node-10', { id: 'a', name: 'node-10' });
    assert.deepEqual([gone.kind, gone.kind === 'gone' && gone.name], ['gone', 'node-10']);
    assert.equal(decideReplacement(three.slice(0, 2), '0xa', { id: 'a', name: 'node-10' }).kind, 'gone', 'by ID too');
    assert.equal(decideReplacement(three.slice(0, 2), 'node-11', { id: 'a', name: 'node-10' }).kind, 'refuse', 'another member than the one removed');
  });
  it('two members of one name: refused, asking for the ID', () => {
    const d = decideReplacement([listed(1, 'unreachable', { name: 'x' }), listed(2, 'unreachable', { name: 'x' })], 'x', undefined);
    assert.match(d.kind === 'refuse' ? d.message : '', /several members match "x"/);
  });
  it("join's membership decision: the replaced member is left out (its name is free, a rebuilt host's own peer URL too), then removed before the add", () => {
    const world = (members: Member[], replacement: MembershipWorld['replacement']): MembershipWorld => ({ clusterIdHex: 'c1', members, dataHasMember: false, record: undefined, recordedDataDir: undefined, replacement });
    const named = planOf({ endpoints: ['https://10.0.0.1:2379'], name: 'node-2' }, host);
    const r = decideReplacement([listed(1, 'healthy'), listed(2, 'unreachable'), listed(4, 'healthy')], 'node-2', undefined);
    const d = decideMembership(named, world([member(1), member(2), member(4)], r), NO_OPTIONS);
    assert.equal(d.kind, 'add');
    assert.equal(d.kind === 'add' && d.remove?.id, '2');
    // the failed host rebuilt at the same address: its old member is not "this host"
    const same = decideMembership(plan, world([member(1), member(2), member(3)], { kind: 'remove', id: '3', name: 'node-3', why: '' }), NO_OPTIONS);
    assert.deepEqual([same.kind, same.kind === 'add' && same.remove?.id], ['add', '3']);
    const refused = decideMembership(plan, world(voters, { kind: 'refuse', message: 'm', hint: 'h', exitCode: 2 }), NO_OPTIONS);
    assert.equal(refused.kind, 'refuse');
  });
});

describe("join's decision about an etcd already running here", () => {
  const target = { clusterId: 'c1', members: [...voters, member(3)] };
  const local = { clusterId: 'c1', memberId: '3' };
  const decide = (obs: LocalEtcdObservation, r: RecordFacts | undefined = record()) => decideLocalEtcd(plan, obs, r);
  it('not running: nothing to stop', () => assert.equal(decide({ active: false }).kind, 'none'));
  it('this host is a started voter of that cluster and its join finished: nothing to do', () => {
    const d = decide({ active: true, local, target });
    assert.equal(d.kind, 'member');
    assert.match(d.kind === 'member' ? d.why : '', /already member node-3 \(3\) of cluster c1; nothing to do/);
  });
  it('its own member, not finished (a learner, or an interrupted join): keep it running and go on', () => {
    assert.equal(decide({ active: true, local, target: { clusterId: 'c1', members: [...voters, member(3, { isLearner: true })] } }).kind, 'continue');
    assert.equal(decide({ active: true, local, target }, record({ complete: false })).kind, 'continue');
  });
  it('a member of another cluster, or one that does not answer and is not in the member list: stop it', () => {
    assert.equal(decide({ active: true, local: { clusterId: 'c9', memberId: '3' }, target: { clusterId: 'c1', members: voters } }).kind, 'stop');
    assert.equal(decide({ active: true, local: { error: 'refused' }, target: { clusterId: 'c1', members: voters } }).kind, 'stop');
  });
  it('a member of this cluster that was removed from it (still running): stop it', () => {
    const d = decide({ active: true, local: { clusterId: 'c1', memberId: '9' }, target: { clusterId: 'c1', members: voters } });
    assert.equal(d.kind, 'stop');
    assert.match(d.kind === 'stop' ? d.why : '', /was member 9 of cluster c1 and has been removed from it/);
  });
  it('never stopped without proof: refused when the cluster cannot be asked, or it lists this host but the local etcd does not answer', () => {
    assert.equal(decide({ active: true, local, target: { error: 'unreachable' } }).kind, 'refuse');
    assert.equal(decide({ active: true, local: { error: 'refused' }, target }).kind, 'refuse');
    assert.equal(decide({ active: true, local: { clusterId: 'c1', memberId: '1' }, target: { clusterId: 'c1', members: voters } }).kind, 'refuse', 'another member of it, under other peer URLs');
  });
});

describe("init's take-over decision", () => {
  const obs = (over: Partial<HostObservation> & { member?: boolean }): HostObservation => ({
    record: undefined,
    etcdActive: false,
    dirs: [{ role: 'data dir', path: '/var/lib/etcd', kind: over.member ? 'dir' : 'missing', entries: over.member ? ['member'] : [] }],
    free: [],
    portsTaken: [],
    ...over,
  });
  const iplan = planOf({}, host, undefined, 'init');
  const resumable = record({ createdBy: 'init', complete: false, memberName: 'node-c' });
  it('a fresh host: fresh', () => assert.deepEqual(decideInitTakeover(iplan, obs({}), NO_OPTIONS), { kind: 'fresh' }));
  it('etcd running or a member in the data dir: refused without --force, taken over with it', () => {
    for (const o of [obs({ etcdActive: true }), obs({ member: true })]) {
      assert.equal(decideInitTakeover(iplan, o, NO_OPTIONS).kind, 'refuse');
      assert.equal(decideInitTakeover(iplan, o, force).kind, 'take-over');
    }
    assert.deepEqual(decideInitTakeover(iplan, obs({ etcdActive: true, member: true }), force), { kind: 'take-over', stop: true, moveData: true });
  });
  it('an interrupted init of this member: resumed (its etcd and data are its own)', () => {
    assert.equal(decideInitTakeover(iplan, obs({ etcdActive: true, member: true, record: resumable }), NO_OPTIONS).kind, 'resume');
    assert.equal(decideInitTakeover(iplan, obs({ record: resumable }), NO_OPTIONS).kind, 'resume');
  });
  it('a finished init or a join is never resumed: a new init over it needs --force and gets a new cluster', () => {
    for (const r of [record({ createdBy: 'init', complete: true }), record({ createdBy: 'join', complete: false })])
      assert.equal(decideInitTakeover(iplan, obs({ etcdActive: true, record: r }), NO_OPTIONS).kind, 'refuse');
    assert.equal(decideInitTakeover(iplan, obs({ etcdActive: true, record: resumable }), force).kind, 'take-over');
  });
});

describe('preflight checks of the host', () => {
  it('system directories and their parents are never a data, WAL or certs dir', () => {
    for (const [flags, re] of [
      [{ dataDir: '/etc' }, /\/etc is a system directory: it cannot be the data dir/],
      [{ dataDir: '/var/lib' }, /\/var\/lib is a system directory/],
      [{ certsDir: '/var' }, /\/var is a system directory: it cannot be the certs dir/],
      [{ dataDir: '/' }, /\/ is a system directory/],
      [{ dataDir: '/usr/local/' }, /\/usr\/local is a system directory/],
      [{ dataDir: '/srv/etcd', certsDir: '/srv/etcd/pki' }, /the certs dir \/srv\/etcd\/pki is inside the data dir \/srv\/etcd/],
      [{ dataDir: '/opt/bin/etcd-data' }, /inside the install dir \/opt\/bin/],
    ] as const) {
      const p = dirRuleProblem(planOf(flags, host, undefined, 'init'));
      assert.ok(p, JSON.stringify(flags));
      assert.match(p.message, re);
      assert.equal(p.exitCode, 2);
    }
    assert.equal(dirRuleProblem(planOf({ dataDir: '/var/lib/etcd-a', certsDir: '/etc/etcd/pki-a' }, host, undefined, 'init')), undefined);
  });
  it('a directory holding what etcd or etcdadm did not make is refused; a file where a directory belongs too', () => {
    const d = (role: 'data dir' | 'certs dir', entries: string[], kind: 'dir' | 'file' = 'dir') => [{ role, path: `/x/${role}`, kind, entries }];
    assert.equal(dirContentProblem(d('data dir', ['member', 'member.bak-20260101T000000Z', 'lost+found'])), undefined);
    assert.match(dirContentProblem(d('data dir', ['member', 'notes.txt']))!.message, /holds files that are not etcd's or etcdadm's \(notes\.txt\)/);
    assert.equal(dirContentProblem(d('certs dir', ['ca.crt', 'ca.key', 'server.crt', '.server.key.0123456789ab.tmp'])), undefined);
    assert.match(dirContentProblem(d('certs dir', ['ca.crt', 'kube.pem']))!.message, /kube\.pem/);
    assert.match(dirContentProblem(d('certs dir', [], 'file'))!.message, /exists but is not a directory/);
  });
  it('a filesystem with less free space than a WAL segment and backend need is refused, naming it', () => {
    const p = freeSpaceProblem([{ role: 'data dir', path: '/mnt/tiny/etcd', bytes: 2 * 1024 * 1024 }]);
    assert.match(p!.message, /the filesystem of the data dir \/mnt\/tiny\/etcd has 2\.0 MiB free; etcd needs at least 128\.0 MiB/);
    assert.equal(freeSpaceProblem([{ role: 'data dir', path: '/var/lib/etcd', bytes: 10 * 1024 ** 3 }]), undefined);
  });
  it('the checks run in order: directory rules first', () => {
    const p = planOf({ dataDir: '/etc' }, host, undefined, 'init');
    const o: HostObservation = { record: undefined, etcdActive: false, dirs: [], free: [{ role: 'data dir', path: '/etc', bytes: 0 }], portsTaken: [] };
    assert.match(hostProblem(p, o)!.message, /system directory/);
  });
});

describe("reset's decisions", () => {
  const nothing: ResetWorld = { record: false, unit: false, envFile: false, dataDir: false, certs: false, binaries: false };
  it('nothing of etcdadm on the host: nothing to reset (exit 0); anything of it: reset', () => {
    assert.equal(decideResetPreflight(plan, nothing).kind, 'nothing');
    for (const k of Object.keys(nothing) as (keyof ResetWorld)[]) assert.equal(decideResetPreflight(plan, { ...nothing, [k]: true }).kind, 'reset', k);
  });
  it('a record pointing at a system directory (hand-edited) makes reset refuse', () => {
    const d = decideResetPreflight(planOf({ dataDir: '/etc' }, host, undefined, 'reset'), { ...nothing, record: true });
    assert.equal(d.kind, 'refuse');
    assert.match(d.kind === 'refuse' ? d.message : '', /the data dir \/etc is not a directory of etcd's own/);
  });
  it('the data dir: deleted only with proof the member is gone, else moved aside', () => {
    assert.equal(decideDataDir({ dataHasMember: true, provenGone: true }).kind, 'delete');
    assert.equal(decideDataDir({ dataHasMember: true, provenGone: false }).kind, 'move-aside');
    assert.equal(decideDataDir({ dataHasMember: false, provenGone: true }).kind, 'none');
  });
  it('leaving the cluster: the last member needs --force, an unreachable cluster too, --skip-remove-member leaves it alone', () => {
    const list = (members: Member[]) => ({ clusterIdHex: 'c1', members });
    const world = (members: Member[] | Error) => ({ hasClientCert: true, list: members instanceof Error ? { error: members as never } : list(members), record: undefined });
    assert.equal(decideRemoval(plan, world([...voters, member(3)]), NO_OPTIONS).kind, 'remove');
    assert.equal(decideRemoval(plan, world(voters), NO_OPTIONS).kind, 'gone');
    assert.equal(decideRemoval(plan, world([member(3)]), NO_OPTIONS).kind, 'refuse');
    assert.equal(decideRemoval(plan, world([member(3)]), force).kind, 'skip');
    assert.equal(decideRemoval(plan, world(new Error('unreachable')), NO_OPTIONS).kind, 'refuse');
    assert.equal(decideRemoval(plan, world(new Error('unreachable')), force).kind, 'skip');
    assert.equal(decideRemoval(plan, world([...voters, member(3)]), { ...NO_OPTIONS, skipRemoveMember: true }).kind, 'skip');
    assert.equal(decideRemoval(plan, { hasClientCert: false, record: undefined }, NO_OPTIONS).kind, 'refuse');
  });
});

describe('membership rules', () => {
  const st = (members: Partial<MemberStatus>[]): Pick<ClusterStatus, 'members'> => ({
    members: members.map((m, i) => ({
      name: `n${i}`, id: String(i), peerURLs: [], clientURLs: [], role: 'follower', isLearner: false, health: 'healthy', endpoint: null,
      version: '3.5.30', dbSize: 1, dbSizeInUse: 1, raftTerm: 2, raftIndex: 10, raftAppliedIndex: 10, alarms: [], error: null, ...m,
    })),
  });
  it('leadership moves to the started, healthy voter with the highest applied index', () => {
    const s = st([{ role: 'leader', raftAppliedIndex: 50 }, { raftAppliedIndex: 40 }, { raftAppliedIndex: 45 }, { isLearner: true, raftAppliedIndex: 99 }, { health: 'unreachable', raftAppliedIndex: 60 }]);
    assert.equal(transferTarget(s, '0'), '2');
    assert.equal(transferTarget(st([{ role: 'leader' }, { health: 'unhealthy' }]), '0'), undefined);
  });
  it('a voter that is unreachable or unstarted blocks every add (strict reconfig check); a down learner does not', () => {
    assert.deepEqual(blockingVoters(st([{}, { health: 'unreachable' }, { role: 'unstarted', health: 'unreachable' }, { isLearner: true, health: 'unreachable' }])), [
      { id: '1', name: 'n1', why: 'unreachable' },
      { id: '2', name: 'n2', why: 'not started' },
    ]);
  });
});

describe('decideJoinVersion: join installs what the cluster runs', async () => {
  const { decideJoinVersion } = await import('../../src/phases/join-version.js');
  it('one version running: that one, whether or not --version names it', () => {
    assert.deepEqual(decideJoinVersion(undefined, ['3.5.30', '3.5.30']), { kind: 'use', version: '3.5.30', why: 'the cluster runs etcd 3.5.30' });
    assert.equal(decideJoinVersion('3.6.16', ['3.6.16']).kind, 'use');
  });
  it('a different --version is refused, naming the running version and the upgrade command', () => {
    const d = decideJoinVersion('3.6.16', ['3.5.30', '3.5.30', '3.5.30']);
    assert.equal(d.kind, 'refuse');
    assert.match(d.kind === 'refuse' ? d.message : '', /^the cluster runs etcd 3\.5\.30; joining with --version 3\.6\.16 would make it a mixed-version cluster$/);
    assert.match(d.kind === 'refuse' ? d.hint : '', /--version 3\.5\.30.*upgrade plan --version 3\.6\.16/);
  });
  it('during a rolling upgrade: either version when given, else the newest (where the upgrade goes)', () => {
    assert.deepEqual(decideJoinVersion(undefined, ['3.6.16', '3.5.30', '3.5.30']), {
      kind: 'use', version: '3.6.16', why: "the cluster's members run etcd 3.5.30, 3.6.16 (a rolling upgrade or downgrade); installing the newest",
    });
    const older = decideJoinVersion('3.5.30', ['3.6.16', '3.5.30']);
    assert.equal(older.kind === 'use' ? older.version : older.kind, '3.5.30');
    assert.equal(decideJoinVersion('3.7.3', ['3.6.16', '3.5.30']).kind, 'refuse');
  });
  it('no member answered: --version is used as given, without it the join is refused', () => {
    assert.equal(decideJoinVersion('3.6.16', []).kind, 'use');
    assert.equal(decideJoinVersion(undefined, []).kind, 'refuse');
  });
});
