/**
 * Promises of "join, step by step", "reset, step by step" and "Safety decisions" that need several clusters and
 * crafted states, on lab hosts, through the CLI: --no-learner, two joins at once, the joiner's etcd.env, data of an
 * earlier membership or of another cluster, reset without removing the member and with the cluster unreachable,
 * member remove --force, the host lock with two real processes, status exit codes 1 and 4.
 *
 * Clusters: A on hosts 1-4, B on 5, C on 6-7, D on 8-9; host 10 for the lock.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ETCDADM_HOOKS, MIRROR_URL, NetnsLab, REPO, ok, oneErrorLine, type RunResult } from '../helpers/lab.js';
import { labClient } from '../helpers/writer.js';
import { waitFor } from '../helpers/wait.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
let lab: NetnsLab;
const url = (i: number, port = 2379) => `https://${lab.ip(i)}:${port}`;

before(async () => {
  lab = await NetnsLab.up(10);
  await Promise.all([
    (async () => ok(await lab.etcdadm(1, ['init', ...R]), 'init host1'))(),
    (async () => ok(await lab.etcdadm(5, ['init', ...R]), 'init host5 (cluster B)'))(),
    (async () => {
      ok(await lab.etcdadm(6, ['init', ...R]), 'init host6 (cluster C)');
      await lab.join(7, 6, R);
    })(),
    (async () => {
      ok(await lab.etcdadm(8, ['init', ...R]), 'init host8 (cluster D)');
      await lab.join(9, 8, R);
    })(),
  ]);
});
after(async () => {
  await lab?.down();
});

interface Row {
  name: string;
  learner: boolean;
  peer: string;
}
/** The member list as host i's member sees it (a serializable read: also without quorum). */
async function members(i: number, via = i): Promise<Row[]> {
  const pem = async (f: string) => ok(await lab.on(via, ['cat', `/etc/etcd/pki/${f}`])).stdout;
  const client = await labClient([url(i)], { ca: await pem('ca.crt'), cert: await pem('etcdctl-etcd-client.crt'), key: await pem('etcdctl-etcd-client.key') });
  try {
    return (await client.memberList(false)).members.map((m) => ({ name: m.name, learner: m.isLearner, peer: m.peerURLs[0]! })).sort((a, b) => a.peer.localeCompare(b.peer));
  } finally {
    client.close();
  }
}
const names = async (i: number) => (await members(i)).map((m) => `${m.name || '(unstarted)'}${m.learner ? ' learner' : ''}`);

/** etcdadm on host i in the background, held at `point` ('none': not held) until released; resolves when it holds. */
async function held(i: number, args: string[], point: string): Promise<{ release(): Promise<RunResult>; kill(): Promise<void>; stderr(): string }> {
  const releaseFile = `/run/etcdadm-test-release-${process.pid}`;
  await lab.sh(i, `rm -f ${releaseFile}`);
  const child = spawn('bash', [join(REPO, 'lab/hosts.sh'), 'on', String(i), ETCDADM_HOOKS, ...args], {
    env: { ...process.env, LAB: lab.dir, ETCDADM_TEST_HOLD: point, ETCDADM_TEST_RELEASE: releaseFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? 137, stdout, stderr })));
  if (point !== 'none') {
    await waitFor(() => stderr.includes(`etcdadm-test-hold ${point}`) || child.exitCode !== null, { timeoutMs: 180_000, intervalMs: 50, what: `etcdadm ${args[0]} to hold at ${point}` });
    assert.ok(stderr.includes(`etcdadm-test-hold ${point}`), `held at ${point}:\n${stderr}`);
  }
  return {
    release: async () => {
      await lab.sh(i, `touch ${releaseFile}`);
      return done;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await done;
    },
    stderr: () => stderr,
  };
}

describe('join', () => {
  it('--no-learner adds a voting member at once, through the same guards; the next step reads the member list without quorum', async () => {
    await lab.copyCA(1, 2);
    const r = ok(await lab.etcdadm(2, ['join', url(1), '--no-learner', ...R]), 'join --no-learner');
    assert.match(r.stderr, /\[membership\] Adding eahost2 \(https:\/\/10\.88\.0\.2:2380\) as a voting member/);
    assert.doesNotMatch(r.stderr, /learner|Promot/i);
    // right after the add, quorum was 2 of which 1 had started: configure still read the member list
    assert.match(r.stderr, /\[configure\] Wrote \/etc\/etcd\/etcd\.env/);
    assert.deepEqual(await names(1), ['eahost1', 'eahost2']);
  });

  it("a joiner's etcd.env: an existing cluster, and every member in the initial cluster", async () => {
    const env = ok(await lab.on(2, ['cat', '/etc/etcd/etcd.env'])).stdout.split('\n');
    assert.ok(env.includes('ETCD_INITIAL_CLUSTER_STATE=existing'), 'ETCD_INITIAL_CLUSTER_STATE=existing');
    const initial = env.find((l) => l.startsWith('ETCD_INITIAL_CLUSTER='))!.slice('ETCD_INITIAL_CLUSTER='.length).split(',').sort();
    assert.deepEqual(initial, [`eahost1=${url(1, 2380)}`, `eahost2=${url(2, 2380)}`]);
  });

  it('two joins at once: the second waits for the first one\'s learner, and both end as voters', async () => {
    await lab.copyCA(1, 3);
    await lab.copyCA(1, 4);
    const first = await held(3, ['join', url(1), ...R], 'after:start'); // its learner runs, not promoted yet
    await waitFor(async () => (await names(1)).join() === 'eahost1,eahost2,eahost3 learner', { timeoutMs: 30_000, intervalMs: 100, what: 'host3 as a started learner' });
    // the second join, started now, reaches its membership step and waits: one learner at a time
    const second = await held(4, ['join', url(1), ...R], 'none');
    await waitFor(() => second.stderr().includes('another learner is still joining (etcd allows one at a time); waiting'), { timeoutMs: 120_000, intervalMs: 100, what: 'host4 to wait for the learner' });
    ok(await first.release(), 'the first join, released');
    ok(await second.release(), 'the second join');
    assert.deepEqual(await names(1), ['eahost1', 'eahost2', 'eahost3', 'eahost4']);
  });

  it('data of an earlier membership of the same cluster (the member was removed meanwhile) is moved aside, then it joins', async () => {
    ok(await lab.etcdadm(1, ['member', 'remove', 'eahost4']), 'member remove eahost4');
    assert.deepEqual(await names(1), ['eahost1', 'eahost2', 'eahost3']);
    const r = ok(await lab.etcdadm(4, ['join', url(1), ...R]), 'join again');
    assert.match(r.stderr, /\/var\/lib\/etcd holds data of an earlier membership of this cluster \(this host is not a member\)/);
    assert.match(r.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\.bak-/);
    ok(await lab.sh(4, 'test -d /var/lib/etcd.bak-*/member && test -d /var/lib/etcd/member'));
    assert.deepEqual(await names(1), ['eahost1', 'eahost2', 'eahost3', 'eahost4']);
  });

  it('data of another cluster it knows (its record says which) is refused, nothing changes', async () => {
    ok(await lab.sh(5, 'systemctl stop etcd.service && rm -f /etc/etcd/pki/server.* /etc/etcd/pki/peer.* /etc/etcd/pki/*client*'));
    const clusterB = /clusterId: (\w+)/.exec(ok(await lab.on(5, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout)![1]!;
    await lab.copyCA(1, 5);
    const before = await names(1);
    oneErrorLine(await lab.etcdadm(5, ['join', url(1), ...R]), new RegExp(`the data dir /var/lib/etcd holds a member of another cluster \\(${clusterB}\\), not of cluster [0-9a-f]+`));
    assert.deepEqual(await names(1), before);
    ok(await lab.sh(5, 'test -d /var/lib/etcd/member/snap'), 'its data is where it was');
  });
});

describe('reset', () => {
  it('--skip-remove-member: the member list is untouched, the data dir moved aside', async () => {
    const r = ok(await lab.etcdadm(4, ['reset', '--skip-remove-member']), 'reset --skip-remove-member');
    assert.match(r.stderr, /--skip-remove-member: not changing the cluster's member list/);
    assert.match(r.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\.bak-/);
    assert.deepEqual(await names(1), ['eahost1', 'eahost2', 'eahost3', 'eahost4'], 'still a member');
    ok(await lab.etcdadm(1, ['member', 'remove', 'eahost4']), 'removed from another host afterwards');
  });

  it('with the cluster unreachable: refused at once without --force; with it, the data dir is moved aside and the member list untouched', async () => {
    ok(await lab.sh(7, 'systemctl stop etcd.service'));
    ok(await lab.sh(6, 'ip link set eth0 down'));
    try {
      oneErrorLine(await lab.etcdadm(7, ['reset']), /cannot reach the cluster to leave it/);
      const r = ok(await lab.etcdadm(7, ['reset', '--force']), 'reset --force');
      assert.match(r.stderr, /cannot reach the cluster; not removing the member \(--force\)/);
      assert.match(r.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\.bak-/);
    } finally {
      ok(await lab.sh(6, 'ip link set eth0 up'));
    }
    assert.deepEqual(await names(6), ['eahost6', 'eahost7'], 'host7 is still in the member list');
  });
});

describe('member remove --force', () => {
  it('removes one of two members past the quorum guard, which refuses without it', async () => {
    oneErrorLine(await lab.etcdadm(8, ['member', 'remove', 'eahost9']), /a 2-member cluster loses quorum safety when one is removed/);
    assert.deepEqual(await names(8), ['eahost8', 'eahost9']);
    const r = ok(await lab.etcdadm(8, ['member', 'remove', 'eahost9', '--force']), 'member remove --force');
    assert.match(r.stderr, /--force: remove eahost9 although a 2-member cluster loses quorum safety/);
    assert.deepEqual(await names(8), ['eahost8']);
    assert.equal((await lab.etcdadm(8, ['status'])).code, 0, 'a healthy 1-member cluster');
  });
});

describe('the host lock, with two real etcdadm processes', () => {
  it('the second fails at once naming the first; the lock of a crashed holder is taken over', async () => {
    const first = await held(10, ['init', ...R], 'after:preflight');
    const pid = ok(await lab.on(10, ['cat', '/run/etcdadm.lock'])).stdout.split(' ')[0]!;
    for (const args of [['reset'], ['init', ...R]])
      oneErrorLine(await lab.etcdadm(10, args), new RegExp(`another etcdadm command is changing this host: PID ${pid} \\(init\\) holds /run/etcdadm\\.lock`));
    await first.kill();
    const again = ok(await lab.etcdadm(10, ['init', ...R]), 'init after the holder crashed');
    assert.match(again.stderr, /Resuming the interrupted init of eahost10/);
    ok(await lab.etcdctl(10, ['endpoint', 'health']));
  });
});

describe('status exit codes on a real cluster', () => {
  it('4 without quorum, 1 when the check cannot run', async () => {
    ok(await lab.sh(2, 'systemctl stop etcd.service'));
    ok(await lab.sh(3, 'systemctl stop etcd.service'));
    try {
      const r = await lab.etcdadm(1, ['status', '-o', 'json']);
      assert.equal(r.code, 4, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { health: string }).health, 'unavailable');
    } finally {
      ok(await lab.sh(2, 'systemctl start etcd.service'));
      ok(await lab.sh(3, 'systemctl start etcd.service'));
    }
    ok(await lab.sh(1, 'mv /etc/etcd/pki/etcdctl-etcd-client.key /root/'));
    try {
      const r = await lab.etcdadm(1, ['status']);
      assert.equal(r.code, 1);
      oneErrorLine(r, /cannot read the client certificate files in \/etc\/etcd\/pki/);
    } finally {
      ok(await lab.sh(1, 'mv /root/etcdctl-etcd-client.key /etc/etcd/pki/'));
    }
    await waitFor(async () => (await lab.etcdadm(1, ['status'])).code === 0, { timeoutMs: 60_000, intervalMs: 500, what: 'the cluster to be healthy again' });
  });
});
