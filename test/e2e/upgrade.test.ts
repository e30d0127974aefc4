/**
 * Rolling upgrades end to end, as an operator runs them: `etcdadm upgrade plan` on a member host, then
 * `etcdadm upgrade apply --version X` host by host in the plan's order, under a client writing every 50 ms through
 * all members. 3.5.30 → 3.6.16 → 3.7.3 on three hosts; 3.6.14 → 3.6.16 (a patch) and 3.4.23 → 3.5.16 (the previous
 * minor step) on two-member clusters alongside. Refusals change nothing: skipping a minor, below the 3.5 patch the
 * 3.6 guide requires, a member down, a version the release URL does not have.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EtcdClient } from '../../src/etcd/client.js';
import { ETCDADM, ETCDADM_HOOKS, MIRROR_URL, NetnsLab, ok, oneErrorLine } from '../helpers/lab.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const MAIN = [1, 2, 3];
/** Two-member clusters: [first, second, from, to, the targets plan proposes]. */
const SMALL: [number, number, string, string, PlanJson['targets']][] = [
  [4, 5, '3.6.14', '3.6.16', { patch: '3.6.16', minor: '3.7.3' }],
  [6, 7, '3.4.23', '3.5.16', { minor: '3.5.35' }],
];
/** A 3.5.16 host (the refusal below 3.5.26). */
const OLD = 8;
/** A 3.6.16 cluster of three that is downgraded to 3.5.30. */
const DOWN = [11, 12, 13];
/** A 3.5.30 cluster of three whose upgrade to 3.6.16 is killed: after the stop (host 9), after the binary switch (10). */
const CRASH = [9, 10, 14] as const;
let lab: NetnsLab;

interface PlanJson {
  members: { name: string; version: string; role: string; health: string }[];
  clusterVersion: string;
  targets: { patch?: string; minor?: string };
  plan: { kind: string; to: string; steps: { member: string; role: string; done: boolean }[]; blockers: { problem: string; fix: string }[] } | null;
}

const hostOf = (name: string) => Number(/^eahost(\d+)$/.exec(name)![1]);
const planOn = async (i: number, args: string[] = []): Promise<{ code: number; json: PlanJson }> => {
  const r = await lab.etcdadm(i, ['upgrade', 'plan', '-o', 'json', ...R, ...args]);
  assert.ok(r.code === 0 || r.code === 3, r.stderr);
  return { code: r.code, json: JSON.parse(r.stdout) as PlanJson };
};
const etcdVersionOn = async (i: number) => /etcd Version: (\S+)/.exec(ok(await lab.on(i, ['/opt/bin/etcd', '--version'])).stdout)![1];

before(async () => {
  lab = await NetnsLab.up(14);
  await Promise.all([
    (async () => {
      ok(await lab.etcdadm(1, ['init', ...R, '--version', '3.5.30']), 'init host1');
      await lab.join(2, 1, R);
      await lab.join(3, 1, R);
    })(),
    ...SMALL.map(async ([a, b, from]) => {
      ok(await lab.etcdadm(a, ['init', ...R, '--version', from]), `init host${a}`);
      await lab.join(b, a, R);
    }),
    (async () => ok(await lab.etcdadm(OLD, ['init', ...R, '--version', '3.5.16']), `init host${OLD}`))(),
    (async () => {
      ok(await lab.etcdadm(DOWN[0]!, ['init', ...R, '--version', '3.6.16']), `init host${DOWN[0]}`);
      for (const h of DOWN.slice(1)) await lab.join(h, DOWN[0]!, R);
    })(),
    (async () => {
      ok(await lab.etcdadm(CRASH[0], ['init', ...R, '--version', '3.5.30']), `init host${CRASH[0]}`);
      for (const h of CRASH.slice(1)) await lab.join(h, CRASH[0], R);
    })(),
  ]);
});
after(async () => {
  await lab?.down();
});

describe('refused before anything changes', () => {
  /** The etcd PIDs of the main cluster: a refusal stops no member. */
  const pids = async () => Promise.all(MAIN.map((h) => lab.etcdPids(h)));

  it('3.5.30 → 3.7.3 skips a minor; 3.6.99 is not offered: plan says why (exit 3), apply refuses with the same words', async () => {
    const before = await pids();
    const skip = await planOn(1, ['--version', '3.7.3']);
    assert.equal(skip.code, 3);
    assert.match(skip.json.plan!.blockers[0]!.problem, /etcd 3\.5\.30 cannot upgrade to 3\.7\.3 in one step: etcd moves one minor version at a time/);
    oneErrorLine(await lab.etcdadm(2, ['upgrade', 'apply', '--version', '3.7.3', ...R]), /the upgrade to etcd 3\.7\.3 is blocked: etcd 3\.5\.30 cannot upgrade to 3\.7\.3 in one step/);
    oneErrorLine(await lab.etcdadm(2, ['upgrade', 'apply', '--version', '3.6.99', ...R]), /blocked: http:\/\/10\.88\.0\.200 has no etcd 3\.6\.99/);
    assert.deepEqual(await pids(), before, 'no member restarted');
    assert.equal(await etcdVersionOn(2), '3.5.30');
  });

  it('3.5.16 → 3.6.16: below 3.5.26, which etcd\'s 3.5 → 3.6 guide requires', async () => {
    const before = await lab.etcdPids(OLD);
    const r = await lab.etcdadm(OLD, ['upgrade', 'apply', '--version', '3.6.16', ...R]);
    oneErrorLine(r, /requires 3\.5\.26 or later on every member; eahost8 runs 3\.5\.16/);
    assert.match(r.stderr, /upgrade every member to 3\.5\.35 first/i);
    assert.deepEqual(await lab.etcdPids(OLD), before);
  });

  it('a member down: refused, and no member is stopped', async () => {
    ok(await lab.on(3, ['systemctl', 'stop', 'etcd.service']));
    try {
      const before = await Promise.all([1, 2].map((h) => lab.etcdPids(h)));
      const p = await planOn(1, ['--version', '3.6.16']);
      assert.equal(p.code, 3);
      assert.ok(p.json.plan!.blockers.some((b) => /^member eahost3 is unreachable/.test(b.problem)), JSON.stringify(p.json.plan!.blockers));
      oneErrorLine(await lab.etcdadm(1, ['upgrade', 'apply', '--version', '3.6.16', ...R]), /blocked: member eahost3 is unreachable/);
      assert.deepEqual(await Promise.all([1, 2].map((h) => lab.etcdPids(h))), before);
    } finally {
      ok(await lab.on(3, ['systemctl', 'start', 'etcd.service']));
    }
  });
});

describe('3.5.30 → 3.6.16 → 3.7.3 on three hosts, host by host, under a client writing every 50 ms', () => {
  let client: EtcdClient;
  let writer: BackgroundWriter;
  before(async () => {
    client = await labClient(MAIN.map((h) => `https://${lab.ip(h)}:2379`), await lab.clientPem(1));
    writer = new BackgroundWriter(client, 'upgrade');
    await writer.moreWrites(5);
  });
  after(() => client?.close());

  for (const [to, clusterVersion] of [['3.6.16', '3.6.0'], ['3.7.3', '3.7.0']] as const) {
    it(`to ${to}: plan lists the followers first and the leader last; each apply snapshots, restarts and catches up`, async () => {
      const { code, json } = await planOn(1, ['--version', to]);
      assert.equal(code, 0, JSON.stringify(json.plan?.blockers));
      assert.equal(json.plan!.kind, 'minor-upgrade');
      const steps = json.plan!.steps;
      assert.deepEqual(steps.map((s) => s.role), ['follower', 'follower', 'leader']);
      const dry = ok(await lab.etcdadm(hostOf(steps[0]!.member), ['upgrade', 'apply', '--version', to, '--dry-run', ...R]));
      assert.match(dry.stderr, /\[restart\] would run systemctl stop etcd\.service/);
      assert.match(dry.stderr, /\[configure\] would write \/etc\/etcd\/etcd\.env \(0644/);
      assert.match(dry.stderr, /Dry run: nothing was changed/);
      assert.equal(await etcdVersionOn(hostOf(steps[0]!.member)), to === '3.6.16' ? '3.5.30' : '3.6.16', 'the dry run changed nothing');
      for (const [n, s] of steps.entries()) {
        const h = hostOf(s.member);
        const snapFiles = async () => ok(await lab.sh(h, 'ls /var/lib/etcd/member/snap')).stdout.split('\n').filter((f) => f.endsWith('.snap'));
        const snapIndex = (f: string) => BigInt(`0x${f.slice(17, 33)}`);
        const newestBefore = (await snapFiles()).reduce((m, f) => (snapIndex(f) > m ? snapIndex(f) : m), 0n);
        // no --release-url: the mirror, and the consent to its plain http, come from the host record init wrote
        const r = ok(await lab.etcdadm(h, ['upgrade', 'apply', '--version', to], 180_000), `upgrade apply on host${h}`);
        assert.match(r.stderr, /WARN .*The release URL http:\/\/10\.88\.0\.200 is plain http \(accepted with --insecure-release-url\)/);
        assert.match(r.stderr, /\[snapshot\] Saved \/var\/backups\/etcdadm\/\S+ of member eahost\d+ \(\d+ bytes, revision \d+/);
        assert.match(r.stderr, /\[health\] Member eahost\d+ serves on etcd .* and has caught up with the leader/);
        if (s.role === 'leader') assert.match(r.stderr, /\[leadership\] .* is the leader; moving leadership to/);
        if (to === '3.7.3') {
          assert.match(r.stderr, /\[raft-snapshot\] etcd took a raft snapshot at index \d+/);
          const index = BigInt(/took a raft snapshot at index (\d+)/.exec(r.stderr)![1]!);
          assert.ok(index > newestBefore, `host${h}: the logged raft snapshot (index ${index}) is newer than the newest .snap before the step (${newestBefore})`);
          // etcd keeps the newest 5 .snap files, and it snapshots every entry until the restart onto 3.7: the one at
          // `index` may be purged since, but a .snap file at that index or later must be there
          const snaps = await snapFiles();
          assert.ok(snaps.some((f) => snapIndex(f) >= index), `host${h}: a .snap file at index ${index} or later (${snaps.join(', ')})`);
          assert.doesNotMatch(ok(await lab.on(h, ['cat', '/etc/etcd/etcd.env'])).stdout, /ETCD_SNAPSHOT_COUNT=1\n/, 'the one-off --snapshot-count=1 is gone from etcd.env');
        }
        if (n < steps.length - 1) assert.match(r.stderr, /\[record\] The cluster version is \d\.\d\.0; \d member\(s\) still to move/);
        else assert.match(r.stderr, new RegExp(`\\[record\\] Every member runs etcd ${to.replace(/\./g, '\\.')}: the cluster version is now ${clusterVersion.replace(/\./g, '\\.')}`));
        assert.equal(await etcdVersionOn(h), to);
        const snaps = ok(await lab.sh(h, `stat -c '%a %n' /var/backups/etcdadm /var/backups/etcdadm/*-to-v${to}-*.db`)).stdout.trim().split('\n');
        assert.equal(snaps[0], '700 /var/backups/etcdadm');
        assert.equal(snaps.length, 2, `one snapshot for this step: ${snaps.join(', ')}`);
        assert.match(snaps[1]!, /^600 /);
        assert.match(ok(await lab.on(h, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, new RegExp(`version: ${to.replace(/\./g, '\\.')}`));
        await writer.moreWrites(3);
      }
      const after = await planOn(2);
      assert.equal(after.json.clusterVersion, clusterVersion);
      assert.deepEqual(after.json.members.map((m) => [m.version, m.health]), MAIN.map(() => [to, 'healthy']));
      for (const h of MAIN) {
        const log = ok(await lab.on(h, ['cat', '/var/log/journal/etcd.service.log'])).stdout;
        const start = log.lastIndexOf('"msg":"starting an etcd server"');
        assert.ok(start >= 0, `host${h}: etcd's log shows its last start`);
        const since = log.slice(start);
        assert.match(since, new RegExp(`"etcd-version":"${to.replace(/\./g, '\\.')}"`), `host${h}: the last start is etcd ${to}'s`);
        assert.deepEqual(since.split('\n').filter((l) => /unrecognized|deprecated/i.test(l)), [], `host${h} on ${to}`);
      }
    });
  }

  it('no write failed (retries at most 2 s) and every acknowledged key is there', async () => {
    const report = await writer.stop();
    assert.deepEqual(report.failed, []);
    assert.ok(report.maxRetryMs <= 2000, `a write was retried for ${report.maxRetryMs} ms`);
    assert.ok(report.acknowledged.length > 50, `${report.acknowledged.length} writes`);
    for (const key of report.acknowledged) assert.notEqual(await client.get(key), undefined, key);
  });
});

describe('the other steps: a patch, and 3.4 → 3.5', () => {
  it('a fault right after the binary switch (before the restart) puts the member back: env, binaries, record, the same etcd process', async () => {
    const [a, , from, to] = SMALL[0]!;
    const state = async () => ok(await lab.sh(a, 'sha256sum /etc/etcd/etcd.env /etc/etcd/etcdctl.env /etc/etcd/etcdadm.yaml; readlink /opt/bin/etcd /opt/bin/etcdctl /opt/bin/etcdutl; ls /opt/bin'), 'state').stdout;
    const before = await state();
    const pids = await lab.etcdPids(a);
    const r = await lab.on(a, ['env', 'ETCDADM_TEST_FAIL=after:install', ETCDADM_HOOKS, 'upgrade', 'apply', '--version', to, ...R], 120_000);
    oneErrorLine(r, /a fault injected by the test at after:install/);
    assert.match(r.stderr, /\[rollback\] Rolling back what this run changed/);
    assert.equal(await state(), before);
    assert.deepEqual(await lab.etcdPids(a), pids, 'etcd was not restarted');
    assert.equal(await etcdVersionOn(a), from);
  });

  for (const [a, b, from, to, targets] of SMALL) {
    it(`${from} → ${to} on two members`, async () => {
      const { code, json } = await planOn(a);
      assert.equal(code, 0, JSON.stringify(json.plan?.blockers));
      assert.deepEqual(json.targets, targets, 'the newest patch and the newest next minor the mirror offers');
      assert.equal(json.plan!.to, targets.minor, 'planned for the next minor by default');
      for (const s of (await planOn(a, ['--version', to])).json.plan!.steps) ok(await lab.etcdadm(hostOf(s.member), ['upgrade', 'apply', '--version', to, ...R], 120_000), `apply on ${s.member}`);
      for (const h of [a, b]) assert.equal(await etcdVersionOn(h), to);
      const health = ok(await lab.etcdctl(a, ['endpoint', 'health', '--cluster']));
      assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 2);
      assert.equal((await planOn(b)).json.clusterVersion, `${to.split('.').slice(0, 2).join('.')}.0`);
    });
  }
});

describe('upgrade apply killed (SIGKILL) at a step, then run again', () => {
  const apply = ['upgrade', 'apply', '--version', '3.6.16', ...R];
  /** The data dir as etcd left it: in place, nothing moved aside. */
  const dataDirs = async (h: number) => ok(await lab.sh(h, 'ls -d /var/lib/etcd* && test -d /var/lib/etcd/member/wal && test -d /var/lib/etcd/member/snap')).stdout.trim();

  it('after the stop: the member stays down with its data in place; the re-run brings it up on the target', async () => {
    const [h] = CRASH;
    const k = await lab.runAndKill(h, apply, 'upgrade-stopped');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    assert.ok(k.logs.some((l) => l.phase === 'restart' && /Restarting/.test(String(l.msg))), 'killed inside restart');
    assert.deepEqual(await lab.etcdPids(h), [], 'etcd stopped');
    assert.equal(await dataDirs(h), '/var/lib/etcd');
    assert.match(ok(await lab.on(h, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, /upgrade:\n\s+.*\n?.*to: 3\.6\.16/);
    const r = ok(await lab.etcdadm(h, apply, 120_000), 're-run after the kill');
    assert.match(r.stderr, /\[snapshot\] Skipped: this upgrade's snapshot is on disk already/);
    assert.equal(await etcdVersionOn(h), '3.6.16');
    assert.equal(await dataDirs(h), '/var/lib/etcd');
    const status = JSON.parse(ok(await lab.etcdadm(h, ['status', '-o', 'json'])).stdout) as { health: string; members: { name: string; version: string }[] };
    assert.equal(status.health, 'healthy');
    assert.equal(status.members.find((m) => m.name === lab.hostname(h))?.version, '3.6.16');
    assert.doesNotMatch(ok(await lab.on(h, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, /^upgrade:/m, 'the upgrade is recorded as done');
  });

  it('after the binary switch: the member still runs the source version; the re-run finishes on the target', async () => {
    const [, h] = CRASH;
    const before = await lab.etcdPids(h);
    const k = await lab.runAndKill(h, apply, 'after:install');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    assert.deepEqual(await lab.etcdPids(h), before, 'the old etcd process still serves');
    assert.equal(await etcdVersionOn(h), '3.6.16', 'the binaries were switched');
    const running = JSON.parse(ok(await lab.etcdadm(h, ['status', '-o', 'json'])).stdout) as { members: { name: string; version: string }[] };
    assert.equal(running.members.find((m) => m.name === lab.hostname(h))?.version, '3.5.30');
    ok(await lab.etcdadm(h, apply, 120_000), 're-run after the kill');
    const after = JSON.parse(ok(await lab.etcdadm(h, ['status', '-o', 'json'])).stdout) as { health: string; version: string; members: { version: string }[] };
    assert.equal(after.health, 'healthy');
    assert.deepEqual(after.members.map((m) => m.version).sort(), ['3.5.30', '3.6.16', '3.6.16']);
    assert.equal(await dataDirs(h), '/var/lib/etcd');
    ok(await lab.etcdadm(CRASH[2], ['upgrade', 'apply', '--version', '3.6.16', ...R], 120_000), 'the last member');
    assert.equal((await planOn(h)).json.clusterVersion, '3.6.0');
  });
});

describe("3.6.16 → 3.5.30 through etcd's downgrade API, host by host, under a client writing every 50 ms", () => {
  let client: EtcdClient;
  let writer: BackgroundWriter;
  before(async () => {
    client = await labClient(DOWN.map((h) => `https://${lab.ip(h)}:2379`), await lab.clientPem(DOWN[0]!));
    writer = new BackgroundWriter(client, 'downgrade');
    await writer.moreWrites(5);
  });
  after(() => client?.close());

  it('the first apply enables the downgrade; plan shows it in progress; every member ends on 3.5.30, cluster version 3.5.0', async () => {
    const { code, json } = await planOn(DOWN[0]!, ['--version', '3.5.30']);
    assert.equal(code, 0, JSON.stringify(json.plan?.blockers));
    assert.equal(json.plan!.kind, 'minor-downgrade');
    for (const [n, s] of json.plan!.steps.entries()) {
      const h = hostOf(s.member);
      const r = ok(await lab.etcdadm(h, ['upgrade', 'apply', '--version', '3.5.30', ...R], 180_000), `downgrade on host${h}`);
      if (n === 0) assert.match(r.stderr, /\[downgrade\] Enabled the downgrade of the cluster to 3\.5/);
      else assert.match(r.stderr, /\[downgrade\] The downgrade to 3\.5 is enabled already/);
      assert.equal(await etcdVersionOn(h), '3.5.30');
      if (n === 0) {
        const mid = await planOn(DOWN[1]!);
        assert.equal((mid.json as PlanJson & { downgrade: { targetVersion: string } | null }).downgrade?.targetVersion.replace(/\.0$/, ''), '3.5');
        assert.equal(mid.json.clusterVersion, '3.5.0');
      }
      await writer.moreWrites(3);
    }
    const end = await planOn(DOWN[2]!);
    assert.equal(end.json.clusterVersion, '3.5.0');
    assert.deepEqual(end.json.members.map((m) => [m.version, m.health]), DOWN.map(() => ['3.5.30', 'healthy']));
    assert.equal((end.json as PlanJson & { downgrade: unknown }).downgrade, null, 'the downgrade completed');
  });

  it('no write failed (retries at most 2 s) and every acknowledged key is there', async () => {
    const report = await writer.stop();
    assert.deepEqual(report.failed, []);
    assert.ok(report.maxRetryMs <= 2000, `a write was retried for ${report.maxRetryMs} ms`);
    assert.ok(report.acknowledged.length > 20, `${report.acknowledged.length} writes`);
    for (const key of report.acknowledged) assert.notEqual(await client.get(key), undefined, key);
  });
});

describe('upgrade cancel', () => {
  it('cancels a downgrade that has not completed; plan no longer shows it', async () => {
    const [a, b] = [SMALL[0]![0], SMALL[0]![1]]; // on 3.6.16 after the patch upgrade above
    const k = await lab.runAndKill(a, ['upgrade', 'apply', '--version', '3.5.30', ...R], 'after:downgrade');
    assert.equal(k.signal, 'SIGKILL', k.stderr);
    const during = await planOn(b, ['--version', '3.6.16']);
    assert.equal((during.json as PlanJson & { downgrade: { targetVersion: string } | null }).downgrade?.targetVersion.replace(/\.0$/, ''), '3.5');
    assert.equal(during.code, 3, 'an upgrade is blocked while the downgrade is in progress');
    const dry = ok(await lab.etcdadm(b, ['upgrade', 'cancel', '--dry-run']), 'upgrade cancel --dry-run');
    assert.match(dry.stderr, /\[cancel\] would cancel the downgrade to 3\.5/);
    const still = await planOn(b, ['--version', '3.6.16']);
    assert.equal((still.json as PlanJson & { downgrade: { targetVersion: string } | null }).downgrade?.targetVersion.replace(/\.0$/, ''), '3.5', 'the dry run cancelled nothing');
    const r = ok(await lab.etcdadm(b, ['upgrade', 'cancel', 'phase', 'cancel']), 'upgrade cancel phase cancel');
    assert.match(r.stderr, /Cancelled the downgrade to 3\.5/);
    const after = await planOn(b, ['--version', '3.6.16']);
    assert.equal((after.json as PlanJson & { downgrade: unknown }).downgrade, null);
    assert.match(ok(await lab.etcdadm(b, ['upgrade', 'cancel'])).stderr, /No downgrade is in progress/);
    for (const h of [a, b]) assert.equal(await etcdVersionOn(h), '3.6.16');
  });
});
