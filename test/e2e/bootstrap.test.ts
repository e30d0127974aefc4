/**
 * A cluster bootstrapped together (`init --initial-cluster --cluster-token`, etcd's static bootstrap — what `apply`
 * does on bare hosts), on 3 lab hosts: the CA made on host1 alone (`init phase certificates`), bundles signed there for
 * the others (`certs bundle`: no ca.key leaves host1), then init on all three at once → 3 voting members of one cluster
 * with no join and no learner, ca.key on host1 only, each etcd.env listing all three; and the refusals before anything
 * is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, ok } from '../helpers/lab.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
let lab: NetnsLab;
const TOKEN = 'bootstrap-e2e-7f3a';
const list = () => [1, 2, 3].map((i) => `eahost${i}=https://${lab.ip(i)}:2380`).join(',');

before(async () => {
  lab = await NetnsLab.up(3);
});
after(async () => {
  await lab?.down();
});

describe('init --initial-cluster: every member started together', () => {
  it('refused before anything is written: this host not in the list, no token', async () => {
    const other = [2, 3].map((i) => `eahost${i}=https://${lab.ip(i)}:2380`).join(',');
    const missing = await lab.etcdadm(1, ['init', '--initial-cluster', other, '--cluster-token', TOKEN, ...R]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--initial-cluster does not list this member \(eahost1\)/);
    const noToken = await lab.etcdadm(1, ['init', '--initial-cluster', list(), ...R]);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /needs one --cluster-token/);
    assert.equal(ok(await lab.sh(1, 'ls /etc/etcd 2>/dev/null | wc -l')).stdout.trim(), '0', 'nothing written');
  });

  it('the CA on host1, bundles for the others, then init on all three at once: one healthy 3-member cluster', async () => {
    const B = ['--initial-cluster', list(), '--cluster-token', TOKEN];
    ok(await lab.etcdadm(1, ['init', 'phase', 'certificates', ...B, ...R]), 'the CA and host1 certificates');
    for (const i of [2, 3]) {
      const b = ok(await lab.etcdadm(1, ['certs', 'bundle', '--name', `eahost${i}`, '--address', lab.ip(i), '--output', '-']), 'bundle').stdout;
      ok(await lab.sh(i, `umask 077; mkdir -p /root/b && cat > /root/b/eahost${i}.bundle <<'EOF'\n${b}\nEOF`));
    }
    const started = Date.now();
    const runs = await Promise.all([1, 2, 3].map((i) => lab.etcdadm(i, ['init', ...B, ...(i === 1 ? [] : ['--certs-bundle', `/root/b/eahost${i}.bundle`]), ...R])));
    const took = Date.now() - started;
    runs.forEach((r, n) => assert.equal(r.code, 0, `host${n + 1}:\n${r.stderr}`));
    for (const r of runs) {
      assert.match(r.stderr, /\[health\] etcd is healthy: member eahost\d \([0-9a-f]+\) of cluster [0-9a-f]+/);
      assert.doesNotMatch(r.stderr, /\[membership\]|learner/i, 'no join, no learner');
    }
    const clusters = runs.map((r) => /of cluster ([0-9a-f]+)/.exec(r.stderr)?.[1]);
    assert.equal(new Set(clusters).size, 1, `one cluster: ${clusters.join(', ')}`);
    const st = JSON.parse(ok(await lab.etcdadm(2, ['status', '-o', 'json'])).stdout) as { health: string; members: { name: string; role: string }[] };
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => m.name).sort(), ['eahost1', 'eahost2', 'eahost3']);
    assert.ok(st.members.every((m) => m.role === 'leader' || m.role === 'follower'));
    for (const i of [1, 2, 3]) {
      const env = ok(await lab.sh(i, 'grep -E "^ETCD_INITIAL_CLUSTER(_STATE|_TOKEN)?=" /etc/etcd/etcd.env')).stdout;
      assert.match(env, new RegExp(`ETCD_INITIAL_CLUSTER=${list().replace(/[.]/g, '\\.')}\\n`));
      assert.match(env, /ETCD_INITIAL_CLUSTER_STATE=new/);
      assert.match(env, new RegExp(`ETCD_INITIAL_CLUSTER_TOKEN=${TOKEN}`));
      assert.equal(ok(await lab.sh(i, 'test -e /etc/etcd/pki/ca.key && echo yes || echo no')).stdout.trim(), i === 1 ? 'yes' : 'no', `ca.key on host${i}`);
    }
    console.log(`# 3 members bootstrapped together in ${took} ms (install from the mirror included)`);
  });

  it('run again on a member: nothing to do; the cluster keeps working with a join afterwards', async () => {
    const again = await lab.etcdadm(2, ['init', '--initial-cluster', list(), '--cluster-token', TOKEN, '--certs-bundle', '/root/b/eahost2.bundle', ...R]);
    assert.notEqual(again.code, 0, 'a finished init is not run over');
    assert.match(again.stderr, /already|etcdadm reset/);
    assert.equal((await lab.etcdadm(1, ['status'])).code, 0);
  });
});
