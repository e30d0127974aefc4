/**
 * Crash safety: etcdadm init, join and reset are SIGKILLed at every phase boundary (and once inside the membership
 * phase, after the member was added but before it started), then the same command is run again. It must complete,
 * the cluster must end with the intended members, all voting and healthy, and no key written before the crash may
 * be missing. The kill lands exactly where the test says: etcdadm is told to hold at that point (ETCDADM_TEST_HOLD,
 * src/testhooks.ts) and is killed while it holds, so the test asserts it died of SIGKILL with nothing of a later
 * phase logged. Atomic writes: a write killed half-way leaves the old file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { MIRROR_URL, NetnsLab, ok, type Killed } from '../helpers/lab.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const INIT_PHASES = ['preflight', 'install', 'certificates', 'snapshot', 'configure', 'start', 'etcdctl', 'health'];
const JOIN_PHASES = ['preflight', 'stop', 'certificates', 'install', 'membership', 'configure', 'start', 'etcdctl'];

let lab: NetnsLab;
before(async () => {
  lab = await NetnsLab.up(6);
});
after(async () => {
  await lab?.down();
});

const url = (i: number) => `https://${lab.ip(i)}:2379`;

/** Run etcdadm on host i, told to hold at `point`, and SIGKILL it once it holds there. */
const runAndKill = (i: number, args: string[], point: string): Promise<Killed> => lab.runAndKill(i, args, point);

/** It died of SIGKILL while holding at `point`: the hold was reached, and nothing of a later phase was logged. */
function assertKilledAt(k: Killed, point: string, phase: string): void {
  assert.equal(k.signal, 'SIGKILL', `killed, not ended by itself:\n${k.stderr}`);
  assert.ok(k.stderr.includes(`etcdadm-test-hold ${point}`), `held at ${point}:\n${k.stderr}`);
  const last = k.logs.at(-1);
  assert.equal(last?.phase, phase, `the last line is of phase ${phase}:\n${JSON.stringify(last)}`);
}

async function voters(i: number): Promise<string[]> {
  const r = ok(await lab.etcdctl(i, ['member', 'list']), 'member list');
  return r.stdout.trim().split('\n').map((l) => {
    const [, status, name, , , learner] = l.split(', ');
    return `${name} ${status} ${learner === 'true' ? 'learner' : 'voter'}`;
  }).sort();
}

async function assertKeys(i: number, prefix: string, n: number): Promise<void> {
  const keys = ok(await lab.etcdctl(i, ['get', prefix, '--prefix', '--keys-only'])).stdout.split('\n').filter(Boolean);
  assert.equal(keys.length, n, `${n} keys under ${prefix}`);
}

describe('crash safety', () => {
  it('init killed after each phase completes when run again', async () => {
    // one host per kill point, two at a time
    const hosts = [4, 5, 6];
    const points = [...INIT_PHASES];
    const work = async (h: number) => {
      for (let p = points.shift(); p; p = points.shift()) {
        assertKilledAt(await runAndKill(h, ['init', ...R], `after:${p}`), `after:${p}`, p);
        const again = await lab.etcdadm(h, ['init', ...R]);
        ok(again, `init after a crash after ${p}`);
        ok(await lab.etcdctl(h, ['endpoint', 'health']), `healthy after ${p}`);
        assert.deepEqual(await voters(h), [`${lab.hostname(h)} started voter`]);
        ok(await lab.etcdadm(h, ['reset', '--force']), 'reset for the next round');
        ok(await lab.sh(h, 'rm -rf /var/lib/etcd.bak-*'));
      }
    };
    await Promise.all(hosts.map(work));
  });

  it('join killed after each phase, and right after the member was added, completes when run again', async () => {
    ok(await lab.etcdadm(1, ['init', ...R]), 'init');
    await lab.copyCA(1, 2);
    ok(await lab.etcdadm(2, ['join', url(1), ...R]), 'join host2');
    const points: [string, string, string][] = [
      ...JOIN_PHASES.map((p): [string, string, string] => [`after ${p}`, `after:${p}`, p]),
      ['inside membership, after the add', 'member-added', 'membership'],
    ];
    let written = 0;
    for (const [where, point, phase] of points) {
      for (let k = 0; k < 3; k++) ok(await lab.etcdctl(1, ['put', `before-crash/${String(written++).padStart(3, '0')}`, where]));
      await lab.copyCA(1, 3);
      assertKilledAt(await runAndKill(3, ['join', url(1), ...R], point), point, phase);
      ok(await lab.etcdadm(3, ['join', url(1), ...R]), `join again after a crash ${where}`);
      assert.deepEqual(await voters(1), ['eahost1 started voter', 'eahost2 started voter', 'eahost3 started voter'], where);
      const health = ok(await lab.etcdctl(1, ['endpoint', 'health', '--cluster']));
      assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
      await assertKeys(3, 'before-crash/', written);
      ok(await lab.etcdadm(3, ['reset']), 'reset for the next round');
    }
  });

  it('reset killed after each step completes when run again', async () => {
    let written = 0;
    for (const step of ['preflight', 'remove-member', 'stop']) {
      await lab.copyCA(1, 3);
      ok(await lab.etcdadm(3, ['join', url(1), ...R]), 'join host3');
      for (let k = 0; k < 3; k++) ok(await lab.etcdctl(3, ['put', `before-reset-crash/${String(written++).padStart(3, '0')}`, step]));
      assertKilledAt(await runAndKill(3, ['reset'], `after:${step}`), `after:${step}`, step);
      ok(await lab.etcdadm(3, ['reset']), `reset again after a crash after ${step}`);
      assert.deepEqual(await voters(1), ['eahost1 started voter', 'eahost2 started voter']);
      const left = ok(await lab.sh(3, 'find /etc/etcd /var/lib/etcd /etc/systemd/system/etcd.service /opt/bin \\( -type f -o -type l \\) 2>/dev/null; true'));
      assert.equal(left.stdout.trim(), '', `files left after reset:\n${left.stdout}`);
      await assertKeys(1, 'before-reset-crash/', written);
    }
  });

  it('a write killed half-way leaves the old file whole (env file and host record)', async () => {
    // host 2 is a member: its files exist; re-running configure rewrites them with a new token
    for (const file of ['/etc/etcd/etcd.env', '/etc/etcd/etcdadm.yaml']) {
      if (file.endsWith('etcdadm.yaml')) {
        // the record is written only when something changed: drop what configure will write back
        const doc = parse(ok(await lab.on(2, ['cat', file])).stdout) as Record<string, unknown>;
        delete doc.clusterEndpoints;
        ok(await lab.sh(2, `cat > ${file} <<'EOF'\n${stringify(doc)}EOF`));
      }
      const before = ok(await lab.on(2, ['cat', file])).stdout;
      assertKilledAt(await runAndKill(2, ['join', 'phase', 'configure', url(1), ...R], `write:${file}`), `write:${file}`, 'configure');
      assert.equal(ok(await lab.on(2, ['cat', file])).stdout, before, `${file} is the old file, whole`);
      const temps = ok(await lab.sh(2, `ls -a ${file.replace(/[^/]+$/, '')} | grep '\\.tmp$'; true`)).stdout.trim();
      assert.notEqual(temps, '', 'the half-written temp file is there, beside it (the kill landed inside the write)');
    }
    ok(await lab.etcdadm(2, ['status']), 'the record still reads, and the cluster is healthy');
  });
});
