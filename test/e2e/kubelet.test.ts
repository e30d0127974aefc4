/**
 * `--init-system kubelet` end to end: init, join and reset write and remove the static Pod manifest, and a kubelet
 * stand-in (test/helpers/kubelet-standin.ts) runs exactly what the manifest says — the image tag's etcd binary, the
 * command, args and env, the hostPath volumes at their paths, the probes. A wrong variable, path, flag or probe in
 * the manifest makes etcd fail to start, the cluster fail to form, or a probe fail, and so this test.
 * What it does not cover: pulling the image, cgroups, seccomp, and the API server's view of the Pod.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MIRROR_DIR } from '../helpers/etcd-bin.js';
import { MIRROR_URL, NetnsLab, REPO, ok } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url', '--init-system', 'kubelet'];
const STANDIN = join(REPO, 'build/test/helpers/kubelet-standin.js');
let lab: NetnsLab;
const url = (i: number) => `https://${lab.ip(i)}:2379`;

interface StandinStatus {
  manifest: string | null;
  pid?: number;
  exited?: number | null;
  restarts?: number;
  problem?: string | null;
  probes?: Record<string, { ok: boolean; detail: string }>;
}
const status = async (i: number): Promise<StandinStatus> => JSON.parse(ok(await lab.on(i, ['cat', '/run/kubelet-standin/status.json'])).stdout) as StandinStatus;

before(async () => {
  lab = await NetnsLab.up(3);
  for (const i of [1, 2, 3])
    ok(await lab.sh(i, `setsid ${process.execPath} ${STANDIN} /etc/kubernetes/manifests ${MIRROR_DIR} /run/kubelet-standin > /run/kubelet-standin.log 2>&1 < /dev/null & for k in $(seq 100); do test -s /run/kubelet-standin/status.json && break; sleep 0.05; done`), `kubelet stand-in on host${i}`);
});
after(async () => {
  await lab?.down();
});

describe('--init-system kubelet', () => {
  it('init writes the static Pod, which runs as written: etcd healthy, every ETCD_* variable recognized, both probes pass', async () => {
    const r = ok(await lab.etcdadm(1, ['init', ...R]), 'init --init-system kubelet');
    assert.match(r.stderr, /\[start\] Writing the static Pod manifest \/etc\/kubernetes\/manifests\/etcd\.yaml/);
    ok(await lab.sh(1, 'test ! -e /etc/systemd/system/etcd.service'), 'no systemd unit');
    const s = await status(1);
    assert.equal(s.manifest, '/etc/kubernetes/manifests/etcd.yaml', s.problem ?? '');
    ok(await lab.etcdctl(1, ['endpoint', 'health']));
    const log = ok(await lab.on(1, ['cat', '/run/kubelet-standin/etcd.log'])).stdout;
    assert.doesNotMatch(log, /unrecognized environment variable/);
    const env = ok(await lab.on(1, ['cat', '/etc/etcd/etcd.env'])).stdout.split('\n').filter((l) => l.startsWith('ETCD_'));
    for (const line of env) assert.match(log, new RegExp(`recognized and used environment variable[^\\n]*${line.split('=')[0]}`), line);
    // the probes (initial delay 10 s, then every 10 s) on the metrics URL
    const probes = await waitFor(
      async () => {
        const p = (await status(1)).probes;
        return p?.startup?.ok && p.liveness?.ok ? p : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'the startup and liveness probes to pass' },
    );
    assert.match(probes.liveness!.detail, /^200 \{"health":"true"/);
  });

  it('two hosts join the same way; a 3-member healthy cluster', async () => {
    for (const i of [2, 3]) {
      await lab.copyCA(1, i);
      ok(await lab.etcdadm(i, ['join', url(1), ...R]), `join host${i}`);
      assert.equal((await status(i)).manifest, '/etc/kubernetes/manifests/etcd.yaml');
    }
    const health = ok(await lab.etcdctl(1, ['endpoint', 'health', '--cluster']));
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
    ok(await lab.etcdctl(3, ['put', 'kubelet-mode', 'yes']));
    assert.equal(ok(await lab.etcdctl(1, ['get', 'kubelet-mode', '--print-value-only'])).stdout.trim(), 'yes');
  });

  it('reset removes the member and the manifest; the kubelet stops etcd', async () => {
    const r = ok(await lab.etcdadm(3, ['reset']), 'reset');
    assert.match(r.stderr, /\[remove-member\] Removed member/);
    assert.match(r.stderr, /\[stop\] Removed \/etc\/kubernetes\/manifests\/etcd\.yaml/);
    await waitFor(async () => (await status(3)).manifest === null && (await lab.etcdPids(3)).length === 0, { timeoutMs: 30_000, intervalMs: 200, what: 'the stand-in to stop etcd' });
    const list = ok(await lab.etcdctl(1, ['member', 'list'])).stdout;
    assert.equal(list.trim().split('\n').length, 2);
    ok(await lab.sh(3, 'test ! -e /etc/etcd/etcd.env && test ! -e /var/lib/etcd/member'));
  });
});
