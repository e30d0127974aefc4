/**
 * The rolling defrag on a timer, on hosts that boot real systemd (3 members): init with defrag.every in its
 * configuration arms etcdadm-defrag.timer on ehost1, `defrag --schedule 1h` arms it on ehost2. One run per cluster:
 * ehost2's run is held right after it took the lock in etcd, ehost1's run started meanwhile logs that ehost2 is running
 * the rolling defrag and exits 0 having defragmented nothing; released, ehost2's run defragments the two fragmented
 * members (the leader last) and skips the one under the threshold. `--unschedule` removes the units and the record
 * entry; `reset` removes the timer too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ETCDADM_HOOKS, MIRROR_URL, NspawnLab, ok } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const SERVICE = 'etcdadm-defrag.service';
const TIMER = 'etcdadm-defrag.timer';
const RELEASE = '/run/etcdadm-test-release';
let lab: NspawnLab;

interface StatusJson {
  leaderName: string;
  members: { name: string; dbSize: number; fragmentation: number }[];
}

before(async () => {
  lab = await NspawnLab.up(3);
  const doc = 'apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\ndefrag:\n  every: 1h\n  threshold: "20%"\n';
  ok(await lab.sh(1, `printf '%s' '${doc}' > /root/defrag.yaml`));
  const init = ok(await lab.etcdadm(1, ['init', '--config', '/root/defrag.yaml', ...R]), 'init with defrag.every');
  assert.match(init.stderr, /\[defrag-timer\] Every 1h the members with more than 20% of their file free are defragmented/);
  for (const i of [2, 3]) await lab.join(i, 1, R);
});
after(async () => {
  await lab?.down();
});

const systemctl = async (i: number, ...args: string[]) => (await lab.on(i, ['systemctl', ...args])).stdout.trim();
const journal = async (i: number) => ok(await lab.sh(i, `journalctl -u ${SERVICE} --no-pager -o cat`)).stdout;
const record = async (i: number) => ok(await lab.on(i, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;
const status = async (): Promise<StatusJson> => JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as StatusJson;

describe('etcdadm defrag --schedule on real systemd', () => {
  it('armed by init (defrag.every) on ehost1 and by defrag --schedule on ehost2: enabled, active, the service runs the rolling defrag', async () => {
    // ehost2's service runs the executable with the test hooks, so that its run can be held with the lock taken
    const r = ok(await lab.on(2, [ETCDADM_HOOKS, 'defrag', '--schedule', '1h', '--threshold', '20%']), 'defrag --schedule on ehost2');
    assert.match(r.stderr, /\[timer\] Wrote \/etc\/systemd\/system\/etcdadm-defrag\.service \(defrag --all --threshold 20% --scheduled\)/);
    for (const i of [1, 2]) {
      assert.equal(await systemctl(i, 'is-enabled', TIMER), 'enabled');
      assert.equal(await systemctl(i, 'is-active', TIMER), 'active');
      assert.match(await systemctl(i, 'show', TIMER, '-p', 'TimersCalendar'), /OnCalendar=\*-\*-\* \*:00:00 UTC/);
      assert.match(await systemctl(i, 'list-timers', '--all', '--no-legend', TIMER), /etcdadm-defrag\.timer\s+etcdadm-defrag\.service/);
      assert.match(await systemctl(i, 'cat', SERVICE), /ExecStart=\S+ defrag --all --threshold "20%%" --scheduled/);
      const rec = await record(i);
      assert.match(rec, /\ndefrag:\n\s+every: 1h\n\s+threshold: 20%\n\s+onCalendar: "\*-\*-\* \*:00:00 UTC"/);
      assert.match(rec, /settings:[\s\S]*\n {2}defrag:\n {4}every: 1h\n {4}threshold: 20%/);
    }
    assert.equal(await systemctl(3, 'list-unit-files', '--no-legend', 'etcdadm-defrag.*'), '', 'not armed on ehost3');
  });

  it('two armed hosts run at once: ehost1 skips while ehost2 holds the lock; ehost2 defragments the fragmented members only', async () => {
    // fragmentation on every member: values written, deleted, the history compacted; kept values beside them, so
    // that a defragmented file is mostly in use (a nearly empty one keeps a large free share of its few pages)
    ok(
      await lab.sh(
        1,
        'set -e; for n in $(seq 24); do head -c 131072 /dev/zero | tr "\\0" k | /opt/bin/etcdctl.sh put /keep/$n >/dev/null; done; ' +
          'for n in $(seq 40); do head -c 131072 /dev/zero | tr "\\0" y | /opt/bin/etcdctl.sh put /frag/$n >/dev/null; done; ' +
          '/opt/bin/etcdctl.sh del --prefix /frag/ >/dev/null; ' +
          'rev=$(/opt/bin/etcdctl.sh put /frag/x 1 -w json | sed -n \'s/.*"revision":\\([0-9]*\\).*/\\1/p\'); /opt/bin/etcdctl.sh compact --physical $rev; ' +
          '/opt/bin/etcdctl.sh put /frag/done 1 >/dev/null',
      ),
      'fragment',
    );
    await waitFor(async () => ((await status()).members.every((m) => m.fragmentation > 0.3) ? true : undefined), { timeoutMs: 30_000, intervalMs: 300, what: 'the compaction applied on every member' });
    // ehost2's own member defragmented by hand: then it is under the threshold
    const own = ok(await lab.etcdadm(2, ['defrag']), 'defrag on ehost2');
    assert.match(own.stderr, /\[defrag\] Defragmenting ehost2 /);
    // its free share as reported after its next write commit
    ok(await lab.etcdctl(1, ['put', '/frag/after', '1']));
    const before = await waitFor(async () => {
      const st = await status();
      return st.members.find((m) => m.name === 'ehost2')!.fragmentation < 0.2 ? st : undefined;
    }, { timeoutMs: 20_000, intervalMs: 300, what: 'ehost2 under the threshold after its defragmentation' });
    for (const name of ['ehost1', 'ehost3']) assert.ok(before.members.find((m) => m.name === name)!.fragmentation > 0.3, name);

    ok(await lab.on(2, ['systemctl', 'set-environment', 'ETCDADM_TEST_HOLD=defrag-locked', `ETCDADM_TEST_RELEASE=${RELEASE}`]));
    try {
      ok(await lab.on(2, ['systemctl', 'start', '--no-block', SERVICE]));
      await waitFor(async () => (/etcdadm-test-hold defrag-locked/.test(await journal(2)) ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, what: "ehost2's run holding the lock" });
      assert.match(ok(await lab.etcdctl(3, ['get', '--print-value-only', '/etcdadm/locks/defrag'])).stdout, /"host":"ehost2"/);

      ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), "ehost1's run while ehost2's holds the lock");
      assert.match(await systemctl(1, 'show', SERVICE, '-p', 'Result'), /Result=success/);
      const one = await journal(1);
      assert.match(one, /\[defrag\] another host \(ehost2 \(pid \d+, defrag --all --scheduled since [0-9T:.-]+Z\)\) is running the rolling defrag; skipping/);
      assert.match(one, /defrag --all --scheduled since/);
      assert.doesNotMatch(one, /Defragmenting|Took the cluster lock/);
    } finally {
      await lab.on(2, ['systemctl', 'unset-environment', 'ETCDADM_TEST_HOLD', 'ETCDADM_TEST_RELEASE']);
      ok(await lab.on(2, ['touch', RELEASE]));
    }
    await waitFor(async () => ((await systemctl(2, 'is-active', SERVICE)) !== 'activating' ? true : undefined), { timeoutMs: 120_000, intervalMs: 300, what: "ehost2's run to end" });
    assert.match(await systemctl(2, 'show', SERVICE, '-p', 'Result'), /Result=success/);
    const two = await journal(2);
    assert.match(two, /\[defrag\] Took the cluster lock \/etcdadm\/locks\/defrag/);
    assert.match(two, /\[defrag\] Skipping ehost2: [0-9.]+% free, not above the threshold 20\.0%/);
    const done = [...two.matchAll(/\[defrag\] Defragmenting (ehost\d)/g)].map((m) => m[1]);
    assert.deepEqual([...done].sort(), ['ehost1', 'ehost3'], 'the fragmented members only');
    assert.equal(done.at(-1), before.leaderName, 'the leader last (ehost2, defragmented by hand, handed leadership away if it had it)');
    assert.match(two, /\[defrag\] Defragmented 2 member\(s\): \d+ bytes freed/);
    const afterRun = await status();
    for (const name of ['ehost1', 'ehost3']) {
      const b = before.members.find((m) => m.name === name)!;
      const a = afterRun.members.find((m) => m.name === name)!;
      assert.ok(a.dbSize < b.dbSize, `${name}: ${b.dbSize} → ${a.dbSize}`);
    }
    assert.equal(ok(await lab.etcdctl(3, ['get', '--print-value-only', '/etcdadm/locks/defrag'])).stdout.trim(), '', 'the lock released');
  });

  it('--unschedule removes the units and the record entry; reset removes the timer', async () => {
    const r = ok(await lab.etcdadm(2, ['defrag', '--unschedule']), 'defrag --unschedule');
    assert.match(r.stderr, /\[timer\] Removed \/etc\/systemd\/system\/etcdadm-defrag\.timer/);
    assert.equal(await systemctl(2, 'list-unit-files', '--no-legend', 'etcdadm-defrag.*'), '');
    const rec = await record(2);
    assert.doesNotMatch(rec, /\ndefrag:\n\s+every: 1h\n\s+threshold: 20%\n\s+onCalendar/);
    assert.match(rec, /\n {2}defrag:\n {4}every: ""\n/);
    const again = ok(await lab.etcdadm(2, ['defrag', '--unschedule']), 'again: nothing to remove');
    assert.match(again.stderr, /No defrag timer is installed here/);

    const reset = ok(await lab.etcdadm(1, ['reset']), 'reset ehost1');
    assert.match(reset.stderr, /Removed \/etc\/systemd\/system\/etcdadm-defrag\.timer/);
    assert.equal(await systemctl(1, 'list-unit-files', '--no-legend', 'etcdadm-defrag.*'), '');
  });
});
