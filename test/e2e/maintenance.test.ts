/**
 * A full database and fragmentation on a real 3-member cluster (quota 16 MiB): writes fail with "database space
 * exceeded", `alarm list` shows NOSPACE, `etcdadm maintain` (compact, rolling defrag, quota check, disarm) brings
 * writes back with every acknowledged key intact, and a second `maintain` changes nothing; then `defrag --all` under a
 * client writing every 50 ms: no failed write, the leader last, a member under the threshold skipped with a line
 * saying so, the bytes freed what the files lost; /metrics and /health on the host's address from another host, and
 * `monitoring rules` for this cluster accepted by promtool.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EtcdClient } from '../../src/etcd/client.js';
import { MIRROR_URL, NetnsLab, ok } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const PROMTOOL = process.env.PROMTOOL ?? '/var/cache/etcdadm-lab/promtool/x/usr/bin/promtool';
const QUOTA = 16 * 1024 * 1024;
let lab: NetnsLab;
let client: EtcdClient;

interface StatusJson {
  health: string;
  leaderName: string;
  members: { name: string; role: string; dbSize: number; dbSizeInUse: number; fragmentation: number; alarms: string[] }[];
}
const status = async (): Promise<StatusJson> => JSON.parse((await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as StatusJson;
const alarms = async () => (JSON.parse(ok(await lab.etcdadm(2, ['alarm', 'list', '-o', 'json'])).stdout) as { alarms: { member: string; alarm: string }[] }).alarms;

before(async () => {
  lab = await NetnsLab.up(3);
  // the quota, and etcd's /metrics and /health served on the host's address too, for a scraper on another host
  const doc = (kind: string, i: number) =>
    `apiVersion: etcdadm.io/v1beta1\nkind: ${kind}\nmember:\n  listenMetricsURLs: [http://127.0.0.1:2381, http://${lab.ip(i)}:2381]\netcd:\n  quotaBackendBytes: ${QUOTA}\n`;
  for (const i of [1, 2, 3]) ok(await lab.sh(i, `printf '${doc(i === 1 ? 'InitConfiguration' : 'JoinConfiguration', i)}' > /root/quota.yaml`));
  ok(await lab.etcdadm(1, ['init', '--config', '/root/quota.yaml', ...R]), 'init');
  for (const i of [2, 3]) await lab.join(i, 1, ['--config', '/root/quota.yaml', ...R]);
  client = await labClient([1, 2, 3].map((i) => `https://${lab.ip(i)}:2379`), await lab.clientPem(1));
});
after(async () => {
  client?.close();
  await lab?.down();
});

describe('NOSPACE and defragmentation', () => {
  const latest = new Map<string, string>();

  it('filled until writes fail with "database space exceeded": alarm list shows NOSPACE; maintain brings writes back, every acknowledged key intact', async () => {
    const value = (n: number) => `${n}:`.padEnd(256 * 1024, 'x');
    let refused: string | undefined;
    for (let n = 0; n < 4000 && !refused; n++) {
      const key = `/fill/${n % 8}`;
      try {
        await client.put(key, value(n));
        latest.set(key, value(n));
      } catch (err) {
        refused = (err as Error).message;
      }
    }
    assert.match(refused ?? 'never refused', /database space exceeded/);
    assert.ok((await alarms()).some((a) => a.alarm === 'NOSPACE'), 'NOSPACE raised');
    const before = await status();
    assert.equal(before.health, 'degraded');

    const r = ok(await lab.etcdadm(1, ['maintain']), 'maintain');
    assert.match(r.stderr, /\[preflight\] eahost\d: .* of the 16\.0 MiB quota .*alarm NOSPACE/);
    assert.match(r.stderr, /\[compact\] Compacted the history up to revision \d+/);
    // no lease can be granted under NOSPACE: the recovery goes on without the cluster lock, saying so
    assert.match(r.stderr, /\[defrag\] etcd refuses every write under the NOSPACE alarm, the lock \/etcdadm\/locks\/defrag included: going on without it/);
    assert.match(r.stderr, /\[defrag\] Defragmented 3 member\(s\): \d+ bytes freed/);
    assert.match(r.stderr, /\[defrag\] Defragmenting eahost\d \(its file is at [0-9.]+% of the quota/);
    assert.match(r.stderr, /\[verify\] Every database is below the 16\.0 MiB quota/);
    assert.match(r.stderr, /\[disarm\] Disarmed NOSPACE on eahost\d/);
    const order = [...r.stderr.matchAll(/\[defrag\] Defragmenting (eahost\d)/g)].map((m) => m[1]);
    assert.equal(order.at(-1), before.leaderName, 'the leader last');

    const st = await status();
    assert.equal(st.health, 'healthy');
    for (const m of st.members) assert.ok(m.dbSize < QUOTA, `${m.name}: ${m.dbSize} bytes`);
    assert.deepEqual(await alarms(), []);
    for (const [key, v] of latest) assert.equal(await client.get(key), v, key);

    // nothing left to do: nothing changes (no compaction, no defragmentation, the same files)
    const again = ok(await lab.etcdadm(1, ['maintain']), 'maintain again');
    assert.match(again.stderr, /\[compact\] Nothing to compact: compacted already at revision/);
    assert.doesNotMatch(again.stderr, /Defragmenting/);
    assert.match(again.stderr, /\[defrag\] Nothing to defragment/);
    assert.match(again.stderr, /\[disarm\] No NOSPACE alarm: nothing to disarm/);
    assert.deepEqual((await status()).members.map((m) => m.dbSize), st.members.map((m) => m.dbSize));

    await client.put('/after-maintain', 'ok');
    assert.equal(await client.get('/after-maintain'), 'ok');
  });

  it('defrag --all under a client writing every 50 ms: no failed write, the leader last, a member under the threshold skipped, bytes freed what the files lost', async () => {
    // fragmentation on every member: values written, deleted, and the history compacted
    for (let n = 0; n < 40; n++) await client.put(`/frag/${n}`, 'y'.repeat(128 * 1024));
    for (let n = 0; n < 40; n++) await client.delete(`/frag/${n}`);
    await client.compact(BigInt(await client.revision()), true);
    // each member applies the compaction in its own time, and reports the space it freed with its next write commit
    await client.put('/frag/done', '1');
    await waitFor(async () => ((await status()).members.every((m) => m.fragmentation > 0.3) ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, what: 'the compaction applied on every member' });
    // host2's own member first (defrag without --all): then it has nothing left to free
    const own = ok(await lab.etcdadm(2, ['defrag']), 'defrag on host2');
    assert.match(own.stderr, /\[defrag\] Defragmenting eahost2 /);
    assert.doesNotMatch(own.stderr, /Defragmenting eahost[13]/);

    const writer = new BackgroundWriter(client, 'defrag');
    await writer.moreWrites(5);
    const before = await status();
    const r = ok(await lab.etcdadm(3, ['defrag', '--all', '--threshold', '20%']), 'defrag --all');
    const after = await status();
    await writer.moreWrites(3);
    const report = await writer.stop();
    assert.deepEqual(report.failed, []);
    assert.ok(report.maxRetryMs <= 2000, `a write was retried for ${report.maxRetryMs} ms`);

    assert.match(r.stderr, /\[defrag\] Skipping eahost2: [0-9.]+% free, not above the threshold 20\.0%/);
    const done = [...r.stderr.matchAll(/\[defrag\] (eahost\d): (\d+) → (\d+) bytes \((-?\d+) freed\)/g)].map((m) => ({ name: m[1]!, before: Number(m[2]), after: Number(m[3]), freed: Number(m[4]) }));
    assert.deepEqual(done.map((d) => d.name).sort(), ['eahost1', 'eahost3']);
    assert.equal(done.at(-1)!.name, before.leaderName, 'the leader last');
    assert.match(r.stderr, /is the leader; moving leadership to/);
    for (const d of done) {
      const b = before.members.find((m) => m.name === d.name)!;
      const a = after.members.find((m) => m.name === d.name)!;
      assert.equal(d.freed, d.before - d.after);
      assert.equal(d.before, b.dbSize, `${d.name}: the size it started from is the file's`);
      // the writer may have grown the file a little since: what it lost is what was freed, within a page run
      assert.ok(Math.abs(b.dbSize - a.dbSize - d.freed) <= 1024 * 1024, `${d.name}: freed ${d.freed}, the file lost ${b.dbSize - a.dbSize}`);
      assert.ok(d.freed > 1024 * 1024, `${d.name}: freed ${d.freed}`);
    }
    assert.equal(after.health, 'healthy');
  });

  it("metrics: /metrics and /health answer on the configured address from another lab host; monitoring rules for this cluster pass promtool", async () => {
    const get = async (path: string) =>
      ok(await lab.sh(2, `${process.execPath} -e "fetch('http://${lab.ip(1)}:2381${path}').then(async (r) => console.log(r.status + ' ' + (await r.text())))"`), `GET ${path} from host2`).stdout;
    assert.match(await get('/metrics'), /^200 [\s\S]*\netcd_server_has_leader 1\n/);
    assert.match(await get('/health'), /^200 \{"health":"true"/);
    const rules = ok(await lab.etcdadm(1, ['monitoring', 'rules', '--job', 'etcd-lab']), 'monitoring rules').stdout;
    assert.match(rules, /sum\(up\{job="etcd-lab"\}\) < 2/);
    assert.match(rules, new RegExp(`/ ${QUOTA} \\* 100 > 95`));
    const file = `/tmp/etcdadm-rules-${process.pid}.yml`;
    ok(await lab.sh(1, `cat > ${file} <<'EOF'\n${rules}\nEOF`));
    try {
      const check = ok(await lab.sh(1, `${PROMTOOL} check rules ${file}`), 'promtool check rules');
      assert.match(check.stdout, /SUCCESS: 11 rules found/);
    } finally {
      await lab.sh(1, `rm -f ${file}`);
    }
  });
});
