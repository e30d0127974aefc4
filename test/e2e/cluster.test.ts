/**
 * The etcdadm walkthrough on lab hosts, run exactly as a user runs it: init on one host, copy the CA, join the
 * others, reset and rejoin; the same cluster phase by phase; reset of the leader under write load; bad inputs; new
 * settings rolled member by member with `reconfigure` under write load.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, ok, type RunResult } from '../helpers/lab.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const JOIN_PHASES = ['stop', 'certificates', 'install', 'membership', 'configure', 'start', 'etcdctl', 'health'];
const INIT_PHASES = ['install', 'certificates', 'snapshot', 'configure', 'start', 'etcdctl', 'health', 'post-init-instructions'];

let lab: NetnsLab;
before(async () => {
  lab = await NetnsLab.up(8);
});
after(async () => {
  await lab?.down();
});

const url = (i: number, port = 2379) => `https://${lab.ip(i)}:${port}`;

interface MemberRow {
  id: string;
  status: string;
  name: string;
  peer: string;
  client: string;
  learner: boolean;
}
/** The member list as host i's etcd sees it (etcdctl 3.5 asks without needing quorum). */
async function members(i: number): Promise<MemberRow[]> {
  const r = ok(await lab.etcdctl(i, ['member', 'list']), 'member list');
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, status, name, peer, client, learner] = l.split(', ');
      return { id: id!, status: status!, name: name!, peer: peer!, client: client!, learner: learner === 'true' };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function assertHealthyCluster(i: number, hosts: number[]): Promise<void> {
  const health = await lab.etcdctl(i, ['endpoint', 'health', '--cluster']);
  ok(health, 'endpoint health --cluster');
  assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, hosts.length, health.stdout + health.stderr);
  const list = await members(i);
  assert.deepEqual(
    list.map((m) => [m.status, m.name, m.peer, m.learner]),
    hosts.map((h) => ['started', lab.hostname(h), url(h, 2380), false]).sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
  );
}

/** The client certificate of host i, to talk to its cluster from outside. */
async function pemOf(i: number): Promise<{ ca: string; cert: string; key: string }> {
  const cat = async (f: string) => ok(await lab.on(i, ['cat', `/etc/etcd/pki/${f}`])).stdout;
  return { ca: await cat('ca.crt'), cert: await cat('etcdctl-etcd-client.crt'), key: await cat('etcdctl-etcd-client.key') };
}

function oneErrorLine(r: RunResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `must fail:\n${r.stderr}`);
  const errors = r.stderr.split('\n').filter((l) => / ERROR /.test(l));
  assert.equal(errors.length, 1, `exactly one error line:\n${r.stderr}`);
  assert.match(errors[0]!, pattern);
}

describe('etcdadm join and reset: the walkthrough on 3 hosts', () => {
  it('init, copy the CA, join (through different members), then a 3-member healthy cluster', async () => {
    const init = ok(await lab.etcdadm(1, ['init', ...R]), 'init');
    assert.equal(init.stdout.trim(), `etcdadm join ${url(1)}`);
    await lab.copyCA(1, 2);
    await lab.copyCA(1, 3);
    const j2 = ok(await lab.etcdadm(2, ['join', url(1), ...R]), 'join host2 via host1');
    assert.match(j2.stderr, /\[membership\] Adding eahost2 .* as a learner/);
    assert.match(j2.stderr, /\[health\] Promoted member/);
    ok(await lab.etcdadm(3, ['join', url(2), ...R]), 'join host3 via host2');
    await assertHealthyCluster(1, [1, 2, 3]);
    ok(await lab.etcdctl(1, ['put', 'walkthrough', 'written-on-host1']));
    assert.equal(ok(await lab.etcdctl(3, ['get', 'walkthrough', '--print-value-only'])).stdout.trim(), 'written-on-host1');
    const info = JSON.parse(ok(await lab.etcdadm(3, ['info'])).stdout);
    const self = (await members(1)).find((m) => m.name === 'eahost3')!;
    // etcd's own cluster ID: the member list header (a uint64, read as text and printed in hex as etcdctl does)
    const header = ok(await lab.etcdctl(1, ['member', 'list', '-w', 'json'])).stdout;
    const etcdClusterId = BigInt(/"cluster_id":(\d+)/.exec(header)![1]!).toString(16);
    assert.deepEqual(info, { id: self.id, name: 'eahost3', peerURLs: [url(3, 2380)], clientURLs: [url(3)], isLearner: false, clusterId: etcdClusterId });
  });

  it('reset on host3 leaves 2 members and nothing of etcd on host3; host3 joins again', async () => {
    const r = ok(await lab.etcdadm(3, ['reset']), 'reset host3');
    assert.match(r.stderr, /\[remove-member\] Removed member/);
    assert.deepEqual((await members(1)).map((m) => m.name), ['eahost1', 'eahost2']);
    const left = ok(await lab.sh(3, 'find /etc/etcd /var/lib/etcd /etc/systemd/system/etcd.service /opt/bin -mindepth 0 \\( -type f -o -type l \\) 2>/dev/null; true'));
    assert.equal(left.stdout.trim(), '', `files left on host3:\n${left.stdout}`);
    assert.deepEqual(await lab.etcdProcesses(3), []);
    await lab.copyCA(1, 3);
    ok(await lab.etcdadm(3, ['join', url(1), ...R]), 'join host3 again');
    await assertHealthyCluster(2, [1, 2, 3]);
    assert.equal(ok(await lab.etcdctl(3, ['get', 'walkthrough', '--print-value-only'])).stdout.trim(), 'written-on-host1');
  });

  it('reset on the leader moves leadership first and never costs a write; it rejoins through the third member', async () => {
    // make host 1 the leader (a healthy cluster keeps its leader; nothing below depends on which one was leading)
    const leader = 1;
    const other = 2;
    const third = 3;
    const id1 = (await members(1)).find((m) => m.name === lab.hostname(leader))!.id;
    ok(await lab.etcdctl(other, ['move-leader', id1, `--endpoints=${[1, 2, 3].map((i) => url(i)).join(',')}`]), 'move-leader to host1');
    const client = await labClient([url(leader), url(other), url(third)], await pemOf(other));
    const writer = new BackgroundWriter(client, 'leader-reset');
    try {
      await writer.moreWrites(5);
      const r = ok(await lab.etcdadm(leader, ['reset']), 'reset the leader');
      assert.match(r.stderr, new RegExp(`${lab.hostname(leader)} is the leader; moving leadership to eahost[23]`));
      await writer.moreWrites(5);
    } finally {
      const report = await writer.stop();
      assert.deepEqual(report.failed, [], 'no write failed after retries of at most 2s');
      assert.ok(report.acknowledged.length > 10, `the writer kept writing (${report.acknowledged.length} keys)`);
      const all = ok(await lab.etcdctl(other, ['get', 'leader-reset/', '--prefix', '--keys-only'])).stdout.split('\n').filter(Boolean);
      for (const k of report.acknowledged) assert.ok(all.includes(k), `acknowledged key ${k} is present`);
      client.close();
    }
    assert.equal((await members(other)).length, 2);
    await lab.copyCA(other, leader);
    ok(await lab.etcdadm(leader, ['join', url(third), ...R]), 'rejoin through the third member');
    await assertHealthyCluster(other, [1, 2, 3]);
  });
});

describe('etcdadm join: the same cluster phase by phase', () => {
  it('every init phase on host4, then every join phase on host5 and host6', async () => {
    for (const p of INIT_PHASES) ok(await lab.etcdadm(4, ['init', 'phase', p, ...R]), `init phase ${p}`);
    await lab.copyCA(4, 5);
    await lab.copyCA(4, 6);
    for (const p of JOIN_PHASES) ok(await lab.etcdadm(5, ['join', 'phase', p, url(4), ...R]), `join phase ${p} on host5`);
    for (const p of JOIN_PHASES) ok(await lab.etcdadm(6, ['join', 'phase', p, url(5), ...R]), `join phase ${p} on host6`);
    await assertHealthyCluster(6, [4, 5, 6]);
  });
});

describe('etcdadm join and reset: bad inputs and faults change nothing', () => {
  const H = 7;
  let before1: MemberRow[];
  const unchanged = async () => assert.deepEqual(await members(1), before1, 'member list unchanged');
  before(async () => {
    await lab.ensureCluster([1, 2, 3], R);
    await lab.ensureCluster([4, 5, 6], R);
    before1 = await members(1);
    assert.equal(before1.length, 3);
  });

  it('no CA copied', async () => {
    oneErrorLine(await lab.etcdadm(H, ['join', url(1), ...R]), /no CA found: \/etc\/etcd\/pki\/ca\.crt and \/etc\/etcd\/pki\/ca\.key do not exist\. Copy ca\.crt and ca\.key from an existing member/);
    await unchanged();
  });
  it('a CA from another cluster: the TLS failure is explained, naming the CA file', async () => {
    await lab.copyCA(4, H);
    oneErrorLine(await lab.etcdadm(H, ['join', url(1), ...R]), /TLS: certificate signed by unknown authority \(the server certificate is not issued by the CA in \/etc\/etcd\/pki\/ca\.crt\)/);
    await unchanged();
    ok(await lab.sh(H, 'rm -rf /etc/etcd /opt/bin/* /var/lib/etcd'));
  });
  it('an endpoint that is not a URL', async () => {
    await lab.copyCA(1, H);
    oneErrorLine(await lab.etcdadm(H, ['join', '10.88.0.1:2379', ...R]), /not a client URL/);
    await unchanged();
  });
  it('an unreachable endpoint', async () => {
    oneErrorLine(await lab.etcdadm(H, ['join', url(1, 2999), ...R]), /cannot reach etcd at https:\/\/10\.88\.0\.1:2999/);
    await unchanged();
  });
  it('a member name already used by another member', async () => {
    oneErrorLine(await lab.etcdadm(H, ['join', url(1), '--name', 'eahost2', ...R]), /"eahost2" is already used by member/);
    await unchanged();
  });
  it('a --version other than the cluster runs', async () => {
    oneErrorLine(await lab.etcdadm(H, ['join', url(1), '--version', '3.9.99', ...R]), /the cluster runs etcd \S+; joining with --version 3\.9\.99 would make it a mixed-version cluster/);
    await unchanged();
  });
  it('a cluster that has lost quorum: no member is added', async () => {
    ok(await lab.on(5, ['systemctl', 'stop', 'etcd.service']));
    ok(await lab.on(6, ['systemctl', 'stop', 'etcd.service']));
    // etcdctl 3.5.30 asks for a linearizable member list, which a cluster without quorum cannot answer: read
    // host4's own view with a serializable request instead
    const client = await labClient([url(4)], await pemOf(4));
    const view = async () => (await client.memberList(false)).members.map((m) => `${m.idHex} ${m.name} ${m.peerURLs.join(',')} ${m.isLearner}`).sort();
    try {
      const before4 = await view();
      assert.equal(before4.length, 3);
      await lab.copyCA(4, 8);
      oneErrorLine(await lab.etcdadm(8, ['join', url(4), ...R], 90_000), /quorum/);
      assert.deepEqual(await view(), before4, 'member list of the quorum-less cluster unchanged');
    } finally {
      client.close();
      ok(await lab.on(5, ['systemctl', 'start', 'etcd.service']));
      ok(await lab.on(6, ['systemctl', 'start', 'etcd.service']));
    }
    await assertHealthyCluster(4, [4, 5, 6]);
  });
  it('reset on the last member needs --force, then moves the data dir aside', async () => {
    ok(await lab.sh(8, 'rm -rf /etc/etcd /opt/bin/* /var/lib/etcd'));
    ok(await lab.etcdadm(8, ['init', ...R]), 'init a one-member cluster on host8');
    oneErrorLine(await lab.etcdadm(8, ['reset']), /last member of cluster/);
    assert.equal((await members(8)).length, 1);
    ok(await lab.etcdctl(8, ['endpoint', 'health']));
    const r = ok(await lab.etcdadm(8, ['reset', '--force']), 'reset --force');
    assert.match(r.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\.bak-/);
    ok(await lab.sh(8, 'ls -d /var/lib/etcd.bak-*/member'));
  });
});

describe('etcdadm join and reset: data dirs and stopped members', () => {
  before(() => lab.ensureCluster([1, 2, 3], R));
  it('a data dir of an unknown cluster is refused, and moved aside (never deleted) with --force', async () => {
    ok(await lab.sh(7, 'rm -rf /etc/etcd /opt/bin/* /var/lib/etcd* && mkdir -p /var/lib/etcd/member/snap && echo precious > /var/lib/etcd/member/snap/db'));
    await lab.copyCA(1, 7);
    const before7 = await members(1);
    oneErrorLine(await lab.etcdadm(7, ['join', url(1), ...R]), /data dir \/var\/lib\/etcd holds a member of an unknown cluster/);
    assert.deepEqual(await members(1), before7);
    const r = ok(await lab.etcdadm(7, ['join', url(1), '--force', ...R]), 'join --force');
    // the data dir was not made by etcdadm (the operator's, perhaps a mount point): only etcd's member/ moves, inside it
    assert.match(r.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\/member\.bak-/);
    assert.equal(ok(await lab.sh(7, 'cat /var/lib/etcd/member.bak-*/snap/db')).stdout.trim(), 'precious');
    assert.equal((await members(1)).length, 4);
  });
  it('reset removes a member whose etcd is stopped, through the other members', async () => {
    ok(await lab.on(7, ['systemctl', 'stop', 'etcd.service']));
    const r = ok(await lab.etcdadm(7, ['reset']), 'reset of a stopped member');
    assert.match(r.stderr, /\[remove-member\] Removed member/);
    assert.deepEqual((await members(1)).map((m) => m.name), ['eahost1', 'eahost2', 'eahost3']);
    assert.deepEqual(await lab.etcdProcesses(7), []);
  });
});

describe('etcdadm reconfigure: new settings member by member, the leader last, under a client writing every 50 ms', () => {
  const HOSTS = [1, 2, 3];
  const GiB4 = 4 * 1024 ** 3;
  /** What reconfigure may change on host i, and etcd's PID there. */
  const state = async (i: number) => `${ok(await lab.sh(i, 'sha256sum /etc/etcd/etcd.env /etc/etcd/etcdctl.env /etc/etcd/etcdadm.yaml'), 'state').stdout}pids ${(await lab.etcdPids(i)).join(',')}`;
  const env = async (i: number) => ok(await lab.on(i, ['cat', '/etc/etcd/etcd.env'])).stdout;
  const quotaMetric = async (i: number) => Number(/^etcd_server_quota_backend_bytes (\S+)$/m.exec(ok(await lab.sh(i, 'curl -sS --max-time 5 http://127.0.0.1:2381/metrics'), 'metrics').stdout)?.[1]);
  /** The whole new configuration of a member, as --config takes it. */
  const config = (name: string, extraArgs: Record<string, string>, member = '') => {
    const path = join(lab.dir, `${name}.yaml`);
    writeFileSync(path, `apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\n${member}etcd:\n  quotaBackendBytes: ${GiB4}\n  extraArgs:\n${Object.entries(extraArgs).map(([k, v]) => `    ${k}: "${v}"\n`).join('')}`);
    return path;
  };
  let client: Awaited<ReturnType<typeof labClient>>;
  let writer: BackgroundWriter;
  let order: number[];
  before(async () => {
    await lab.ensureCluster(HOSTS, R);
    client = await labClient(HOSTS.map((h) => url(h)), await pemOf(1));
    writer = new BackgroundWriter(client, 'reconfigure');
    await writer.moreWrites(5);
    const leader = (JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as { leaderName: string }).leaderName;
    order = [...HOSTS.filter((h) => lab.hostname(h) !== leader), HOSTS.find((h) => lab.hostname(h) === leader)!];
  });
  after(() => client?.close());

  it('refused before anything changes (exit 2): a new member name, another etcd version; --dry-run changes nothing', async () => {
    const h = order[0]!;
    const before = await state(h);
    const renamed = await lab.etcdadm(h, ['reconfigure', '--config', config('renamed', {}, 'member:\n  name: renamed\n')]);
    assert.equal(renamed.code, 2);
    oneErrorLine(renamed, new RegExp(`a restart cannot change the member name \\(member\\.name: ${lab.hostname(h)} → renamed\\)\\. A member keeps its name`));
    const version = await lab.etcdadm(h, ['reconfigure', '--quota-backend-bytes', String(GiB4), '--version', '3.7.3']);
    assert.equal(version.code, 2);
    oneErrorLine(version, /--version names etcd 3\.7\.3; reconfigure keeps the version this member runs, 3\.6\.16\. Move a member to another version with etcdadm upgrade apply --version 3\.7\.3/);
    const dry = ok(await lab.etcdadm(h, ['reconfigure', '--quota-backend-bytes', String(GiB4), '--dry-run']), 'reconfigure --dry-run');
    assert.match(dry.stderr, /\[configure\] ETCD_QUOTA_BACKEND_BYTES: 2147483648 → 4294967296/);
    assert.match(dry.stderr, /\[configure\] would write \/etc\/etcd\/etcd\.env \(0644/);
    assert.match(dry.stderr, /\[restart\] would run systemctl stop etcd\.service/);
    assert.equal(await state(h), before);
  });

  it('a new quota and a new extraArgs entry, followers first and the leader last: each member restarted on them and healthy', async () => {
    const file = config('new', { 'max-txn-ops': '256' });
    for (const h of order) {
      const pids = await lab.etcdPids(h);
      const r = ok(await lab.etcdadm(h, ['reconfigure', '--config', file], 120_000), `reconfigure on host${h}`);
      assert.match(r.stderr, /\[preflight\] Reconfiguring member eahost\d: 2 variables change \(ETCD_QUOTA_BACKEND_BYTES, ETCD_MAX_TXN_OPS\)/);
      assert.match(r.stderr, /WARN +\[preflight\] Left as recorded \(not in etcd\.env or etcdctl\.env; other commands change them\): etcd\.releaseURL, etcd\.insecureReleaseURL/);
      assert.match(r.stderr, /\[configure\] ETCD_QUOTA_BACKEND_BYTES: 2147483648 → 4294967296/);
      assert.match(r.stderr, /\[configure\] ETCD_MAX_TXN_OPS: \(unset\) → 256/);
      if (h === order.at(-1)) assert.match(r.stderr, /\[leadership\] eahost\d is the leader; moving leadership to eahost\d/);
      else assert.match(r.stderr, /\[leadership\] eahost\d is not the leader: nothing to move/);
      assert.match(r.stderr, /\[health\] Member eahost\d serves on the new settings and has caught up with the leader/);
      const text = await env(h);
      assert.match(text, new RegExp(`^ETCD_QUOTA_BACKEND_BYTES=${GiB4}$`, 'm'));
      assert.match(text, /^ETCD_MAX_TXN_OPS=256$/m);
      assert.equal(await quotaMetric(h), GiB4, "the running etcd's quota");
      assert.notDeepEqual(await lab.etcdPids(h), pids, 'etcd restarted');
      const record = ok(await lab.on(h, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;
      assert.match(record, new RegExp(`quotaBackendBytes: ${GiB4}\\n`));
      assert.match(record, /releaseURL: http:\/\/10\.88\.0\.200\n/, 'what etcd.env does not hold: as recorded');
      assert.doesNotMatch(record, /^reconfigure:/m, 'done');
      await writer.moreWrites(3);
    }
    await assertHealthyCluster(1, HOSTS);
  });

  it('a second run (also `phase preflight`, --skip-phases): nothing to change, the same etcd process, the record untouched', async () => {
    for (const h of order) {
      const before = await state(h);
      const r = ok(await lab.etcdadm(h, ['reconfigure', '--config', join(lab.dir, 'new.yaml')]), `again on host${h}`);
      assert.match(r.stderr, /\[preflight\] Nothing to change: \/etc\/etcd\/etcd\.env and \/etc\/etcd\/etcdctl\.env already hold these settings/);
      assert.equal(await state(h), before);
    }
    const h = order[0]!;
    const before = await state(h);
    for (const args of [['phase', 'preflight'], ['--skip-phases', 'leadership,record']]) {
      const r = ok(await lab.etcdadm(h, ['reconfigure', ...args, '--config', join(lab.dir, 'new.yaml')]), `reconfigure ${args.join(' ')}`);
      assert.match(r.stderr, /\[preflight\] Nothing to change/);
    }
    assert.equal(await state(h), before);
  });

  it('an etcd that refuses the new settings: one error saying the previous files are back; the member healthy on them', async () => {
    const h = order[0]!;
    const before = await state(h);
    const r = await lab.etcdadm(h, ['reconfigure', '--config', config('bad', { 'max-txn-ops': 'lots' })], 120_000);
    oneErrorLine(r, /etcd\.service did not start: .*lots.*; the previous \/etc\/etcd\/etcd\.env and \/etc\/etcd\/etcdctl\.env are put back and etcd\.service restarted on them/);
    assert.match(r.stderr, /\[rollback\] Rolling back what this run changed/);
    assert.match(await env(h), /^ETCD_MAX_TXN_OPS=256$/m);
    assert.equal((await state(h)).replace(/pids .*/, ''), before.replace(/pids .*/, ''), 'etcd.env, etcdctl.env and the record as they were');
    ok(await lab.etcdctl(h, ['endpoint', 'health']), 'the member is healthy again');
    assert.equal(await quotaMetric(h), GiB4);
    await writer.moreWrites(3);
  });

  it('killed (SIGKILL) right after writing etcd.env: the re-run restarts the member on it, though nothing is left to write', async () => {
    const h = order[1]!;
    const pids = await lab.etcdPids(h);
    const GiB5 = 5 * 1024 ** 3;
    const k = await lab.runAndKill(h, ['reconfigure', '--quota-backend-bytes', String(GiB5)], 'after:configure');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    assert.match(await env(h), new RegExp(`^ETCD_QUOTA_BACKEND_BYTES=${GiB5}$`, 'm'));
    assert.deepEqual(await lab.etcdPids(h), pids, 'killed before the restart');
    assert.match(ok(await lab.on(h, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, /^reconfigure:\n {2}startedAt: /m);
    const r = ok(await lab.etcdadm(h, ['reconfigure', '--quota-backend-bytes', String(GiB5)], 120_000), 're-run after the kill');
    assert.match(r.stderr, /\[preflight\] Finishing the reconfiguration of member eahost\d that \/etc\/etcd\/etcdadm\.yaml notes/);
    assert.notDeepEqual(await lab.etcdPids(h), pids, 'etcd restarted');
    assert.equal(await quotaMetric(h), GiB5);
    assert.doesNotMatch(ok(await lab.on(h, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, /^reconfigure:/m);
    await writer.moreWrites(3);
  });

  it('no write failed (retries at most 2 s) and every acknowledged key is there', async () => {
    const report = await writer.stop();
    assert.deepEqual(report.failed, []);
    assert.ok(report.maxRetryMs <= 2000, `a write was retried for ${report.maxRetryMs} ms`);
    for (const key of report.acknowledged) assert.notEqual(await client.get(key), undefined, key);
  });
});
