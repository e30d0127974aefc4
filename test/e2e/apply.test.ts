/**
 * `etcdadm apply -f cluster.yaml` from this machine (the operator) to 3 bare hosts booting real systemd, each with
 * Debian's sshd and its own host key and no Node.js: the shipped executable run here as a user runs it. A dry run
 * reads and plans and changes nothing (not even the executable copied); apply bootstraps a healthy 3-member cluster in
 * one step (no join, no learner), ca.key on the CA holder only and never on this machine's disk; a second apply has
 * nothing to do and changes nothing (files and etcd PIDs compared); a changed host key is refused before any change.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { ETCDADM, ETCDADM_HOOKS, MIRROR_URL, NspawnLab, ok, run, type RunResult } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';
import { keygen } from '../helpers/sshd.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';
import type { EtcdClient } from '../../src/etcd/client.js';

const HOSTS = [1, 2, 3];
const ALL = [1, 2, 3, 4, 5, 6];
let lab: NspawnLab;
let dir: string;
let file: string;
let client: EtcdClient | undefined;

/** This machine's release cache for apply (the operator's, per user: $XDG_CACHE_HOME/etcdadm/etcd), in the test's dir. */
const operatorEnv = () => ({ ...process.env, XDG_CACHE_HOME: join(dir, 'cache') });
const apply = (args: string[] = []): Promise<RunResult> => run(ETCDADM, ['apply', '-f', file, ...args], { timeoutMs: 600_000, env: operatorEnv() });
/** What etcdadm owns on a host (names, modes, sizes) and the etcd process: to compare before and after. */
const world = async (ids: number[] = HOSTS) =>
  Promise.all(
    ids.map(async (i) => {
      const files = ok(await lab.sh(i, 'find /etc/etcd /etc/etcdadm /opt/bin /usr/local/bin /var/lib/etcd -path /var/lib/etcd/member -prune -o -printf "%p %m %s\\n" 2>/dev/null | sort; true')).stdout;
      const pids = (await lab.sh(i, 'pgrep -x etcd || true')).stdout.trim();
      return `${files}\npids: ${pids}`;
    }),
  );

before(async () => {
  lab = await NspawnLab.up(6, { bare: true });
  dir = mkdtempSync(join(tmpdir(), 'etcdadm-apply-e2e-'));
  keygen(join(dir, 'id'), 'operator');
  for (const i of ALL) await lab.put(i, join(dir, 'id.pub'), '/root/.ssh/authorized_keys', 0o600);
  writeFileSync(join(dir, 'known_hosts'), '');
  file = join(dir, 'cluster.yaml');
  writeFileSync(file, clusterFile(HOSTS.map((i) => ({ i }))));
});
/** The etcd the cluster is built on: one minor below the default, so that a later apply upgrades it. */
const FIRST_VERSION = '3.5.30';
/** The Cluster document for these hosts (a name where one is given), on etcd `version`. */
function clusterFile(hosts: { i: number; name?: string }[], version = FIRST_VERSION, extra: string[] = [], user = 'root'): string {
  return [
    'apiVersion: etcdadm.io/v1beta1',
    'kind: Cluster',
    'ssh:',
    `  user: ${user}`,
    `  identityFile: ${join(dir, 'id')}`,
    `  knownHostsFile: ${join(dir, 'known_hosts')}`,
    'hosts:',
    ...hosts.flatMap((h) => [`  - address: ${lab.ip(h.i)}`, ...(h.name ? [`    name: ${h.name}`] : [])]),
    'etcd:',
    `  version: ${version}`,
    `  releaseURL: ${MIRROR_URL}`,
    '  insecureReleaseURL: true',
    ...extra,
    '',
  ].join('\n');
}
after(async () => {
  client?.close();
  await lab?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('etcdadm apply over SSH', () => {
  it('--dry-run on bare hosts: the plan is a bootstrap of all three; nothing changes on any host, not even etcdadm copied', async () => {
    const before = await world();
    const r = await apply(['--dry-run', '--accept-new-host-keys']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^bootstrap ehost1, ehost2, ehost3 together on etcd \S+ — no host has a cluster yet/m, 'named by their hostnames');
    assert.match(r.stderr, /\[plan\] --dry-run: nothing changed on any host/);
    assert.deepEqual(await world(), before);
    for (const i of HOSTS) assert.notEqual((await lab.sh(i, 'test -e /usr/local/bin/etcdadm')).code, 0, `no etcdadm on ehost${i}`);
    assert.equal(readFileSync(join(dir, 'known_hosts'), 'utf8').trim().split('\n').length, 3, 'the three host keys recorded (accept-new)');
  });

  it('apply: one step from bare hosts to a healthy 3-member cluster; ca.key on the CA holder only, never on this machine', async () => {
    const started = Date.now();
    const r = await apply();
    const took = Date.now() - started;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.match(/\[connect\] ehost\d: connected; etcdadm copied to \/usr\/local\/bin\/etcdadm \(\d+ bytes\)/g)?.length, 3, r.stderr);
    assert.match(r.stderr, /\[bootstrap\] Starting 3 members together/);
    assert.match(r.stderr, /\[summary\] cluster [0-9a-f]+: 3 members, healthy/);
    assert.doesNotMatch(r.stderr, /\[membership\]|learner/i, 'no join, no learner');
    const st = JSON.parse(ok(await lab.on(2, ['etcdadm', 'status', '-o', 'json'])).stdout) as { health: string; members: { name: string; role: string }[] };
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => m.name).sort(), ['ehost1', 'ehost2', 'ehost3']);
    for (const i of HOSTS) {
      assert.equal(ok(await lab.sh(i, 'test -e /etc/etcd/pki/ca.key && echo yes || echo no')).stdout.trim(), i === 1 ? 'yes' : 'no', `ca.key on ehost${i}`);
      assert.equal(ok(await lab.sh(i, 'ls /etc/etcdadm')).stdout.trim(), 'apply.yaml', `no bundle left on ehost${i}`);
      assert.equal(ok(await lab.sh(i, 'stat -c %a /etc/etcdadm/apply.yaml')).stdout.trim(), '600');
    }
    assert.equal(r.stderr.match(/\[release\] ehost\d: etcd v3\.5\.30 copied into its cache from this machine's/g)?.length, 3, 'the release downloaded once, here, and copied to the hosts');
    assert.deepEqual(readdirSync(dir).sort(), ['cache', 'cluster.yaml', 'id', 'id.pub', 'known_hosts'], 'nothing else written on the operator side');
    assert.deepEqual(readdirSync(join(dir, 'cache', 'etcdadm', 'etcd')), ['v3.5.30'], 'the release cache: no key, no bundle');
    console.log(`# apply: 3 bare hosts to a healthy cluster in ${took} ms (etcdadm and the release, downloaded here from the lab mirror, copied to the hosts)`);
  });

  it('a second apply has nothing to do and changes nothing; so does --dry-run', async () => {
    const before = await world();
    const r = await apply();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'nothing to do');
    assert.match(r.stderr, /\[plan\] cluster [0-9a-f]+ matches the file: 3 members on etcd \S+, nothing to do/);
    assert.equal(r.stderr.match(/\[connect\] ehost\d: connected; \/usr\/local\/bin\/etcdadm is up to date/g)?.length, 3, 'not copied again');
    const dry = await apply(['--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout.trim(), 'nothing to do');
    assert.deepEqual(await world(), before);
  });

  it('a changed host key: refused before any change, one line naming the host', async () => {
    const known = join(dir, 'known_hosts');
    const saved = readFileSync(known, 'utf8');
    const other = keygen(join(dir, 'not-the-host'), 'x').split(' ').slice(0, 2).join(' ');
    // the host's line (OpenSSH may have hashed it: ssh-keygen -F finds it) given another key
    const found = ok(await run('ssh-keygen', ['-F', lab.ip(2), '-f', known])).stdout;
    const line = Number(/found: line (\d+)/.exec(found)?.[1]);
    assert.ok(line > 0, found);
    writeFileSync(known, saved.split('\n').map((l, n) => (n === line - 1 ? `${l.split(' ')[0]} ${other}` : l)).join('\n'));
    try {
      const before = await world();
      const r = await apply();
      assert.equal(r.code, 2, r.stderr);
      const errors = r.stderr.split('\n').filter((l) => / ERROR /.test(l));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, /apply refused before any change: cannot read host 10\.88\.0\.12 \(10\.88\.0\.12\): SSH to root@10\.88\.0\.12:22 refused: its host key .* is not the one recorded/);
      assert.deepEqual(await world(), before);
    } finally {
      writeFileSync(known, saved);
      for (const f of ['not-the-host', 'not-the-host.pub']) rmSync(join(dir, f), { force: true });
    }
  });

  it('the read commands from this machine with -f: status, certs check-expiration, upgrade plan, snapshot save (copied here, checked, nothing left on the host); status answered through another host while one sshd is down', async () => {
    const started = Date.now();
    const read = (args: string[]) => run(ETCDADM, [...args, '-f', file], { timeoutMs: 120_000 });
    const onHost = JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { clusterId: string };
    // status: the local command's table and JSON, rendered here
    const table = await read(['status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /\|\s+NAME\s+\|\s+ID\s+\|\s+ROLE\s+\|\s+HEALTH\s+\|/);
    for (const i of HOSTS) assert.match(table.stdout, new RegExp(`\\|\\s+ehost${i} \\|.*\\| +healthy \\|`));
    assert.match(table.stdout, /^status: healthy$/m);
    const st = JSON.parse(ok(await read(['status', '-o', 'json'])).stdout) as { clusterId: string; health: string; members: { name: string; health: string }[] };
    assert.equal(st.clusterId, onHost.clusterId, 'the cluster the hosts run');
    assert.deepEqual(st.members.map((m) => `${m.name} ${m.health}`).sort(), HOSTS.map((i) => `ehost${i} healthy`));
    // certs: each host's own certificates, under its name
    const certs = await read(['certs', 'check-expiration', '-o', 'json']);
    assert.equal(certs.code, 0, certs.stderr);
    const byHost = JSON.parse(certs.stdout) as Record<string, { certificates: { name: string; state: string; sans: string[] }[] }>;
    assert.deepEqual(Object.keys(byHost), ['ehost1', 'ehost2', 'ehost3']);
    for (const i of HOSTS) {
      const c = byHost[`ehost${i}`]!.certificates;
      assert.deepEqual(c.map((x) => `${x.name} ${x.state}`), ['ca', 'server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client'].map((n) => `${n} ok`));
      assert.ok(c.find((x) => x.name === 'server')!.sans.includes(lab.ip(i)), `ehost${i}'s own server certificate`);
    }
    // upgrade plan: the plan made on a member host, its exit code the local command's
    const plan = await read(['upgrade', 'plan', '-o', 'json']);
    const p = JSON.parse(plan.stdout) as { members: { name: string }[]; plan: { blockers: unknown[] } | null };
    assert.equal(plan.code, p.plan?.blockers.length ? 3 : 0, plan.stderr);
    assert.deepEqual(p.members.map((m) => m.name).sort(), ['ehost1', 'ehost2', 'ehost3']);
    // snapshot save: taken on a member host, copied here (0600, its new directory 0700) with its sidecar
    const snapshots = join(dir, 'snapshots');
    try {
      const snap = await read(['snapshot', 'save', '--dir', snapshots]);
      assert.equal(snap.code, 0, snap.stderr);
      const path = snap.stdout.trim();
      assert.match(path, new RegExp(`^${snapshots}/etcd-snapshot-ehost\\d-\\d{8}T\\d{6}\\.\\d{3}Z\\.db$`));
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(snapshots).mode & 0o777, 0o700);
      const sidecar = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as { clusterId: string; size: number; sha256: string };
      const bytes = readFileSync(path);
      assert.ok(bytes.length > 0 && bytes.length === sidecar.size, `${bytes.length} bytes`);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), sidecar.sha256, 'the SHA-256 the host computed');
      assert.equal(sidecar.clusterId, onHost.clusterId);
      assert.match(ok(await run(ETCDADM, ['snapshot', 'verify', path])).stdout, /intact .*etcd's SHA-256 inside it matches/);
      for (const i of HOSTS) assert.equal(ok(await lab.sh(i, 'ls -A /var/backups/etcdadm 2>/dev/null; true')).stdout.trim(), '', `nothing left on ehost${i}`);
    } finally {
      rmSync(snapshots, { recursive: true, force: true });
    }
    // one host's sshd down: the status comes through another host, the one down named in a warning
    ok(await lab.sh(1, 'systemctl stop ssh'));
    try {
      const r = await read(['status', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /WARN .*\[connect\] 10\.88\.0\.11 skipped: SSH to root@10\.88\.0\.11:22 failed: connection refused/);
      assert.equal((JSON.parse(r.stdout) as { clusterId: string }).clusterId, onHost.clusterId);
    } finally {
      ok(await lab.sh(1, 'systemctl start ssh'));
    }
    console.log(`# read commands with -f (status twice, certs, upgrade plan, snapshot save, status with a host down): ${Date.now() - started} ms`);
  });

  it('the file edited, each applied under a client writing every 50 ms: two hosts added (5 voting members), 3 of 5 removed at once refused, one removed (its host reset), one replaced under its name', async () => {
    client = await labClient(ALL.map((i) => `https://${lab.ip(i)}:2379`), await lab.clientPem(1));
    const writer = new BackgroundWriter(client, 'apply');
    const members = async () => (JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { health: string; members: { name: string; role: string; peerURLs: string[] }[] });
    // two hosts added: joined one at a time, learner first
    writeFileSync(file, clusterFile([1, 2, 3, 4, 5].map((i) => ({ i }))));
    const grow = await apply(['--accept-new-host-keys']);
    assert.equal(grow.code, 0, grow.stderr);
    assert.deepEqual(grow.stdout.trim().split('\n').map((l) => l.split(' — ')[0]), ['join ehost4 (learner first)', 'join ehost5 (learner first)']);
    assert.equal(grow.stderr.match(/\[join\] ehost[45]: .*Promoted member/g)?.length, 2, grow.stderr);
    let st = await members();
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => `${m.name} ${m.role}`).filter((x) => !x.endsWith('learner')).length, 5, 'five voting members');
    // 3 of 5 at once: refused before any change
    writeFileSync(file, clusterFile([1, 2].map((i) => ({ i }))));
    const before = await world([1, 2, 3, 4, 5]);
    const refused = await apply();
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /apply refused before any change: the file leaves out 3 of the 5 voting members \(ehost3, ehost4, ehost5\): removing a majority at once costs quorum/);
    assert.deepEqual(await world([1, 2, 3, 4, 5]), before);
    // one removed: it leaves through reset on its own host
    writeFileSync(file, clusterFile([1, 2, 3, 4].map((i) => ({ i }))));
    // (with --log-format json: every line of the log one JSON object, the host's own phases streamed as fields)
    const shrink = await apply(['--log-format', 'json']);
    assert.equal(shrink.code, 0, shrink.stderr);
    assert.match(shrink.stdout, /^remove member ehost5 and reset 10\.88\.0\.15/m);
    const logs = shrink.stderr.trim().split('\n').map((l) => JSON.parse(l) as { phase?: string; msg: string; host?: string; remotePhase?: string });
    assert.ok(logs.some((l) => l.phase === 'remove' && l.msg === 'ehost5: left the cluster and reset'), shrink.stderr);
    const streamed = logs.filter((l) => l.phase === 'remove' && l.host === 'ehost5' && l.remotePhase);
    assert.ok(streamed.length >= 3, `reset's own phases on ehost5 as they happened: ${JSON.stringify(streamed)}`);
    assert.ok(logs.some((l) => l.phase === 'summary' && /^cluster [0-9a-f]+: 4 members, healthy; 1 step in/.test(l.msg)), shrink.stderr);
    assert.notEqual((await lab.sh(5, 'test -e /etc/etcd/etcd.env || test -e /var/lib/etcd/member')).code, 0, 'ehost5 is clean');
    assert.deepEqual((await members()).members.map((m) => m.name).sort(), ['ehost1', 'ehost2', 'ehost3', 'ehost4']);
    // ehost4 replaced by a new host under its name: the old member removed first, then the new host joins
    writeFileSync(file, clusterFile([{ i: 1 }, { i: 2 }, { i: 3 }, { i: 6, name: 'ehost4' }]));
    const replace = await apply(['--accept-new-host-keys']);
    assert.equal(replace.code, 0, replace.stderr);
    assert.deepEqual(replace.stdout.trim().split('\n').map((l) => l.split(' — ')[0]), ['remove member ehost4', 'join ehost4 (learner first)']);
    st = await members();
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => `${m.name} ${m.peerURLs.join(',')}`).sort(), [1, 2, 3].map((i) => `ehost${i} https://${lab.ip(i)}:2380`).concat(`ehost4 https://${lab.ip(6)}:2380`));
    const report = await writer.stop();
    assert.deepEqual(report.failed, [], 'no write failed after retries of at most 2 s');
    assert.ok(report.acknowledged.length > 20, `${report.acknowledged.length} writes`);
    for (const k of report.acknowledged) assert.ok((await client.get(k)) !== undefined, `acknowledged ${k} present`);
    const again = await apply();
    assert.equal(again.stdout.trim(), 'nothing to do', again.stderr);
  });

  it('etcd one minor up in the file, applied under a client writing every 50 ms: a rolling upgrade, a snapshot first on each member, the leader last', async () => {
    const writer = new BackgroundWriter(client!, 'apply-upgrade');
    const hosts = [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 6, name: 'ehost4' }];
    const onHost = (name: string) => (name === 'ehost4' ? 6 : Number(name.slice(-1)));
    const leaderBefore = (JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { members: { name: string; role: string }[] }).members.find((m) => m.role === 'leader')!.name;
    writeFileSync(file, clusterFile(hosts, '3.6.16'));
    const r = await apply();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^rolling 3\.5\.30 → 3\.6\.16, leader last — the file says etcd 3\.6\.16, the cluster runs 3\.5\.30 \(minor-upgrade\)$/m);
    // one member at a time: four upgrade runs, each host's own phases streamed under [upgrade], the leader of the moment last
    const order = [...r.stderr.matchAll(/\[upgrade\] (ehost\d): (the leader, last|\d of 4 left)/g)].map((m) => [m[1]!, m[2]!]);
    assert.equal(order.length, 4, r.stderr);
    assert.deepEqual(order.slice(0, 3).map((x) => x[1]), ['4 of 4 left', '3 of 4 left', '2 of 4 left']);
    assert.equal(order[3]![1], 'the leader, last');
    assert.equal(order[3]![0], leaderBefore, 'the member that led before the upgrade went last');
    assert.equal(r.stderr.match(/\[upgrade\] ehost\d: \[restart\]/g)?.length, 4, 'each member restarted once');
    for (const h of hosts) {
      const name = h.name ?? `ehost${h.i}`;
      assert.match(ok(await lab.sh(onHost(name), 'ls /var/backups/etcdadm')).stdout, new RegExp(`^${name}-v3\\.5\\.30-to-v3\\.6\\.16-\\S+\\.db$`, 'm'), `a snapshot on ${name} before it moved`);
      assert.equal(ok(await lab.on(onHost(name), ['/opt/bin/etcd', '--version'])).stdout.match(/etcd Version: (\S+)/)?.[1], '3.6.16');
    }
    const st = JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { health: string; members: { version: string }[] };
    assert.equal(st.health, 'healthy');
    assert.deepEqual([...new Set(st.members.map((m) => m.version))], ['3.6.16']);
    const report = await writer.stop();
    assert.deepEqual(report.failed, [], 'no write failed after retries of at most 2 s');
    for (const k of report.acknowledged) assert.ok((await client!.get(k)) !== undefined, `acknowledged ${k} present`);
    assert.equal((await apply()).stdout.trim(), 'nothing to do');
  });

  it('a setting changed, applied by an operator account that is not root (sudo on the hosts) under a client writing every 50 ms: sshd of one host killed mid-apply fails in one line naming host and step, the cluster healthy; the same apply after sshd is back rolls the rest, the leader last', async () => {
    const hosts = [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 6, name: 'ehost4' }];
    const onHost = (name: string) => (name === 'ehost4' ? 6 : Number(name.slice(-1)));
    // the operator logs in as "ops" with passwordless sudo; root's key is taken away meanwhile, so nothing runs as root
    for (const h of hosts)
      ok(await lab.sh(h.i, 'id ops >/dev/null 2>&1 || useradd -m -s /bin/bash ops; install -d -m 700 -o ops -g ops ~ops/.ssh; install -m 600 -o ops -g ops /root/.ssh/authorized_keys ~ops/.ssh/authorized_keys; echo "ops ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/ops; chmod 440 /etc/sudoers.d/ops; mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.off'), 'the ops account');
    const writer = new BackgroundWriter(client!, 'apply-settings');
    const pids = async () => Promise.all(hosts.map(async (h) => ok(await lab.sh(h.i, 'systemctl show -p MainPID --value etcd')).stdout.trim()));
    const quota = async (i: number) => ok(await lab.sh(i, 'grep ^ETCD_QUOTA_BACKEND_BYTES= /etc/etcd/etcd.env || true')).stdout.trim();
    try {
      const before = await pids();
      writeFileSync(file, clusterFile(hosts, '3.6.16', ['  quotaBackendBytes: 4294967296'], 'ops'));
      const seen = await world([1, 2, 3, 6]);
      const dry = await apply(['--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(await world([1, 2, 3, 6]), seen, 'a dry run with changes to make changes nothing (files, etcd PIDs)');
      assert.match(dry.stdout, /^new settings on ehost1, ehost2, ehost3, ehost4, one at a time, leader last — ehost1: ETCD_QUOTA_BACKEND_BYTES: 2147483648 → 4294967296; ehost2: /m);
      // held before the second member's turn: its sshd killed (listener and sessions), then released
      const leader = (JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { members: { name: string; role: string }[] }).members.find((m) => m.role === 'leader')!.name;
      const victim = ['ehost1', 'ehost2', 'ehost3', 'ehost4'].filter((n) => n !== leader)[1]!;
      const release = join(dir, 'release');
      const child = spawn(ETCDADM_HOOKS, ['apply', '-f', file, '--executable', ETCDADM], { env: { ...operatorEnv(), ETCDADM_TEST_HOLD: `apply:reconfigure:${victim}`, ETCDADM_TEST_RELEASE: release }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
      await waitFor(() => stderr.includes(`etcdadm-test-hold apply:reconfigure:${victim}`) || stderr.includes(' ERROR '), { timeoutMs: 300_000, intervalMs: 50, what: 'apply to hold before its second member' });
      ok(await lab.sh(onHost(victim), 'systemctl stop ssh; pkill -KILL -x sshd; true'), `kill sshd on ${victim}`);
      writeFileSync(release, '');
      const code = await exited;
      assert.equal(code, 1, stderr);
      const errors = stderr.split('\n').filter((l) => / ERROR /.test(l));
      assert.equal(errors.length, 1, stderr);
      assert.match(errors[0]!, new RegExp(`apply: reconfigure on ${victim} failed: `), 'names the step and the host');
      console.log(`# sshd killed mid-apply: ${errors[0]!.replace(/^\S+ \S+ ERROR +/, '')}`);
      const st = JSON.parse(ok(await lab.on(onHost(leader), ['etcdadm', 'status', '-o', 'json'])).stdout) as { health: string };
      assert.equal(st.health, 'healthy', 'the cluster healthy');
      const changedFirst = ['ehost1', 'ehost2', 'ehost3', 'ehost4'].filter((n) => n !== leader)[0]!;
      assert.equal(await quota(onHost(changedFirst)), 'ETCD_QUOTA_BACKEND_BYTES=4294967296', `${changedFirst} rolled before the failure`);
      assert.equal(await quota(onHost(victim)), 'ETCD_QUOTA_BACKEND_BYTES=2147483648', `${victim} untouched`);
      // sshd back: the same apply rolls the rest (the one done is not touched again), the leader last
      ok(await lab.sh(onHost(victim), 'systemctl start ssh'), `start sshd on ${victim}`);
      const again = await apply();
      assert.equal(again.code, 0, again.stderr);
      const order = [...again.stderr.matchAll(/\[reconfigure\] (ehost\d): (the leader, last|\d of \d left)/g)].map((m) => m[1]!);
      assert.equal(order.length, 3, again.stderr);
      assert.ok(!order.includes(changedFirst), `${changedFirst} not touched again`);
      assert.equal(order.at(-1), leader, 'the leader last');
      for (const h of hosts) assert.equal(await quota(h.i), 'ETCD_QUOTA_BACKEND_BYTES=4294967296');
      const after = await pids();
      for (const [n, h] of hosts.entries()) assert.notEqual(after[n], before[n], `etcd restarted on host ${h.i}`);
      assert.equal((await apply()).stdout.trim(), 'nothing to do');
      const report = await writer.stop();
      assert.deepEqual(report.failed, [], 'no write failed after retries of at most 2 s');
      for (const k of report.acknowledged) assert.ok((await client!.get(k)) !== undefined, `acknowledged ${k} present`);
    } finally {
      await writer.stop();
      for (const h of hosts) await lab.sh(h.i, 'systemctl start ssh; test -e /root/.ssh/authorized_keys.off && mv /root/.ssh/authorized_keys.off /root/.ssh/authorized_keys; true');
      writeFileSync(file, clusterFile(hosts, '3.6.16', ['  quotaBackendBytes: 4294967296']));
    }
  });

  it('certificates inside the file\'s pki.renewBeforeDays renewed (on the CA holder, and through bundles elsewhere), and the timers the file asks for armed, each by its own host command', async () => {
    const hosts = [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 6, name: 'ehost4' }];
    const notAfter = async (i: number) => new Date(ok(await lab.sh(i, 'openssl x509 -noout -enddate -in /etc/etcd/pki/server.crt')).stdout.trim().replace('notAfter=', '')).getTime();
    const settings = ['  quotaBackendBytes: 4294967296', 'pki:', '  certValidityDays: 800', '  renewBeforeDays: 400', '  autoRenew: true', 'backup:', '  every: 1h', 'defrag:', '  every: 1d'];
    writeFileSync(file, clusterFile(hosts, '3.6.16', settings));
    const r = await apply();
    assert.equal(r.code, 0, r.stderr);
    const steps = r.stdout.trim().split('\n').map((l) => l.split(' — ')[0]);
    assert.deepEqual(steps, [...['ehost1', 'ehost2', 'ehost3', 'ehost4'].map((n) => `renew the certificates of ${n}`), ...['ehost1', 'ehost2', 'ehost3', 'ehost4'].map((n) => `timers of ${n}`)]);
    assert.match(r.stdout, /^timers of ehost1 — ehost1: backups every 1h, keep 24 in \/var\/backups\/etcdadm \(now: none\), rolling defrag every 1d above 20% free \(now: none\), daily certificate renewal on \(now: off\)$/m);
    assert.match(r.stdout, /^timers of ehost2 — ehost2: backups every 1h, keep 24 in \/var\/backups\/etcdadm \(now: none\), rolling defrag every 1d above 20% free \(now: none\)$/m, 'the renewal timer on the CA holder only');
    assert.match(r.stderr, /\[renew\] ehost2: its certificates, signed on ehost1 \(no CA key\)/, 'a host without the CA key gets a bundle');
    const day = 24 * 3600 * 1000;
    for (const h of hosts) {
      const left = (await notAfter(h.i) - Date.now()) / day;
      assert.ok(left > 795 && left <= 800, `host ${h.i}: server.crt valid ${left.toFixed(1)} more days`);
      const timers = ok(await lab.sh(h.i, 'for u in etcdadm-backup.timer etcdadm-defrag.timer etcdadm-certs-renew.timer; do if [ -e /etc/systemd/system/$u ]; then systemctl is-enabled $u; else echo absent; fi; done')).stdout.trim().split('\n');
      assert.deepEqual(timers, ['enabled', 'enabled', h.i === 1 ? 'enabled' : 'absent'], `the timers on host ${h.i}`);
      assert.equal(ok(await lab.sh(h.i, 'test -e /etc/etcd/pki/ca.key && echo yes || echo no')).stdout.trim(), h.i === 1 ? 'yes' : 'no', 'the CA key stayed where it was');
    }
    assert.equal((JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { health: string }).health, 'healthy');
    assert.equal((await apply()).stdout.trim(), 'nothing to do');
    // and taken away again when the file no longer asks for them
    writeFileSync(file, clusterFile(hosts, '3.6.16', ['  quotaBackendBytes: 4294967296', 'pki:', '  certValidityDays: 800', '  renewBeforeDays: 400']));
    const off = await apply();
    assert.equal(off.code, 0, off.stderr);
    for (const h of hosts) assert.notEqual((await lab.sh(h.i, 'test -e /etc/systemd/system/etcdadm-backup.timer || test -e /etc/systemd/system/etcdadm-defrag.timer || test -e /etc/systemd/system/etcdadm-certs-renew.timer')).code, 0, `no timer left on host ${h.i}`);
    assert.equal((await apply()).stdout.trim(), 'nothing to do');
  });

  it('a host whose record names another cluster: refused before any change, naming both clusters and their hosts', async () => {
    // ehost5 (reset earlier) gets a cluster of its own
    ok(await lab.on(5, ['etcdadm', 'init', '--release-url', MIRROR_URL, '--insecure-release-url', '--version', '3.6.16']), 'init a cluster on ehost5');
    const own = (JSON.parse(ok(await lab.on(5, ['etcdadm', 'status', '-o', 'json'])).stdout) as { clusterId: string }).clusterId;
    const ours = (JSON.parse(ok(await lab.on(1, ['etcdadm', 'status', '-o', 'json'])).stdout) as { clusterId: string }).clusterId;
    writeFileSync(file, clusterFile([{ i: 1 }, { i: 2 }, { i: 3 }, { i: 6, name: 'ehost4' }, { i: 5 }], '3.6.16', ['  quotaBackendBytes: 4294967296', 'pki:', '  certValidityDays: 800', '  renewBeforeDays: 400']));
    try {
      const before = await world([1, 2, 3, 5, 6]);
      const r = await apply();
      assert.equal(r.code, 2, r.stderr);
      const errors = r.stderr.split('\n').filter((l) => / ERROR /.test(l));
      assert.equal(errors.length, 1, r.stderr);
      assert.ok(errors[0]!.includes(`apply refused before any change: the hosts of the file belong to different clusters (${ours}: ehost1, ehost2, ehost3, ehost4; ${own}: ehost5)`), errors[0]);
      assert.deepEqual(await world([1, 2, 3, 5, 6]), before);
    } finally {
      writeFileSync(file, clusterFile([{ i: 1 }, { i: 2 }, { i: 3 }, { i: 6, name: 'ehost4' }], '3.6.16', ['  quotaBackendBytes: 4294967296', 'pki:', '  certValidityDays: 800', '  renewBeforeDays: 400']));
      ok(await lab.on(5, ['etcdadm', 'reset', '--force']), 'reset ehost5 (the last member of its own cluster)');
    }
  });
});
