/**
 * `etcdadm recover` end to end, as an operator meets it: a 3-member cluster that takes writes; recover refused while
 * the cluster is whole (the numbers, nothing changed); 2 hosts lost for good (etcd SIGKILLed, the network cut);
 * recover on the third gives a healthy one-member cluster with every acknowledged key, the data dir copied aside
 * (0700), no force flag left (a restart keeps it one member); 2 fresh hosts join it. Then the same again with the
 * recovery killed right after its forced start: the re-run finishes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { EtcdClient } from '../../src/etcd/client.js';
import { MIRROR_URL, NetnsLab, ok, oneErrorLine, run } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
let lab: NetnsLab;
const clients: EtcdClient[] = [];
const url = (i: number) => `https://${lab.ip(i)}:2379`;

before(async () => {
  lab = await NetnsLab.up(5);
  ok(await lab.etcdadm(1, ['init', ...R]), 'init host1');
  await lab.join(2, 1, R);
  await lab.join(3, 1, R);
});
after(async () => {
  for (const c of clients) c.close();
  await lab?.down();
});

const memberNames = async (i: number): Promise<string[]> =>
  ok(await lab.etcdctl(i, ['member', 'list']), 'member list').stdout.split('\n').filter(Boolean).map((l) => l.split(', ')[2]!).sort();

const clusterIdOf = async (i: number): Promise<string> => {
  const j = JSON.parse(ok(await lab.etcdctl(i, ['member', 'list', '-w', 'json', '--hex'])).stdout) as { header: { cluster_id: string } };
  return j.header.cluster_id;
};

/** Lose host i for good: its etcd SIGKILLed (the lab's systemctl does not restart it) and its network cut. */
async function lose(i: number): Promise<void> {
  ok(await run('ip', ['-n', `eahost${i}`, 'link', 'set', 'eth0', 'down']), `cut host${i}`);
  for (const pid of await lab.etcdPids(i)) await run('kill', ['-9', String(pid)]);
  await waitFor(async () => (await lab.etcdPids(i)).length === 0, { timeoutMs: 10_000, intervalMs: 50, what: `etcd on host${i} gone` });
}

/** Keys under `prefix` on host i (a linearizable read through its etcdctl). */
const keysOn = async (i: number, prefix: string): Promise<Set<string>> =>
  new Set(ok(await lab.etcdctl(i, ['get', prefix, '--prefix', '--keys-only']), `keys on host${i}`).stdout.split('\n').filter(Boolean));

/** Write through `hosts` for a while; returns the acknowledged keys once host `survivor` has applied the last one. */
async function writeKeys(hosts: number[], survivor: number, prefix: string, n: number): Promise<string[]> {
  const pem = await lab.clientPem(survivor);
  const client = await labClient(hosts.map(url), pem);
  clients.push(client);
  const writer = new BackgroundWriter(client, prefix, 10);
  await writer.moreWrites(n);
  const report = await writer.stop();
  assert.deepEqual(report.failed, [], 'no write failed');
  // recover keeps what the surviving member has: wait until it has applied the last acknowledged write (a write that
  // only the lost majority had would be lost with it: that is what losing quorum for good means)
  const own = await labClient([url(survivor)], pem);
  clients.push(own);
  const last = report.acknowledged.at(-1)!;
  await waitFor(async () => (await own.get(last, { serializable: true })) !== undefined, { timeoutMs: 10_000, intervalMs: 20, what: `${last} on host${survivor}` });
  return report.acknowledged;
}

interface RecordDoc {
  clusterEndpoints?: string[];
  recovery?: { forced?: boolean; copies?: { from: string; to: string }[] };
}
const recordOn = async (i: number): Promise<RecordDoc> => parse(ok(await lab.on(i, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout) as RecordDoc;
const envOn = async (i: number): Promise<string> => ok(await lab.on(i, ['cat', '/etc/etcd/etcd.env'])).stdout;

describe('recover after the loss of quorum', () => {
  let acked: string[] = [];
  let clusterId = '';

  it('refused while the cluster is whole: the numbers, exit non-zero, nothing changed', async () => {
    const pidsBefore = await lab.etcdPids(3);
    const listBefore = await memberNames(3);
    const envBefore = await envOn(3);
    for (const args of [['recover'], ['recover', '--dry-run']]) {
      const r = await lab.etcdadm(3, args);
      oneErrorLine(r, /refusing to recover: 3 of 3 voting members answer; quorum is 2: the cluster is not lost \(answering: eahost1 \([0-9a-f]+\) at https:\/\/10\.88\.0\.1:2379, eahost2/);
      assert.match(r.stderr, /etcdadm member remove.*etcdadm join/);
    }
    // a phase alone cannot skip the proof: nothing after preflight runs without a recovery it noted
    for (const p of ['stop', 'force-new-cluster', 'configure']) oneErrorLine(await lab.etcdadm(3, ['recover', 'phase', p]), /no recovery is under way on this host: nothing proved the cluster lost/);
    assert.deepEqual(await lab.etcdPids(3), pidsBefore, 'etcd on host3 still runs, the same process');
    assert.deepEqual(await memberNames(3), listBefore);
    assert.equal(await envOn(3), envBefore);
    assert.equal((await recordOn(3)).recovery, undefined, 'no recovery noted');
  });

  it('2 hosts lost for good, recover on the third: a healthy one-member cluster with every acknowledged key', async () => {
    clusterId = await clusterIdOf(3);
    acked = await writeKeys([1, 2, 3], 3, 'recover', 300);
    await Promise.all([lose(1), lose(2)]);

    const dry = ok(await lab.etcdadm(3, ['recover', '--dry-run']), 'recover --dry-run');
    assert.match(dry.stdout, /Recovery of member eahost3 \([0-9a-f]+\) from the loss of quorum \(dry run: nothing is changed\)/);
    assert.match(dry.stdout, /members dropped: eahost1 \([0-9a-f]+\) client https:\/\/10\.88\.0\.1:2379 peer https:\/\/10\.88\.0\.1:2380; eahost2/);
    assert.match(dry.stdout, /copied to \/var\/lib\/etcd\.before-recover-\d{8}T\d{6}Z/);
    assert.match(dry.stdout, /--force-new-cluster \(ETCD_FORCE_NEW_CLUSTER=true in \/etc\/etcd\/etcd\.env for that start only\)/);
    assert.equal((await lab.etcdPids(3)).length, 1, 'the dry run stopped nothing');
    assert.equal((await recordOn(3)).recovery, undefined);

    const t0 = Date.now();
    const r = ok(await lab.etcdadm(3, ['recover']), 'recover');
    const took = Date.now() - t0;
    assert.match(r.stdout, /Recovered: cluster [0-9a-f]+ has one member, eahost3/);
    assert.match(r.stdout, /etcdadm join https:\/\/10\.88\.0\.3:2379/);
    for (const p of ['preflight', 'stop', 'copy-aside', 'force-new-cluster', 'members', 'configure', 'restart', 'health']) assert.match(r.stderr, new RegExp(`\\[${p}\\]`), `phase ${p} ran`);
    assert.ok(took < 60_000, `recover took ${took} ms`);

    assert.deepEqual(await memberNames(3), ['eahost3']);
    assert.equal(await clusterIdOf(3), clusterId, 'the same cluster: force-new-cluster keeps the cluster ID');
    const status = await lab.etcdadm(3, ['status', '-o', 'json']);
    assert.equal(status.code, 0, `status: healthy\n${status.stdout}${status.stderr}`);
    const keys = await keysOn(3, 'recover/');
    const missing = acked.filter((k) => !keys.has(k));
    assert.deepEqual(missing, [], `every acknowledged key (${acked.length}) is there`);

    const rec = await recordOn(3);
    assert.equal(rec.recovery, undefined, 'the recovery is no longer under way');
    assert.deepEqual(rec.clusterEndpoints, [url(3)]);
    const env = await envOn(3);
    assert.doesNotMatch(env, /FORCE_NEW_CLUSTER/);
    assert.match(env, /^ETCD_INITIAL_CLUSTER=eahost3=https:\/\/10\.88\.0\.3:2380$/m);
    assert.match(env, /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);

    const copy = ok(await lab.sh(3, 'for d in /var/lib/etcd.before-recover-*; do stat -c "%n %a" "$d"; done; ls /var/lib/etcd.before-recover-*/member/snap/db /var/lib/etcd.before-recover-*/member/wal')).stdout;
    assert.match(copy, /^\/var\/lib\/etcd\.before-recover-\d{8}T\d{6}Z 700$/m, copy);
    assert.match(copy, /member\/snap\/db/);
    assert.doesNotMatch(copy, /\.partial/);
  });

  it('a restart of etcd keeps one member (no force flag left)', async () => {
    ok(await lab.on(3, ['systemctl', 'restart', 'etcd.service']), 'restart');
    await waitFor(async () => (await lab.etcdctl(3, ['endpoint', 'health'])).code === 0, { timeoutMs: 30_000, intervalMs: 100, what: 'host3 healthy after the restart' });
    assert.deepEqual(await memberNames(3), ['eahost3']);
  });

  it('2 fresh hosts join the recovered cluster: 3 healthy members with the keys', async () => {
    await lab.join(4, 3, R);
    await lab.join(5, 3, R);
    assert.deepEqual(await memberNames(5), ['eahost3', 'eahost4', 'eahost5']);
    const health = ok(await lab.etcdctl(5, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
    const keys = await keysOn(5, 'recover/');
    assert.deepEqual(acked.filter((k) => !keys.has(k)), []);
  });

  it('killed right after its forced start, the re-run finishes the recovery (the flag gone at once)', async () => {
    const more = await writeKeys([3, 4, 5], 3, 'again', 100);
    await Promise.all([lose(4), lose(5)]);
    const killed = await lab.runAndKill(3, ['recover'], 'after:force-new-cluster');
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.doesNotMatch(await envOn(3), /FORCE_NEW_CLUSTER/, 'the flag is gone right after the forced start');
    const rec = await recordOn(3);
    assert.equal(rec.recovery?.forced, true, 'the record notes the recovery and its forced start');

    const r = ok(await lab.etcdadm(3, ['recover']), 're-run of recover');
    assert.match(r.stdout, /Resuming the recovery of member eahost3/);
    assert.match(r.stderr, /started with --force-new-cluster already/);
    assert.deepEqual(await memberNames(3), ['eahost3']);
    assert.equal((await lab.etcdadm(3, ['status', '-o', 'json'])).code, 0);
    const keys = await keysOn(3, 'again/');
    assert.deepEqual(more.filter((k) => !keys.has(k)), []);
    assert.equal((await recordOn(3)).recovery, undefined);
    const copies = ok(await lab.sh(3, 'ls -d /var/lib/etcd.before-recover-* | wc -l')).stdout.trim();
    assert.equal(copies, '2', 'one copy per recovery');
  });
});
