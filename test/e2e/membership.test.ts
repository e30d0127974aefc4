/**
 * Safe membership on lab hosts, through the CLI: learner-first joins under write load, status and its exit codes,
 * the quorum guard with one member down, a join while a member is down, removal of a dead member from another host,
 * and `join --replace` (refused while the member answers; a host killed for good replaced in one step).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ETCDADM_HOOKS, MIRROR_URL, NetnsLab, REPO, ok, type RunResult } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';
import type { EtcdClient } from '../../src/etcd/client.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
let lab: NetnsLab;
let client: EtcdClient;
let writer: BackgroundWriter;
const url = (i: number) => `https://${lab.ip(i)}:2379`;

before(async () => {
  lab = await NetnsLab.up(5);
});
after(async () => {
  client?.close();
  await lab?.down();
});

interface StatusJson {
  members: { name: string; role: string; health: string }[];
  canLose: number;
}
function statusJson(r: RunResult): StatusJson {
  return JSON.parse(r.stdout) as StatusJson;
}

/**
 * Join host i through host 1, held right after its etcd started (ETCDADM_TEST_HOLD, src/testhooks.ts): the member
 * list then shows it as a started learner; released, the join promotes it. Returns how it was listed while held.
 */
async function joinSeenAsLearner(i: number): Promise<{ name: string; isLearner: boolean } | undefined> {
  await lab.copyCA(1, i);
  const release = `/run/etcdadm-test-release-${i}`;
  await lab.sh(i, `rm -f ${release}`);
  const child = spawn('bash', [join(REPO, 'lab/hosts.sh'), 'on', String(i), ETCDADM_HOOKS, 'join', url(1), ...R], {
    env: { ...process.env, LAB: lab.dir, ETCDADM_TEST_HOLD: 'after:start', ETCDADM_TEST_RELEASE: release },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  await waitFor(() => stderr.includes('etcdadm-test-hold after:start') || stderr.includes(' ERROR '), { timeoutMs: 120_000, intervalMs: 50, what: 'the join to hold after start' });
  let seen: { name: string; isLearner: boolean } | undefined;
  try {
    // the started member publishes its name a moment after it starts serving
    seen = await waitFor(
      async () => {
        const m = (await client.memberList(false)).members.find((x) => x.peerURLs.includes(`https://${lab.ip(i)}:2380`));
        return m?.name ? { name: m.name, isLearner: m.isLearner } : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: `host${i} in the member list` },
    ).catch(() => undefined);
  } finally {
    await lab.sh(i, `touch ${release}`);
  }
  const code = await exited;
  assert.equal(code, 0, `join host${i}:\n${stderr}`);
  assert.match(stderr, /\[health\] Promoted member/);
  return seen;
}

describe('learner-first joins, status and the quorum guard', () => {
  it('joins two hosts as learners while a client writes every 50 ms', async () => {
    ok(await lab.etcdadm(1, ['init', ...R]), 'init');
    const cat = async (f: string) => ok(await lab.on(1, ['cat', `/etc/etcd/pki/${f}`])).stdout;
    client = await labClient([url(1), url(2), url(3), url(4)], { ca: await cat('ca.crt'), cert: await cat('etcdctl-etcd-client.crt'), key: await cat('etcdctl-etcd-client.key') });
    writer = new BackgroundWriter(client, 'membership');
    assert.deepEqual(await joinSeenAsLearner(2), { name: 'eahost2', isLearner: true }, 'host2 was a started learner during its join');
    assert.deepEqual(await joinSeenAsLearner(3), { name: 'eahost3', isLearner: true }, 'host3 was a started learner during its join');
    const list = await client.memberList();
    assert.deepEqual(list.members.map((m) => `${m.name} ${m.isLearner}`).sort(), ['eahost1 false', 'eahost2 false', 'eahost3 false']);
  });

  it('status: 1 leader, 2 followers, can lose 1 member, exit 0', async () => {
    await lab.ensureCluster([1, 2, 3], R); // should the joins above have failed
    const r = await lab.etcdadm(1, ['status', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const s = statusJson(r);
    assert.deepEqual(s.members.map((m) => m.role).sort(), ['follower', 'follower', 'leader']);
    assert.ok(s.members.every((m) => m.health === 'healthy'));
    assert.equal(s.canLose, 1);
    const table = await lab.etcdadm(2, ['status']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /can lose 1 member/);
  });

  it('join --replace of a member that still answers: refused before anything changes', async () => {
    await lab.copyCA(1, 4);
    const listing = async () => ok(await lab.sh(4, 'find /etc/etcd /opt/bin /var/lib/etcd -printf "%p %s %m\\n" 2>/dev/null | sort; true')).stdout;
    const before = await listing();
    const r = await lab.etcdadm(4, ['join', '--replace', 'eahost3', url(1), ...R]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /member eahost3 \([0-9a-f]+\) still answers at https:\/\/10\.88\.0\.3:2379 \(healthy\): a member that answers is not replaced/);
    assert.equal(r.stderr.trim().split('\n').filter((l) => / ERROR /.test(l)).length, 1, 'one error line');
    assert.equal(await listing(), before, 'nothing written on host4');
    assert.deepEqual((await client.memberList()).members.map((m) => m.name).sort(), ['eahost1', 'eahost2', 'eahost3'], 'nothing removed');
  });

  it('with one member down: status is degraded and still lists the others; removing a second member is refused', async () => {
    ok(await lab.on(3, ['systemctl', 'stop', 'etcd.service']));
    const r = await lab.etcdadm(1, ['status', '-o', 'json']);
    assert.equal(r.code, 3, `degraded exit code\n${r.stdout}${r.stderr}`);
    const s = statusJson(r);
    assert.equal(s.members.find((m) => m.name === 'eahost3')?.health, 'unreachable');
    assert.deepEqual(s.members.filter((m) => m.health === 'healthy').map((m) => m.name).sort(), ['eahost1', 'eahost2']);
    const table = await lab.etcdadm(1, ['status']);
    assert.equal(table.code, 3);
    // the rows, not just the names: the two that answer are healthy, the halted one unreachable
    const row = (name: string) => table.stdout.split('\n').find((l) => l.startsWith(`| ${name} `)) ?? '';
    for (const n of ['eahost1', 'eahost2']) assert.match(row(n), /\|\s+(leader|follower) \|\s+healthy \|/, row(n));
    assert.match(row('eahost3'), /\|\s+follower \|\s+unreachable \|/, row('eahost3'));

    const refused = await lab.etcdadm(1, ['member', 'remove', 'eahost2']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /2 voting members of which 1 is healthy; quorum of 2 needs 2/);
    assert.match(refused.stderr, /--force/);
    assert.equal((await client.memberList()).members.length, 3, 'nothing removed');
  });

  it('a join while a voting member is down says why at once (etcd refuses any add then) and changes nothing', async () => {
    await lab.copyCA(1, 4);
    const r = await lab.etcdadm(4, ['join', url(1), ...R]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /etcd refuses to add members while a voting member is unreachable: eahost3 \([0-9a-f]+\)/);
    assert.match(r.stderr, /etcdadm member remove eahost3/);
    assert.doesNotMatch(r.stderr, /waiting/, 'refused at once, not after retrying into a timeout');
    assert.equal((await client.memberList()).members.length, 3, 'nothing added');
  });

  it('member remove of a dead member from another host: back to 2 healthy; then the new host joins as a learner and is promoted', async () => {
    ok(await lab.etcdadm(1, ['member', 'remove', 'eahost3']), 'member remove eahost3');
    const health = ok(await lab.etcdctl(1, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 2);
    assert.equal((await lab.etcdadm(2, ['status', '-o', 'json'])).code, 0);
    assert.deepEqual(await joinSeenAsLearner(4), { name: 'eahost4', isLearner: true }, 'host4 was a started learner during its join');
    const list = await client.memberList();
    assert.deepEqual(list.members.map((m) => `${m.name} ${m.isLearner}`).sort(), ['eahost1 false', 'eahost2 false', 'eahost4 false']);
  });

  it('join --replace: host4 killed for good, host5 takes its place under its name in one step; 3 healthy voters', async () => {
    const old = (await client.memberList()).members.find((m) => m.name === 'eahost4');
    assert.ok(old, 'eahost4 is a member');
    // killed for good: its etcd gone and its host cut off the network
    const pids = await lab.etcdPids(4);
    assert.ok(pids.length > 0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    execFileSync('ip', ['link', 'set', 'eaveth4', 'down']);
    await lab.copyCA(1, 5);
    const r = ok(await lab.etcdadm(5, ['join', '--replace', 'eahost4', url(1), ...R]), 'join --replace');
    assert.match(r.stderr, new RegExp(`member eahost4 \\(${old.idHex}\\) does not answer at https://10\\.88\\.0\\.4:2379; it will be removed`));
    assert.match(r.stderr, new RegExp(`\\[membership\\] Removed member eahost4 \\(${old.idHex}\\)`));
    assert.match(r.stderr, /\[membership\] Added learner [0-9a-f]+/);
    assert.match(r.stderr, /\[health\] Promoted member/);
    const list = await client.memberList();
    assert.deepEqual(list.members.map((m) => `${m.name} ${m.isLearner} ${m.peerURLs.join(',')}`).sort(), [
      `eahost1 false https://${lab.ip(1)}:2380`,
      `eahost2 false https://${lab.ip(2)}:2380`,
      `eahost4 false https://${lab.ip(5)}:2380`,
    ]);
    const st = JSON.parse(ok(await lab.etcdadm(5, ['status', '-o', 'json'])).stdout) as StatusJson;
    assert.deepEqual(st.members.map((m) => m.health), ['healthy', 'healthy', 'healthy']);
    assert.equal(st.canLose, 1);
  });

  it('no write failed through the joins, the member down and the removal', async () => {
    const report = await writer.stop();
    assert.deepEqual(report.failed, [], 'no write failed after retries of at most 2 s');
    assert.ok(report.acknowledged.length > 50, `${report.acknowledged.length} writes`);
    const keys = ok(await lab.etcdctl(1, ['get', 'membership/', '--prefix', '--keys-only'])).stdout.split('\n').filter(Boolean);
    for (const k of report.acknowledged) assert.ok(keys.includes(k), `acknowledged ${k} present`);
  });
});
