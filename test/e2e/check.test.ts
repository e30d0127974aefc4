/**
 * `etcdadm check`, the doctor, on a real 3-member cluster (quota 16 MiB): every check ok and exit 0 on a healthy
 * cluster, then one real problem at a time, each named by its check with exit 3 and taken away again before the next:
 * a member stopped; a serving certificate re-issued to expire in 10 days; a database at 90 % of its quota; a slow
 * disk (the member's data on a block device whose writes are throttled to 30 IOPS through the blkio cgroup of its
 * etcd process: a latency warn with the measured p99); and a diverged member.
 *
 * Disks: the lab's hosts share one virtual disk, where three members fsyncing at once measure a WAL fsync p99 of
 * 11-13 ms — a true warn by etcd's rule (10 ms) — so that the healthy cluster is healthy, the data dirs are on
 * tmpfs. For the slow disk, host 3's member moves onto a real block device — ext4 on a loop device (direct IO into a
 * file in tmpfs) — whose writes are then throttled for its etcd through the blkio cgroup.
 *
 * The divergence is made for real, as disk corruption or a bug would make it: with the member stopped, one value in
 * its bbolt file is overwritten in place by one of the same length (bbolt's data pages carry no checksum), so it
 * restarts with the same keys at the same revisions but different data. etcd's own initial corruption check
 * (etcd.corruptCheck, on by default) would refuse to start such a member — which is what it is for — so this cluster
 * runs with it off: the doctor has to find the divergence itself, by HashKV.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { EtcdClient } from '../../src/etcd/client.js';
import { MIRROR_URL, NetnsLab, ok, type RunResult } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';
import { labClient } from '../helpers/writer.js';
import { sleep } from '../../src/util/retry.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const QUOTA = 16 * 1024 * 1024;
const BLKIO = '/sys/fs/cgroup/blkio';
const SLOW = `${BLKIO}/etcdadm-lab-slow-disk`;
const DATA = '/var/lib/etcd-data';
let lab: NetnsLab;
let client: EtcdClient;

interface Check {
  name: string;
  verdict: 'ok' | 'warn' | 'fail';
  value: string;
  measured?: Record<string, number | string | null>;
  fix?: string;
}
interface Report {
  verdict: string;
  exitCode: number;
  checks: Check[];
}
const report = (r: RunResult): Report => JSON.parse(r.stdout) as Report;
const notOk = (r: Report) => r.checks.filter((c) => c.verdict !== 'ok').map((c) => c.name);
const byName = (r: Report, name: string) => r.checks.find((c) => c.name === name)!;
const check = async (i = 1) => lab.etcdadm(i, ['check', '-o', 'json']);
/** On this machine (the cgroup tree is the host's): the throttled processes back to the root blkio group, the group removed. */
const root = (script: string) => execFileSync('bash', ['-c', script], { encoding: 'utf8' });
const unthrottle = () => root(`[ -d ${SLOW} ] || exit 0; for p in $(cat ${SLOW}/cgroup.procs); do echo $p > ${BLKIO}/cgroup.procs; done; rmdir ${SLOW}`);
const healthyAgain = async () =>
  waitFor(async () => (await lab.etcdadm(1, ['status', '-o', 'json'])).code === 0, { timeoutMs: 60_000, intervalMs: 500, what: 'the cluster healthy again' });

before(async () => {
  lab = await NetnsLab.up(3);
  for (const i of [1, 2, 3]) ok(await lab.sh(i, `mkdir -p ${DATA} && mount -t tmpfs -o size=256m,mode=0755 tmpfs ${DATA}`));
  const doc = (kind: string) => `apiVersion: etcdadm.io/v1beta1\nkind: ${kind}\nmember:\n  dataDir: ${DATA}/etcd\netcd:\n  quotaBackendBytes: ${QUOTA}\n  corruptCheck: false\n`;
  for (const i of [1, 2, 3]) ok(await lab.sh(i, `printf '${doc(i === 1 ? 'InitConfiguration' : 'JoinConfiguration')}' > /root/check.yaml`));
  ok(await lab.etcdadm(1, ['init', '--config', '/root/check.yaml', ...R]), 'init');
  for (const i of [2, 3]) await lab.join(i, 1, ['--config', '/root/check.yaml', ...R]);
  client = await labClient([1, 2, 3].map((i) => `https://${lab.ip(i)}:2379`), await lab.clientPem(1));
});
after(async () => {
  client?.close();
  // the throttled process may be gone already; the cgroup must not outlive the test
  unthrottle();
  for (const i of [1, 2, 3])
    await lab?.sh(i, `systemctl stop etcd.service; umount ${DATA}; umount ${DATA}; [ -f /mnt/backing/disk ] && losetup -j /mnt/backing/disk | cut -d: -f1 | xargs -r -n1 losetup -d; umount /mnt/backing; true`).catch(() => undefined);
  await lab?.down();
});

describe('etcdadm check', () => {
  it('a healthy cluster: every check ok, exit 0; the table and -o json carry every check with its verdict and measured value', async () => {
    // enough writes for every member's latency histograms to be judged (check.ts: at least 100 observations)
    for (let n = 0; n < 600; n++) await client.put(`/check/${n % 50}`, `v${n}`);
    const r = await check(2);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rep = report(r);
    assert.deepEqual(notOk(rep), []);
    assert.deepEqual(rep.checks.map((c) => c.name), ['members', 'version', 'hash', 'db-size', 'fragmentation', 'alarms', 'wal-fsync', 'backend-commit', 'peer-rtt', 'leader-changes', 'certificates', 'learners', 'backup']);
    assert.match(byName(rep, 'members').value, /^3\/3 healthy, quorum 2, can lose 1$/);
    assert.match(byName(rep, 'hash').value, /^equal at revision \d+ on 3 voting members$/);
    assert.match(byName(rep, 'db-size').value, /of the 16\.0 MiB quota/);
    for (const name of ['wal-fsync', 'backend-commit', 'peer-rtt', 'leader-changes']) {
      const m = byName(rep, name).measured ?? {};
      assert.deepEqual(Object.keys(m).sort(), ['eahost1', 'eahost2', 'eahost3'], name);
      // etcd measures a peer's round trip by probing it every few seconds: the newest member may not have yet
      const measured = Object.values(m).filter((x) => typeof x === 'number').length;
      assert.ok(name === 'peer-rtt' ? measured >= 1 : measured === 3, `${name}: ${JSON.stringify(m)}`);
    }
    assert.match(byName(rep, 'certificates').value, /first to expire: .* in \d+ days/);
    const table = await lab.etcdadm(1, ['check']);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^CHECK\s+VERDICT\s+MEASURED\nmembers\s+OK\s+3\/3 healthy/);
    assert.match(table.stdout, /All 13 checks ok\./);
  });

  it('a member stopped: "members" fails naming it, exit 3', async () => {
    ok(await lab.on(3, ['systemctl', 'stop', 'etcd.service']));
    try {
      const r = await check();
      assert.equal(r.code, 3, r.stdout + r.stderr);
      const rep = report(r);
      assert.equal(byName(rep, 'members').verdict, 'fail');
      assert.match(byName(rep, 'members').value, /2\/3 healthy, quorum 2, can lose 0; eahost3 unreachable/);
      assert.match(byName(rep, 'members').fix ?? '', /start etcd on eahost3/);
    } finally {
      ok(await lab.on(3, ['systemctl', 'start', 'etcd.service']));
    }
    await healthyAgain();
    assert.equal((await check()).code, 0, 'ok again');
  });

  it('a serving certificate re-issued to expire in 10 days: "certificates" warns naming it, exit 3', async () => {
    // re-issued by hand with the CA, its SANs and usages copied: what a short-lived certificate from elsewhere looks like
    const reissue = (days: number) =>
      `cd /etc/etcd/pki && openssl x509 -x509toreq -in server.crt -signkey server.key -copy_extensions copyall -out /tmp/server.csr 2>/dev/null && ` +
      `openssl x509 -req -in /tmp/server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days ${days} -copy_extensions copy -out server.crt.new 2>/dev/null && ` +
      `chmod --reference=server.crt server.crt.new && mv server.crt.new server.crt`;
    const saved = ok(await lab.sh(2, 'base64 -w0 /etc/etcd/pki/server.crt')).stdout.trim();
    ok(await lab.sh(2, reissue(10)), 're-issue');
    try {
      const r = await check();
      assert.equal(r.code, 3, r.stdout + r.stderr);
      const c = byName(report(r), 'certificates');
      assert.equal(c.verdict, 'warn');
      assert.match(c.value, /within the 30-day renewal window: eahost2's serving certificate in (9|10) days/);
      assert.match(c.fix ?? '', /etcdadm certs renew all/);
      assert.deepEqual(notOk(report(r)), ['certificates']);
    } finally {
      ok(await lab.sh(2, `echo ${saved} | base64 -d > /etc/etcd/pki/server.crt.new && chmod --reference=/etc/etcd/pki/server.crt /etc/etcd/pki/server.crt.new && mv /etc/etcd/pki/server.crt.new /etc/etcd/pki/server.crt`));
    }
    assert.equal((await check()).code, 0, 'ok again');
  });

  it('a database at 90 % of its quota: "db-size" warns with the measured size, exit 3', async () => {
    const value = (n: number) => `${n}:`.padEnd(64 * 1024, 'x');
    const biggest = async () => Math.max(...(await Promise.all([1, 2, 3].map(async (i) => (await client.status(`https://${lab.ip(i)}:2379`)).dbSize))));
    // one value at a time, until the largest file passes 85 % (each put adds about 0.4 %)
    let n = 0;
    while ((await biggest()) < 0.85 * QUOTA) {
      await client.put(`/fill/${n % 8}`, value(n++));
      assert.ok(n < 4000, 'the file grows');
    }
    const r = await check();
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const c = byName(report(r), 'db-size');
    assert.equal(c.verdict, 'warn', c.value);
    assert.match(c.value, /^eahost\d 1[345]\.\d MiB of the 16\.0 MiB quota \((8[5-9]|9[0-4])\.\d%\)$/);
    assert.match(c.fix ?? '', /etcdadm maintain/);
    ok(await lab.etcdadm(1, ['maintain']), 'maintain');
    assert.equal(byName(report(await check()), 'db-size').verdict, 'ok', 'ok again after maintain');
  });

  it('a slow disk (its etcd throttled to 30 write IOPS): "wal-fsync" warns with the measured p99, exit 3', async () => {
    // the member's data moved onto a block device (stopped, copied, the device mounted over the old place)
    ok(await lab.on(3, ['systemctl', 'stop', 'etcd.service']));
    ok(
      await lab.sh(
        3,
        `mkdir -p /mnt/backing /mnt/slow && mount -t tmpfs -o size=300m tmpfs /mnt/backing && truncate -s 256M /mnt/backing/disk && mkfs.ext4 -q /mnt/backing/disk && ` +
          `L=$(losetup --direct-io=on -f --show /mnt/backing/disk) && mount $L /mnt/slow && cp -a ${DATA}/. /mnt/slow/ && umount /mnt/slow && mount $L ${DATA}`,
      ),
      'data onto a loop device',
    );
    ok(await lab.on(3, ['systemctl', 'start', 'etcd.service']));
    await healthyAgain();
    const loop = ok(await lab.sh(3, `findmnt -no SOURCE -T ${DATA} | tail -1`)).stdout.trim();
    assert.match(loop, /^\/dev\/loop\d+$/);
    const target = ok(await lab.sh(3, `cat /sys/class/block/${loop.slice(5)}/dev`)).stdout.trim();
    const pids = await lab.etcdPids(3);
    assert.ok(pids.length > 0);
    root(`mkdir -p ${SLOW} && echo "${target} 30" > ${SLOW}/blkio.throttle.write_iops_device && for p in ${pids.join(' ')}; do echo $p > ${SLOW}/cgroup.procs; done`);
    try {
      // writes for 20 s: every member fsyncs its WAL for them; eahost3's fsyncs (since its restart) wait on the throttle
      const until = Date.now() + 20_000;
      let n = 0;
      // paced (about 50 a second, 256 bytes each): enough for eahost3's fsyncs, far from the 16 MiB quota
      while (Date.now() < until) {
        await client.put(`/slow/${n++ % 16}`, 'x'.repeat(256));
        await sleep(20);
      }
      const r = await check();
      assert.equal(r.code, 3, r.stdout + r.stderr);
      const c = byName(report(r), 'wal-fsync');
      assert.equal(c.verdict, 'warn', c.value);
      assert.match(c.value, /^WAL fsync p99 above 10 ms: eahost3 \d+ ms over \d+ fsyncs/);
      const p99 = c.measured?.eahost3;
      assert.ok(typeof p99 === 'number' && p99 > 10, `measured ${String(p99)}`);
      assert.ok(typeof c.measured?.eahost1 === 'number' && c.measured.eahost1 <= 10, `eahost1 not slow: ${String(c.measured?.eahost1)}`);
    } finally {
      unthrottle();
    }
  });

  it('a diverged member: "hash" fails naming it, exit 3', async () => {
    const marker = 'diverge-original-value-0123456789';
    const changed = 'diverge-CHANGED!-value-0123456789';
    await client.put('/check/diverge', marker);
    const revs = async () => Promise.all([1, 2, 3].map((i) => client.revision(`https://${lab.ip(i)}:2379`)));
    await waitFor(async () => new Set((await revs()).map(String)).size === 1, { timeoutMs: 10_000, intervalMs: 200, what: 'every member at one revision' });
    ok(await lab.on(3, ['systemctl', 'stop', 'etcd.service']));
    const replaced = ok(await lab.sh(3, `perl -0777 -pi -e 's/${marker}/${changed}/g; END { print STDERR "replaced\\n" }' ${DATA}/etcd/member/snap/db && grep -c -a '${changed}' ${DATA}/etcd/member/snap/db`));
    assert.ok(Number(replaced.stdout.trim()) >= 1, 'the value was in the file');
    ok(await lab.on(3, ['systemctl', 'start', 'etcd.service']));
    await healthyAgain();
    assert.equal(await client.get('/check/diverge', { serializable: true }).catch(() => undefined) !== undefined, true);
    const r = await check();
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const c = byName(report(r), 'hash');
    assert.equal(c.verdict, 'fail', c.value);
    assert.match(c.value, /^eahost3 differs from (eahost1, eahost2|eahost2, eahost1) at revision \d+/);
    assert.match(c.fix ?? '', /data of eahost3 diverged/);
    assert.notEqual(c.measured?.eahost3, c.measured?.eahost1);
    assert.equal(c.measured?.eahost1, c.measured?.eahost2);
  });
});
