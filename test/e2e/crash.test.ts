/**
 * Crash safety: etcdadm init, join and reset are SIGKILLed at every phase boundary (and once inside the membership
 * phase, after the member was added but before it started), then the same command is run again. It must complete,
 * the cluster must end with the intended members, all voting and healthy, and no key written before the crash may
 * be missing. The kill lands while the next phase is already running: phase ends are logged synchronously to a pipe.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, REPO, ok } from '../helpers/lab.js';

const R = ['--release-url', MIRROR_URL];
const INIT_PHASES = ['install', 'certificates', 'snapshot', 'configure', 'start', 'etcdctl', 'health'];
const JOIN_PHASES = ['stop', 'certificates', 'install', 'membership', 'configure', 'start', 'etcdctl'];

let lab: NetnsLab;
before(async () => {
  lab = await NetnsLab.up(6);
});
after(async () => {
  await lab?.down();
});

const url = (i: number) => `https://${lab.ip(i)}:2379`;

/** Run etcdadm on host i and SIGKILL it as soon as a JSON log line matches. Resolves whether it was killed. */
function runAndKill(i: number, args: string[], when: (log: Record<string, unknown>) => boolean): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO, 'lab/hosts.sh'), 'on', String(i), join(REPO, 'bin/etcdadm'), ...args, '-l', 'debug', '--log-format', 'json'], {
      env: { ...process.env, LAB: lab.dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let killed = false;
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
      stderr += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (killed || !line.startsWith('{')) continue;
        if (when(JSON.parse(line) as Record<string, unknown>)) {
          killed = true;
          child.kill('SIGKILL'); // bash → nsenter → the launcher all exec: this PID is etcdadm's node process
        }
      }
    });
    child.on('error', reject);
    child.on('close', () => resolve({ killed, stderr }));
  });
}
const afterPhase = (p: string) => (l: Record<string, unknown>) => l.msg === 'phase completed' && l.phase === p;

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
        const { killed, stderr } = await runAndKill(h, ['init', ...R], afterPhase(p));
        assert.ok(killed, `init was killed after ${p}:\n${stderr}`);
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
    const points: [string, (l: Record<string, unknown>) => boolean][] = [
      ...JOIN_PHASES.map((p): [string, (l: Record<string, unknown>) => boolean] => [`after ${p}`, afterPhase(p)]),
      ['inside membership, after the add', (l) => typeof l.msg === 'string' && l.msg.startsWith('Added learner')],
    ];
    let written = 0;
    for (const [where, when] of points) {
      for (let k = 0; k < 3; k++) ok(await lab.etcdctl(1, ['put', `before-crash/${String(written++).padStart(3, '0')}`, where]));
      await lab.copyCA(1, 3);
      const { killed, stderr } = await runAndKill(3, ['join', url(1), ...R], when);
      assert.ok(killed, `join was killed ${where}:\n${stderr}`);
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
    for (const step of ['remove-member', 'stop']) {
      await lab.copyCA(1, 3);
      ok(await lab.etcdadm(3, ['join', url(1), ...R]), 'join host3');
      for (let k = 0; k < 3; k++) ok(await lab.etcdctl(3, ['put', `before-reset-crash/${String(written++).padStart(3, '0')}`, step]));
      const stepDone = (l: Record<string, unknown>) =>
        (step === 'remove-member' && l.phase === 'remove-member' && String(l.msg).startsWith('Removed member')) ||
        (step === 'stop' && l.phase === 'stop' && String(l.msg).startsWith('Stopped'));
      const { killed, stderr } = await runAndKill(3, ['reset'], stepDone);
      assert.ok(killed, `reset was killed after ${step}:\n${stderr}`);
      ok(await lab.etcdadm(3, ['reset']), `reset again after a crash after ${step}`);
      assert.deepEqual(await voters(1), ['eahost1 started voter', 'eahost2 started voter']);
      const left = ok(await lab.sh(3, 'find /etc/etcd /var/lib/etcd /etc/systemd/system/etcd.service /opt/bin \\( -type f -o -type l \\) 2>/dev/null; true'));
      assert.equal(left.stdout.trim(), '', `files left after reset:\n${left.stdout}`);
      await assertKeys(1, 'before-reset-crash/', written);
    }
  });
});
