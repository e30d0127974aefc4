/**
 * `etcdadm reconfigure`'s decisions, without root, hosts or etcd: the settings it runs on (a document replaces the
 * record's, flags over either, the version and what etcd.env does not hold kept), the variables that change, nothing
 * to change, each refusal, and whether the member and the cluster can afford the restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { flagsLayer } from '../../src/cli/flags.js';
import { desiredEnvText, envChanges, reconfigureLayers, restartRefusal } from '../../src/cluster/reconfigure.js';
import type { ClusterStatus, MemberStatus } from '../../src/cluster/status.js';
import { parseConfigLayer } from '../../src/config/file.js';
import { resolvePlan } from '../../src/config/plan/index.js';
import { mergeSettings, type SettingsLayer } from '../../src/config/settings.js';
import type { Plan } from '../../src/config/types.js';
import { EtcdadmError } from '../../src/errors.js';
import { decideReconfigure, type ReconfigureObservation } from '../../src/phases/reconfigure.js';
import { parseEnvFile, renderEnvFile, renderEtcdctlEnv } from '../../src/service/render.js';
import { eth0, hostFacts } from '../helpers/plan.js';
import { clusterStatus, memberStatus } from '../helpers/status.js';

const host = hostFacts([eth0('10.0.0.1')], ['eth0'], 'node-a');
const VERSION = '3.5.30';
const FACTS = { initialCluster: 'node-a=https://10.0.0.1:2380,node-b=https://10.0.0.2:2380', token: 'etcd-abc', state: 'new' as const };

/** The host record's settings as a layer: what init resolved here (derived values written out), with `over`. */
function recordOf(over: Record<string, Record<string, unknown>> = {}): SettingsLayer {
  const doc = { etcd: { version: VERSION, heartbeatInterval: 200, electionTimeout: 2000 }, backup: { every: '1h' }, ...over };
  const settings = resolvePlan([parseConfigLayer(stringify({ apiVersion: 'etcdadm.io/v1beta1', kind: 'InitConfiguration', ...doc }), 'init.yaml')], host).settings;
  return { name: '/etc/etcd/etcdadm.yaml', values: settings, problem: (at, message) => new EtcdadmError(`settings.${at.join('.')}: ${message}`) };
}
const RECORD = recordOf();
const RUNNING = resolvePlan([RECORD], host);
const RUNNING_ENV = renderEnvFile(RUNNING, FACTS);

/** A document as --config gives it. */
const file = (doc: object) => parseConfigLayer(stringify({ apiVersion: 'etcdadm.io/v1beta1', kind: 'JoinConfiguration', ...doc }), 'new.yaml', { etcdVersion: VERSION });
const flags = (opts: Record<string, unknown> = {}, version?: string) => flagsLayer(opts, 'reconfigure', version ? { etcd: { version } } : {}, VERSION);
/** The plan a reconfigure runs on: as the command resolves it. */
const planOf = (input: { file?: SettingsLayer; flags?: SettingsLayer; recorded?: SettingsLayer }): Plan =>
  resolvePlan(reconfigureLayers({ recorded: input.recorded ?? RECORD, flags: input.flags ?? flags(), ...(input.file ? { file: input.file } : {}) }).layers, host);

const member = (name: string, over: Partial<MemberStatus> = {}): MemberStatus => memberStatus(name, { id: name, version: VERSION, ...over });
const status = (members: MemberStatus[]): ClusterStatus => clusterStatus(members, { version: VERSION, leaderId: 'node-b', leaderName: 'node-b' });
const THREE = [member('node-a'), member('node-b', { role: 'leader' }), member('node-c')];
const world = (over: Partial<ReconfigureObservation> = {}): ReconfigureObservation => ({
  env: parseEnvFile(RUNNING_ENV),
  etcdctlEnv: renderEtcdctlEnv(RUNNING),
  token: 'etcd-abc',
  status: status(THREE),
  selfId: 'node-a',
  selfName: 'node-a',
  upgrade: undefined,
  resuming: false,
  ...over,
});
const OPTIONS = { recorded: mergeSettings([RECORD]) };

describe('reconfigure: the variables that change', () => {
  it('a new quota and an extraArgs entry: exactly those variables, from → to; the cluster facts of the running file kept', () => {
    const plan = planOf({ flags: flags({ quotaBackendBytes: '4294967296' }), file: file({ etcd: { heartbeatInterval: 200, electionTimeout: 2000, extraArgs: { 'max-txn-ops': 256 } } }) });
    const desired = desiredEnvText(plan, RUNNING_ENV);
    assert.deepEqual(envChanges(RUNNING_ENV, desired), [
      { key: 'ETCD_QUOTA_BACKEND_BYTES', from: '2147483648', to: '4294967296' },
      { key: 'ETCD_MAX_TXN_OPS', to: '256' },
    ]);
    const env = parseEnvFile(desired);
    assert.equal(env.get('ETCD_INITIAL_CLUSTER'), FACTS.initialCluster);
    assert.equal(env.get('ETCD_INITIAL_CLUSTER_STATE'), 'new', 'as written at the first start');
    assert.equal(env.get('ETCD_INITIAL_CLUSTER_TOKEN'), 'etcd-abc');
  });

  it('a variable the new settings drop is a change to (unset); the token comes from the record when the file names none', () => {
    const withExtra = resolvePlan([recordOf({ etcd: { version: VERSION, heartbeatInterval: 200, electionTimeout: 2000, extraArgs: { 'max-txn-ops': 256 } } })], host);
    const running = renderEnvFile(withExtra, FACTS).replace(/^ETCD_INITIAL_CLUSTER_TOKEN=.*\n/m, '');
    const desired = desiredEnvText(planOf({}), running, 'etcd-from-record');
    assert.deepEqual(envChanges(running, desired), [{ key: 'ETCD_INITIAL_CLUSTER_TOKEN', to: 'etcd-from-record' }, { key: 'ETCD_MAX_TXN_OPS', from: '256' }]);
    assert.throws(() => desiredEnvText(planOf({}), 'ETCD_NAME=node-a\n'), /\/etc\/etcd\/etcd\.env has no ETCD_INITIAL_CLUSTER\/ETCD_INITIAL_CLUSTER_TOKEN/);
  });

  it('without --config: the record with the flags over it; with --config: the document replaces the record (what it leaves out takes its default)', () => {
    assert.equal(planOf({ flags: flags({ quotaBackendBytes: '4294967296' }) }).etcd.heartbeatInterval, 200, 'the recorded heartbeat stays');
    const replaced = planOf({ file: file({ etcd: { quotaBackendBytes: 4294967296 } }) });
    assert.deepEqual(
      envChanges(RUNNING_ENV, desiredEnvText(replaced, RUNNING_ENV)).map((c) => [c.key, c.to]),
      [['ETCD_QUOTA_BACKEND_BYTES', '4294967296'], ['ETCD_HEARTBEAT_INTERVAL', '100'], ['ETCD_ELECTION_TIMEOUT', '1000']],
    );
    assert.equal(planOf({ file: file({}), flags: flags({ heartbeatInterval: '300', electionTimeout: '3000' }) }).etcd.heartbeatInterval, 300, 'flags win over the document');
  });

  it('the version and what etcd.env does not hold stay as recorded; the document\'s other values for them are named', () => {
    const r = reconfigureLayers({ recorded: RECORD, flags: flags(), file: file({ pki: { autoRenew: true }, join: { endpoints: ['https://10.0.0.9:2379'] } }) });
    assert.deepEqual(r.kept, ['pki.autoRenew', 'backup.every'], 'join.* only matters while joining: not named');
    const plan = resolvePlan(r.layers, host);
    assert.equal(plan.release.version, VERSION, 'not the default version');
    assert.equal(plan.settings.backup.every, '1h');
    assert.equal(plan.settings.pki.autoRenew, false);
    assert.deepEqual(reconfigureLayers({ recorded: RECORD, flags: flags({ quotaBackendBytes: '1073741824' }) }).kept, []);
  });

  it('another etcd version, from --version or the document: refused with exit code 2, naming upgrade apply; the same version is fine', () => {
    for (const [input, pattern] of [
      [{ flags: flags({}, '3.6.16') }, /^--version names etcd 3\.6\.16; reconfigure keeps the version this member runs, 3\.5\.30$/],
      [{ file: file({ etcd: { version: '3.6.16' } }), flags: flags() }, /^new\.yaml names etcd 3\.6\.16/],
    ] as const) {
      assert.throws(
        () => reconfigureLayers({ recorded: RECORD, ...input }),
        (e: EtcdadmError) => pattern.test(e.message) && e.exitCode === 2 && /etcdadm upgrade apply --version 3\.6\.16/.test(e.hint ?? ''),
      );
    }
    assert.doesNotThrow(() => reconfigureLayers({ recorded: RECORD, flags: flags({}, VERSION), file: file({ etcd: { version: 'v3.5.30' } }) }));
  });
});

describe('reconfigure: nothing to change', () => {
  it('the same settings: nothing, whatever the running file\'s comments and order', () => {
    const d = decideReconfigure(planOf({}), world({ env: parseEnvFile(`# edited\n${RUNNING_ENV.split('\n').reverse().join('\n')}`) }), OPTIONS);
    assert.deepEqual(d, { kind: 'nothing', why: 'Nothing to change: /etc/etcd/etcd.env and /etc/etcd/etcdctl.env already hold these settings' });
  });
  it('a document with the recorded values: nothing (even with other values for what etcd.env does not hold)', () => {
    const doc = { etcd: { heartbeatInterval: 200, electionTimeout: 2000 }, backup: { every: '' } };
    assert.equal(decideReconfigure(planOf({ file: file(doc) }), world(), OPTIONS).kind, 'nothing');
  });
  it('an interrupted run noted in the record: goes on (restart, health, record) with no variable left to change', () => {
    const d = decideReconfigure(planOf({}), world({ resuming: true, status: status([member('node-a', { health: 'unreachable' }), THREE[1]!, THREE[2]!]) }), OPTIONS);
    assert.equal(d.kind, 'go');
    assert.deepEqual(d.kind === 'go' && [...d.files.changes.env, ...d.files.changes.etcdctlEnv], []);
  });
  it('an etcdctl.env that differs is a change too', () => {
    const d = decideReconfigure(planOf({}), world({ etcdctlEnv: renderEtcdctlEnv(RUNNING).replace('3s', '9s') }), OPTIONS);
    assert.deepEqual(d.kind === 'go' && d.files.changes.etcdctlEnv, [{ key: 'ETCDCTL_DIAL_TIMEOUT', from: '9s', to: '3s' }]);
  });
});

describe('reconfigure: what a restart cannot change, refused with exit code 2', () => {
  const refusal = (plan: Plan, w = world()) => {
    const d = decideReconfigure(plan, w, OPTIONS);
    assert.equal(d.kind, 'refuse');
    assert.equal(d.kind === 'refuse' && d.exitCode, 2);
    return d.kind === 'refuse' ? d : { message: '', hint: '' };
  };
  const keep = { etcd: { heartbeatInterval: 200, electionTimeout: 2000 } };
  for (const [what, doc, message, hint] of [
    ['the member name', { member: { name: 'node-x' } }, /^a restart cannot change the member name \(member\.name: node-a → node-x\)$/, /etcdadm reset on this host, then etcdadm join/],
    ['the data dir', { member: { dataDir: '/var/lib/etcd2' } }, /the data dir \(member\.dataDir: \/var\/lib\/etcd → \/var\/lib\/etcd2\)/, /without its data/],
    ['the WAL dir', { member: { walDir: '/var/lib/etcd-wal' } }, /the WAL dir \(member\.walDir: \(none\) → \/var\/lib\/etcd-wal\)/, /without its data/],
    ['the peer URLs (port)', { member: { peerPort: 12380 } }, /the peer URLs \(member\.listenPeerURLs: https:\/\/10\.0\.0\.1:2380 → https:\/\/10\.0\.0\.1:12380; member\.advertisePeerURLs/, /member update/],
    ['the certificate paths', { pki: { certsDir: '/etc/etcd/pki2' } }, /the certificate paths \(pki\.certsDir: \/etc\/etcd\/pki → \/etc\/etcd\/pki2\)/, /pki\.certsDir/],
    ["the service's init system", { service: { initSystem: 'kubelet' } }, /the service's init system \(service\.initSystem: systemd → kubelet\)/, /set up by init or join/],
    ["the service's user", { service: { user: 'etcd' } }, /the service's user \(service\.user: root → etcd\)/, /service\.\*/],
    ["the service's unit", { service: { unitName: 'etcd2.service' } }, /service\.unitName: etcd\.service → etcd2\.service/, /service\.\*/],
    ['the install dir', { install: { installDir: '/usr/local/bin' } }, /the install dir \(install\.installDir: \/opt\/bin → \/usr\/local\/bin\)/, /install\.installDir/],
  ] as const) {
    it(`${what}: refused, naming the field, the values and what to do instead`, () => {
      const d = refusal(planOf({ file: file({ ...keep, ...doc }) }));
      assert.match(d.message, message);
      assert.match(d.hint, hint);
    });
  }
  it('several at once: each named; a client URL change alone is fine', () => {
    assert.match(refusal(planOf({ file: file({ ...keep, member: { name: 'node-x', dataDir: '/srv/etcd' } }) })).message, /^a restart cannot change the member name and the data dir \(/);
    const d = decideReconfigure(planOf({ file: file({ ...keep, member: { clientPort: 12379 } }) }), world(), OPTIONS);
    assert.equal(d.kind, 'go');
    assert.deepEqual(d.kind === 'go' && d.files.changes.env.map((c) => c.key), ['ETCD_ADVERTISE_CLIENT_URLS', 'ETCD_LISTEN_CLIENT_URLS']);
  });
  it('a running etcd.env edited by hand (another data dir): refused too, naming the variable', () => {
    const d = refusal(planOf({}), world({ env: parseEnvFile(RUNNING_ENV.replace('ETCD_DATA_DIR=/var/lib/etcd', 'ETCD_DATA_DIR=/srv/etcd')) }));
    assert.match(d.message, /the data dir \(ETCD_DATA_DIR: \/srv\/etcd → \/var\/lib\/etcd\)/);
    assert.equal(restartRefusal(OPTIONS.recorded, planOf({}).settings, [{ key: 'ETCD_QUOTA_BACKEND_BYTES', from: '1', to: '2' }]), undefined);
  });
});

describe('reconfigure: the member and the cluster must afford the restart', () => {
  const quota = planOf({ flags: flags({ quotaBackendBytes: '4294967296' }) });
  const refused = (w: ReconfigureObservation, pattern: RegExp) => {
    const d = decideReconfigure(quota, w, OPTIONS);
    assert.equal(d.kind, 'refuse');
    assert.match(d.kind === 'refuse' ? d.message : '', pattern);
    assert.notEqual(d.kind === 'refuse' && d.exitCode, 2);
  };
  it('a healthy member of a healthy 3-member cluster: go, no warning', () => {
    const d = decideReconfigure(quota, world(), OPTIONS);
    assert.equal(d.kind, 'go');
    assert.deepEqual(d.kind === 'go' && [d.self.name, d.warnings], ['node-a', []]);
  });
  it('not a member, an upgrade under way, this member down, another voting member down: refused', () => {
    refused(world({ selfId: 'gone', selfName: 'gone' }), /this host's member gone is not a member of the cluster/);
    refused(world({ upgrade: { from: '3.5.30', to: '3.6.16' } }), /an upgrade of member node-a from etcd 3\.5\.30 to 3\.6\.16 is under way/);
    refused(world({ status: status([member('node-a', { health: 'unreachable', error: 'connection refused' }), THREE[1]!, THREE[2]!]) }), /member node-a is unreachable \(connection refused\): reconfigure restarts a healthy member only/);
    refused(world({ status: status([THREE[0]!, THREE[1]!, member('node-c', { health: 'unreachable' })]) }), /the cluster cannot afford node-a restarting: voting member node-c \(unreachable\) is not healthy/);
  });
  it('a learner down costs no quorum: go; two voting members: go with a warning', () => {
    assert.equal(decideReconfigure(quota, world({ status: status([...THREE, member('node-d', { isLearner: true, role: 'learner', health: 'unhealthy' })]) }), OPTIONS).kind, 'go');
    const d = decideReconfigure(quota, world({ status: status(THREE.slice(0, 2)) }), OPTIONS);
    assert.deepEqual(d.kind === 'go' && d.warnings, ['with 2 voting members the cluster has no quorum while node-a restarts']);
  });
});
