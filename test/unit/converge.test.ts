/**
 * apply's decisions (src/cluster/converge.ts) and the Cluster document resolved per host (src/config/cluster.ts):
 * bootstrap once, then one safe change at a time, and every refusal before anything changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideConverge, nextInRoll, timerChanges, type ClusterView, type HostView, type MemberView, type Step } from '../../src/cluster/converge.js';
import { resolveCluster } from '../../src/config/cluster.js';
import { parseConfigText } from '../../src/config/file.js';

const host = (i: number, over: Partial<HostView> = {}): HostView => ({ index: i - 1, address: `10.0.0.${i}`, name: `etcd-${i}`, record: { clusterId: 'c1', memberName: `etcd-${i}`, complete: true, etcdVersion: '3.6.16' }, ...over });
const member = (i: number, over: Partial<MemberView> = {}): MemberView => ({ id: `a${i}`, name: `etcd-${i}`, peerHosts: [`10.0.0.${i}`], isLearner: false, healthy: true, ...over });
const cluster = (members: MemberView[], version = '3.6.16'): ClusterView => ({ clusterId: 'c1', members, version });
const kinds = (steps: Step[]) => steps.map((s) => `${s.kind}${'host' in s && s.host ? ` ${s.host}` : ''}${'member' in s ? ` ${s.member}` : ''}`);
const stepsOf = (p: ReturnType<typeof decideConverge>) => {
  assert.equal(p.kind, 'steps', JSON.stringify(p));
  return p.kind === 'steps' ? p.steps : [];
};
const three = [member(1), member(2), member(3)];

describe('apply: what it takes to match the file', () => {
  it('bare hosts: one bootstrap step with every host, at the version of the file', () => {
    const p = decideConverge({ hosts: [1, 2, 3].map((i) => host(i, { record: undefined })), version: '3.6.16' });
    assert.deepEqual(stepsOf(p), [{ kind: 'bootstrap', hosts: ['etcd-1', 'etcd-2', 'etcd-3'], version: '3.6.16', why: 'no host has a cluster yet: all 3 members set up and started together' }]);
  });

  it('everything as the file says: nothing to do, said so', () => {
    const p = decideConverge({ hosts: [1, 2, 3].map((i) => host(i)), cluster: cluster(three), version: '3.6.16' });
    assert.deepEqual(p, { kind: 'nothing', why: 'cluster c1 matches the file: 3 members on etcd 3.6.16, nothing to do' });
  });

  it('two hosts added: joined one at a time', () => {
    const p = decideConverge({ hosts: [...[1, 2, 3].map((i) => host(i)), host(4, { record: undefined }), host(5, { record: undefined })], cluster: cluster(three), version: '3.6.16' });
    assert.deepEqual(kinds(stepsOf(p)), ['join etcd-4', 'join etcd-5']);
  });

  it('a host replaced (same name, new address): the old member removed first, then the new host joins', () => {
    const p = decideConverge({ hosts: [host(1), host(2), host(3, { address: '10.0.0.9', record: undefined })], cluster: cluster(three), version: '3.6.16' });
    const steps = stepsOf(p);
    assert.deepEqual(kinds(steps), ['remove etcd-3', 'join etcd-3']);
    assert.equal(steps[0]!.kind === 'remove' && steps[0]!.reset, false, 'the replaced host is not reset through the file: it is not in it any more');
    assert.match(steps[1]!.why, /takes its place at 10\.0\.0\.9/);
  });

  it('a host removed: its member removed (quorum-guarded at run time) and its host reset; a dead one removed before any join', () => {
    const p = decideConverge({ hosts: [1, 2, 3, 4].map((i) => host(i)), cluster: cluster([...three, member(4), member(5)]), version: '3.6.16' });
    const steps = stepsOf(p);
    assert.deepEqual(kinds(steps), ['remove 10.0.0.5 etcd-5']);
    assert.equal(steps[0]!.kind === 'remove' && steps[0]!.reset, true);
    const dead = decideConverge({ hosts: [1, 2, 3].map((i) => host(i)).concat(host(6, { record: undefined })), cluster: cluster([...three, member(4, { healthy: false })]), version: '3.6.16' });
    assert.deepEqual(kinds(stepsOf(dead)), ['remove 10.0.0.4 etcd-4', 'join etcd-6']);
  });

  it('removing 3 of 5 voting members in one apply: refused before anything changes', () => {
    const p = decideConverge({ hosts: [1, 2].map((i) => host(i)), cluster: cluster([...three, member(4), member(5)]), version: '3.6.16' });
    assert.equal(p.kind, 'refuse');
    assert.match(p.kind === 'refuse' ? p.message : '', /leaves out 3 of the 5 voting members \(etcd-3, etcd-4, etcd-5\): removing a majority at once costs quorum/);
    assert.match(p.kind === 'refuse' ? p.hint : '', /at most 2 per apply/);
    assert.equal(decideConverge({ hosts: [1, 2, 3].map((i) => host(i)), cluster: cluster([...three, member(4), member(5)]), version: '3.6.16' }).kind, 'steps', '2 of 5 is fine');
  });

  it('a host whose record names another cluster, or hosts of two clusters: refused', () => {
    const p = decideConverge({ hosts: [host(1), host(2), host(3, { record: { clusterId: 'c9', memberName: 'etcd-3', complete: true, etcdVersion: '3.6.16' } })], cluster: cluster([member(1), member(2)]), version: '3.6.16' });
    assert.equal(p.kind, 'refuse');
    assert.match(p.kind === 'refuse' ? p.message : '', /different clusters \(c1: etcd-1, etcd-2; c9: etcd-3\)/);
    const alone = decideConverge({ hosts: [host(1), host(2, { record: { clusterId: 'c9', memberName: 'etcd-2', complete: true, etcdVersion: '3.6.16' } })], cluster: cluster([member(1)]), version: '3.6.16' });
    assert.match(alone.kind === 'refuse' ? alone.message : '', /different clusters/);
  });

  it('a host that cannot be read, one set up by another tool, records without an answering member: refused', () => {
    assert.match((decideConverge({ hosts: [host(1), host(2, { unreachable: 'connection refused' })], cluster: cluster(three), version: '3.6.16' }) as { message: string }).message, /cannot read host etcd-2 \(10\.0\.0\.2\): connection refused/);
    assert.match((decideConverge({ hosts: [host(1, { record: undefined, foreign: 'etcdadm v0.1.x' })], version: '3.6.16' }) as { hint: string }).hint, /etcdadm adopt/);
    assert.match((decideConverge({ hosts: [host(1), host(2)], version: '3.6.16' }) as { message: string }).message, /have records of cluster c1, but no member of it answers/);
  });

  it('a version one minor away: the rolling upgrade (or downgrade); two minors: refused', () => {
    const up = stepsOf(decideConverge({ hosts: [1, 2, 3].map((i) => host(i)), cluster: cluster(three, '3.5.30'), version: '3.6.16' }));
    assert.deepEqual(up.map((s) => s.kind === 'upgrade' && `${s.from}->${s.to}`), ['3.5.30->3.6.16']);
    const down = stepsOf(decideConverge({ hosts: [1, 2, 3].map((i) => host(i)), cluster: cluster(three, '3.6.16'), version: '3.5.30' }));
    assert.match(down[0]!.why, /minor-downgrade/);
    const far = decideConverge({ hosts: [1, 2, 3].map((i) => host(i)), cluster: cluster(three, '3.4.23'), version: '3.6.16' });
    assert.match(far.kind === 'refuse' ? far.message : '', /one minor version at a time/);
  });

  it('changed settings, certificates due and timers: after membership and version, per host', () => {
    const p = decideConverge({ hosts: [host(1, { settingsDiffer: ['ETCD_QUOTA_BACKEND_BYTES: 2147483648 → 4294967296'], certsDue: ['server', 'peer'] }), host(2, { settingsDiffer: ['ETCD_LOG_LEVEL: info → warn'] }), host(3, { timersDiffer: [{ timer: 'backup', on: true, line: 'backups every 1h, keep 24 in /var/backups/etcdadm (now: none)' }] }), host(4, { record: undefined, settingsDiffer: ['ETCD_LOG_LEVEL'] })], cluster: cluster(three, '3.5.30'), version: '3.6.16' });
    const steps = stepsOf(p);
    assert.deepEqual(kinds(steps), ['join etcd-4', 'upgrade', 'reconfigure', 'renew-certs etcd-1', 'timers etcd-3']);
    assert.deepEqual(steps[2]!.kind === 'reconfigure' && steps[2]!.hosts, ['etcd-1', 'etcd-2'], 'a joining host gets the file settings by joining');
    assert.equal(steps[2]!.why, 'etcd-1: ETCD_QUOTA_BACKEND_BYTES: 2147483648 → 4294967296; etcd-2: ETCD_LOG_LEVEL: info → warn', 'what changes, per host');
    assert.equal(steps[3]!.why, 'server, peer of etcd-1 within pki.renewBeforeDays of the file, or expired');
    assert.equal(steps[4]!.why, 'etcd-3: backups every 1h, keep 24 in /var/backups/etcdadm (now: none)');
  });
});

describe('the Cluster document resolved per host', () => {
  const doc = parseConfigText(
    'apiVersion: etcdadm.io/v1beta1\nkind: Cluster\nssh:\n  user: ops\n  identityFile: ~/.ssh/id_ed25519\nhosts:\n  - address: 10.0.0.1\n    name: etcd-a\n  - address: etcd-b.example\n    ssh: {port: 2200, user: root}\n    member: {dataDir: /srv/etcd}\n  - address: 10.0.0.3\n    caHolder: false\nmember:\n  dataDir: /var/lib/etcd\netcd:\n  version: 3.6.16\n',
    '/root/cluster.yaml',
  );
  it("each host's ssh (its own over the file's over OpenSSH's defaults, ~ expanded) and member settings", () => {
    const spec = resolveCluster(doc, '/home/ops');
    assert.deepEqual(spec.hosts[0]!.ssh, { address: '10.0.0.1', user: 'ops', port: 22, identityFile: '/home/ops/.ssh/id_ed25519', knownHostsFile: '/home/ops/.ssh/known_hosts' });
    assert.deepEqual(spec.hosts[1]!.ssh, { address: 'etcd-b.example', user: 'root', port: 2200, identityFile: '/home/ops/.ssh/id_ed25519', knownHostsFile: '/home/ops/.ssh/known_hosts' });
    assert.deepEqual(spec.hosts[0]!.settings.member, { dataDir: '/var/lib/etcd', name: 'etcd-a', bindAddress: '10.0.0.1' });
    assert.deepEqual(spec.hosts[1]!.settings.member, { dataDir: '/srv/etcd' }, 'a host name is not a bind address; its own dataDir wins');
    assert.equal(spec.hosts[1]!.name, undefined, 'named by its hostname when apply reads it');
    assert.equal(spec.hosts[0]!.settings.etcd?.version, '3.6.16');
  });
  it('the CA holders: those marked, else the first host only', () => {
    assert.deepEqual(resolveCluster(doc, '/root').hosts.map((h) => h.caHolder), [true, false, false]);
    const marked = parseConfigText('apiVersion: etcdadm.io/v1beta1\nkind: Cluster\nhosts:\n  - address: 10.0.0.1\n  - address: 10.0.0.2\n    caHolder: true\n  - address: 10.0.0.3\n    caHolder: true\n', '/f');
    assert.deepEqual(resolveCluster(marked, '/root').hosts.map((h) => h.caHolder), [false, true, true]);
  });
});

describe('init --initial-cluster: a cluster bootstrapped together', () => {
  it('the list parses as etcd writes it; every mistake is refused as invalid input naming it', async () => {
    const { parseInitialCluster } = await import('../../src/config/urls.js');
    assert.deepEqual(parseInitialCluster('a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,b=https://[fd00::2]:2380'), [
      { name: 'a', peerURLs: ['https://10.0.0.1:2380'] },
      { name: 'b', peerURLs: ['https://10.0.0.2:2380', 'https://[fd00::2]:2380'] },
    ]);
    for (const [text, why] of [
      ['a', /"a" is not name=peer-URL/],
      ['a=https://10.0.0.1:2380,a=https://10.0.0.1:2380', /given twice/],
      ['a=https://10.0.0.1', /is not scheme:\/\/host:port/],
      ['-a=https://10.0.0.1:2380', /the name "-a"/],
      ['a=https://10.0.0.1:2380\nETCD_X=1', /control character/],
    ] as const) {
      assert.throws(() => parseInitialCluster(text), (err: Error & { exitCode?: number }) => why.test(err.message) && err.exitCode === 2, text);
    }
  });
  it('this member must be listed with its own peer URLs, with a shared token, and not with a snapshot', async () => {
    const { bootstrapProblem } = await import('../../src/phases/init.js');
    const { planOf, hostFacts, eth0 } = await import('../helpers/plan.js');
    const plan = planOf({}, hostFacts([eth0('10.0.0.1')], [], 'etcd-a'));
    const list = [{ name: 'etcd-a', peerURLs: ['https://10.0.0.1:2380'] }, { name: 'etcd-b', peerURLs: ['https://10.0.0.2:2380'] }];
    assert.equal(bootstrapProblem(plan, { initialCluster: list, clusterToken: 'tok-1' }), undefined);
    assert.equal(bootstrapProblem(plan, {}), undefined, 'a one-member init');
    assert.match(bootstrapProblem(plan, { initialCluster: list.slice(1), clusterToken: 't' })!.message, /does not list this member \(etcd-a\)/);
    assert.match(bootstrapProblem(plan, { initialCluster: [{ name: 'etcd-a', peerURLs: ['https://10.0.0.9:2380'] }], clusterToken: 't' })!.message, /but this member advertises https:\/\/10\.0\.0\.1:2380/);
    assert.match(bootstrapProblem(plan, { initialCluster: list })!.message, /needs one --cluster-token/);
    assert.match(bootstrapProblem(plan, { initialCluster: list, clusterToken: 'a b' })!.message, /invalid --cluster-token/);
    assert.match(bootstrapProblem(plan, { initialCluster: list, clusterToken: 't', snapshot: '/x.db' })!.message, /cannot be combined with --initial-cluster/);
    assert.match(bootstrapProblem(plan, { clusterToken: 't' })!.message, /--cluster-token is for a cluster bootstrapped together/);
  });
});

describe("apply's observation of a host (through any Host)", () => {
  const spec = (name?: string) => resolveCluster(parseConfigText(`apiVersion: etcdadm.io/v1beta1\nkind: Cluster\nhosts:\n  - address: 10.0.0.1\n${name ? `    name: ${name}\n` : ''}`, '/f'), '/root').hosts[0]!;
  it('a bare host: named by its hostname, no record; a host with a record: its cluster, member and version; an unreadable one: why', async () => {
    const { MemoryHost } = await import('../../src/host/memory.js');
    const { HostRecord } = await import('../../src/host/record.js');
    const { observeHost } = await import('../../src/apply/observe.js');
    const { planOf, hostFacts, eth0 } = await import('../helpers/plan.js');
    const facts = hostFacts([eth0('10.0.0.1')], [], 'etcd-a');
    const bare = new MemoryHost({ name: 'etcd-a', facts });
    assert.deepEqual(await observeHost(spec(), bare), { index: 0, address: '10.0.0.1', name: 'etcd-a' });
    const plan = planOf({ name: 'etcd-z', version: '3.5.30' }, facts);
    const r = await HostRecord.load(bare);
    await r.begin({ createdBy: 'init', clusterToken: 't', memberName: 'etcd-z', settings: plan.settings });
    await r.update({ clusterId: 'c7', complete: true });
    // a member without the env files init writes cannot be compared with the file: read as unreadable, with why
    assert.match((await observeHost(spec('etcd-z'), bare)).unreachable ?? '', /etcd\.env has no ETCD_INITIAL_CLUSTER/);
    const { renderEnvFile, renderEtcdctlEnv } = await import('../../src/service/render.js');
    await bare.write(plan.files.envFile, renderEnvFile(plan, { initialCluster: 'etcd-z=https://10.0.0.1:2380', token: 't', state: 'new' }), { mode: 0o644 });
    await bare.write(plan.files.etcdctlEnvFile, renderEtcdctlEnv(plan), { mode: 0o600 });
    assert.deepEqual(await observeHost(spec('etcd-z'), bare), { index: 0, address: '10.0.0.1', name: 'etcd-z', record: { memberName: 'etcd-z', complete: true, etcdVersion: '3.5.30', clusterId: 'c7' } }, 'the settings as the file says: nothing differs');
    // the file asks for another quota: the variable that changes, with both values
    const quota = resolveCluster(parseConfigText('apiVersion: etcdadm.io/v1beta1\nkind: Cluster\nhosts:\n  - address: 10.0.0.1\n    name: etcd-z\netcd:\n  quotaBackendBytes: 4294967296\n', '/f'), '/root').hosts[0]!;
    const seen = await observeHost(quota, bare);
    assert.deepEqual(seen.settingsDiffer, ['ETCD_QUOTA_BACKEND_BYTES: 2147483648 → 4294967296'], JSON.stringify(seen));
    // and one a restart cannot change: refused with reconfigure's words
    const moved = resolveCluster(parseConfigText('apiVersion: etcdadm.io/v1beta1\nkind: Cluster\nhosts:\n  - address: 10.0.0.1\n    name: etcd-z\n    member:\n      dataDir: /data/etcd\n', '/f'), '/root').hosts[0]!;
    assert.match((await observeHost(moved, bare)).settingsRefusal?.message ?? '', /^a restart cannot change the data dir \(member\.dataDir: \/var\/lib\/etcd → \/data\/etcd\)/);
    assert.match((await observeHost(spec(), new Error('SSH to root@10.0.0.1:22 refused: connection refused'))).unreachable ?? '', /connection refused/);
  });
});

describe("apply's bootstrap, as the commands each host runs", () => {
  it('the CA on the first holder alone, to the other holders, a bundle for every other host, then init everywhere with the one list and token', async () => {
    const { bootstrapSteps, initialClusterText } = await import('../../src/apply/bootstrap.js');
    const h = (n: string, caHolder: boolean) => ({ name: n, peerURLs: [`https://${n}:2380`], address: `10.0.0.${n.slice(-1)}`, caHolder, configPath: '/etc/etcdadm/apply.yaml' });
    const hosts = [h('e1', true), h('e2', false), h('e3', true)];
    assert.equal(initialClusterText(hosts), 'e1=https://e1:2380,e2=https://e2:2380,e3=https://e3:2380');
    const steps = bootstrapSteps(hosts, 'tok');
    assert.deepEqual(steps.map((s) => `${s.kind} ${s.host}${s.for ? ` for ${s.for}` : ''}`), ['ca e1', 'copy-ca e3', 'bundle e1 for e2', 'init e1', 'init e2', 'init e3']);
    const cluster = ['--initial-cluster', 'e1=https://e1:2380,e2=https://e2:2380,e3=https://e3:2380', '--cluster-token', 'tok'];
    assert.deepEqual(steps[0]!.args, ['init', 'phase', 'certificates', '--config', '/etc/etcdadm/apply.yaml', ...cluster]);
    assert.deepEqual(steps[2]!.args, ['certs', 'bundle', '--name', 'e2', '--address', '10.0.0.2', '--output', '-']);
    assert.deepEqual(steps[4]!.args, ['init', '--config', '/etc/etcdadm/apply.yaml', ...cluster, '--certs-bundle', '/etc/etcdadm/apply-e2.bundle']);
    assert.deepEqual(steps[5]!.args, ['init', '--config', '/etc/etcdadm/apply.yaml', ...cluster], 'a CA holder signs its own');
  });
});

describe('a rolling change: the next member', () => {
  it('followers by name first, the leader only when it is the last one left', () => {
    assert.equal(nextInRoll(['c', 'a', 'b'], 'a'), 'b');
    assert.equal(nextInRoll(['c', 'a'], 'a'), 'c');
    assert.equal(nextInRoll(['a'], 'a'), 'a');
    assert.equal(nextInRoll(['b', 'a'], undefined), 'a', 'no leader known: by name');
    assert.equal(nextInRoll([], 'a'), undefined);
  });
});

describe('apply: settings a restart cannot change', () => {
  it('refused before any change, naming the host, with reconfigure\'s own words and hint', () => {
    const p = decideConverge({
      hosts: [host(1), host(2, { settingsDiffer: ['ETCD_DATA_DIR: /var/lib/etcd → /data/etcd'], settingsRefusal: { message: 'a restart cannot change the data dir (member.dataDir: /var/lib/etcd → /data/etcd)', hint: 'keep member.dataDir as recorded' } }), host(3)],
      cluster: cluster(three, '3.6.16'),
      version: '3.6.16',
    });
    assert.equal(p.kind, 'refuse');
    assert.equal(p.kind === 'refuse' && p.message, 'host etcd-2 (10.0.0.2): a restart cannot change the data dir (member.dataDir: /var/lib/etcd → /data/etcd)');
    assert.equal(p.kind === 'refuse' && p.hint, 'keep member.dataDir as recorded');
  });
});

describe('apply: the timers of a member host against the file', () => {
  const t = (over: { backup?: object; defrag?: object; autoRenew?: boolean } = {}) => ({
    backup: { every: '', keep: 24, dir: '/var/backups/etcdadm', s3Bucket: '', s3Endpoint: '', s3Prefix: '', ...over.backup },
    defrag: { every: '', threshold: '20%', ...over.defrag },
    pki: { autoRenew: over.autoRenew ?? false },
  });
  it('each timer whose settings differ: armed with the file\'s, or removed; the same: nothing', () => {
    assert.deepEqual(timerChanges(t(), t()), []);
    assert.deepEqual(timerChanges(t({ defrag: { threshold: '30%' } }), t()), [], 'a threshold without a timer is no timer');
    assert.deepEqual(timerChanges(t(), t({ backup: { every: '1h' }, defrag: { every: '1d' }, autoRenew: true })), [
      { timer: 'backup', on: true, line: 'backups every 1h, keep 24 in /var/backups/etcdadm (now: none)' },
      { timer: 'defrag', on: true, line: 'rolling defrag every 1d above 20% free (now: none)' },
      { timer: 'cert-renewal', on: true, line: 'daily certificate renewal on (now: off)' },
    ]);
    assert.deepEqual(timerChanges(t({ backup: { every: '1h' } }), t({ backup: { every: '1h', keep: 48 } })), [{ timer: 'backup', on: true, line: 'backups every 1h, keep 48 in /var/backups/etcdadm (now: every 1h, keep 24 in /var/backups/etcdadm)' }], 're-armed with the new keep');
    assert.deepEqual(timerChanges(t({ backup: { every: '1h' }, autoRenew: true }), t()).map((c) => [c.timer, c.on]), [['backup', false], ['cert-renewal', false]], 'removed');
  });
});
