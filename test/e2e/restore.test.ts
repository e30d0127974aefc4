/**
 * Disaster recovery of a whole cluster, as the README's runbook does it: 3 hosts holding 10,000 keys written three
 * times each → `snapshot save` → `snapshot verify` → every host destroyed (etcd killed, its data and config gone, its
 * network cut) → on 3 new hosts `init --snapshot` + 2 joins → every key with its latest value, the revision raised
 * past the snapshot's (older revisions compacted, as watchers need), 3 healthy members. Damaged snapshots (a flipped
 * byte, truncated, empty, a sidecar naming another SHA-256) and a bad --bump-revision are refused by
 * `init --snapshot` with nothing installed; `--bump-revision 0` keeps the snapshot's revisions.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_BUMP_REVISION } from '../../src/snapshot/restore.js';
import { MIRROR_URL, NetnsLab, ok, oneErrorLine } from '../helpers/lab.js';
import { labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const OLD = [1, 2, 3];
const NEW = [4, 5, 6];
const SPARE = 7;
const KEYS = 10_000;
const ROUNDS = 3;
/** Shared with the lab hosts (/tmp is not copy-on-write there): where the snapshot waits while no host exists. */
const SAFE = `/tmp/etcdadm-dr-${process.pid}`;
const key = (i: number) => `/dr/${String(i).padStart(5, '0')}`;
const value = (round: number, i: number) => `r${round}-${i}-${'x'.repeat(i % 50)}`;

let lab: NetnsLab;

before(async () => {
  lab = await NetnsLab.up(7);
  mkdirSync(SAFE, { recursive: true, mode: 0o700 });
});
after(async () => {
  await lab?.down();
  rmSync(SAFE, { recursive: true, force: true });
});

interface Kv {
  key: string;
  value: string;
}

/** Every key under /dr/ as host i's etcdctl reads it, and the store revision it read at. */
async function readAll(i: number): Promise<{ kvs: Map<string, string>; revision: bigint }> {
  const r = ok(await lab.etcdctl(i, ['get', '--prefix', '/dr/', '-w', 'json']), `get --prefix on host${i}`);
  // etcdctl's JSON has 64-bit numbers; the revision is read as text so that nothing rounds it
  const revision = BigInt(/"revision":(\d+)/.exec(r.stdout)![1]!);
  const parsed = JSON.parse(r.stdout) as { kvs?: Kv[] };
  const dec = (b: string) => Buffer.from(b, 'base64').toString();
  return { kvs: new Map((parsed.kvs ?? []).map((kv) => [dec(kv.key), dec(kv.value)])), revision };
}

async function nothingInstalled(h: number): Promise<void> {
  const left = ok(await lab.sh(h, 'ls -d /opt/bin/etcd /etc/etcd/etcd.env /etc/etcd/etcdadm.yaml /var/lib/etcd /etc/systemd/system/etcd.service 2>/dev/null; true')).stdout.trim();
  assert.equal(left, '', `nothing installed on host${h}`);
  assert.deepEqual(await lab.etcdProcesses(h), []);
}

describe('disaster recovery: all hosts lost, the cluster rebuilt on new hosts from the latest snapshot', () => {
  let snapshot = '';
  let sidecar: { revision: number; memberName: string; sha256: string } = { revision: 0, memberName: '', sha256: '' };

  it('3 hosts with 10,000 keys written 3 times each; snapshot save and verify', { timeout: 600_000 }, async () => {
    ok(await lab.etcdadm(1, ['init', ...R]), 'init');
    for (const h of OLD.slice(1)) await lab.join(h, 1, R);
    const client = await labClient(OLD.map((h) => `https://${lab.ip(h)}:2379`), await lab.clientPem(1));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        let next = 0;
        const worker = async () => {
          for (let i = next++; i < KEYS; i = next++) await client.put(key(i), value(round, i));
        };
        await Promise.all(Array.from({ length: 32 }, worker));
      }
    } finally {
      client.close();
    }
    const saved = ok(await lab.etcdadm(2, ['snapshot', 'save']), 'snapshot save').stdout.trim();
    const verify = JSON.parse(ok(await lab.etcdadm(2, ['snapshot', 'verify', saved, '-o', 'json']), 'verify').stdout) as { intact: boolean; etcdutl: { totalKey: number } };
    assert.equal(verify.intact, true);
    assert.ok(verify.etcdutl.totalKey >= KEYS, `${verify.etcdutl.totalKey} keys in the snapshot`);
    // off the hosts before they are destroyed, as an operator keeps backups elsewhere
    snapshot = `${SAFE}/${saved.split('/').pop()!}`;
    ok(await lab.sh(2, `cp -p ${saved} ${saved}.json ${SAFE}/`));
    sidecar = JSON.parse(ok(await lab.on(2, ['cat', `${saved}.json`])).stdout) as typeof sidecar;
    assert.equal(sidecar.memberName, 'eahost2');
    assert.ok(sidecar.revision >= KEYS * ROUNDS, `snapshot revision ${sidecar.revision}`);
  });

  it('every host destroyed: etcd killed, its data, config and binaries gone, its network cut', async () => {
    await Promise.all(
      OLD.map(async (h) => {
        for (const pid of await lab.etcdPids(h)) process.kill(pid, 'SIGKILL');
        ok(await lab.sh(h, 'rm -rf /var/lib/etcd /etc/etcd /opt/bin /var/backups/etcdadm'));
        ok(await lab.sh(h, 'ip link set eth0 down'));
      }),
    );
    for (const h of OLD) assert.deepEqual(await lab.etcdProcesses(h), []);
  });

  it('damaged snapshots and a bad --bump-revision: refused by init --snapshot, one line each, nothing installed', { timeout: 300_000 }, async () => {
    const h = SPARE;
    const flip = `python3 -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[40000] ^= 0xff; open(p, 'wb').write(b)"`;
    ok(await lab.sh(h, `cp ${snapshot} /root/flipped.db && ${flip} /root/flipped.db && head -c 65536 ${snapshot} > /root/truncated.db && : > /root/empty.db`));
    // an intact file whose sidecar names another SHA-256 (replaced after it was saved)
    ok(await lab.sh(h, `cp ${snapshot} /root/replaced.db && sed -E 's/"sha256": "[0-9a-f]+"/"sha256": "${'0'.repeat(64)}"/' ${snapshot}.json > /root/replaced.db.json`));
    const cases: [string[], RegExp][] = [
      [['--snapshot', '/root/flipped.db'], /flipped\.db is not a usable etcd snapshot: its SHA-256 does not match/],
      [['--snapshot', '/root/truncated.db'], /truncated\.db is not a usable etcd snapshot: .*truncated, or not a snapshot/],
      [['--snapshot', '/root/empty.db'], /empty\.db is not a usable etcd snapshot: it is empty/],
      [['--snapshot', '/root/replaced.db'], /replaced\.db is not a usable etcd snapshot: its SHA-256 differs from its sidecar's/],
      [['--snapshot', snapshot, '--bump-revision', 'lots'], /invalid --bump-revision "lots"/],
    ];
    for (const [args, why] of cases) {
      const r = await lab.etcdadm(h, ['init', ...R, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      oneErrorLine(r, why);
      await nothingInstalled(h);
    }
  });

  it('new hosts: init --snapshot + 2 joins → every key with its latest value, the revision raised, 3 healthy members', { timeout: 600_000 }, async () => {
    const init = ok(await lab.etcdadm(NEW[0]!, ['init', ...R, '--snapshot', snapshot]), 'init --snapshot');
    assert.match(init.stderr, new RegExp(`revision raised by ${DEFAULT_BUMP_REVISION}`));
    for (const h of NEW.slice(1)) await lab.join(h, NEW[0]!, R);
    const health = await lab.etcdctl(NEW[2]!, ['endpoint', 'health', '--cluster']);
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3, health.stdout + health.stderr);
    const members = ok(await lab.etcdctl(NEW[0]!, ['member', 'list'])).stdout.trim().split('\n').map((l) => l.split(', ')[2]).sort();
    assert.deepEqual(members, NEW.map((h) => lab.hostname(h)));
    // read on a joined member: the data came to it through the cluster, not only from the restored file
    const { kvs, revision } = await readAll(NEW[2]!);
    assert.equal(kvs.size, KEYS);
    const wrong = [...Array(KEYS).keys()].filter((i) => kvs.get(key(i)) !== value(ROUNDS - 1, i));
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} keys without their latest value`);
    assert.ok(revision >= BigInt(sidecar.revision) + BigInt(DEFAULT_BUMP_REVISION), `revision ${revision} is raised past the snapshot's ${sidecar.revision}`);
    // the snapshot's revisions are compacted: a watcher that remembers one starts over instead of missing changes
    const old = await lab.etcdctl(NEW[1]!, ['get', key(0), '--rev', String(sidecar.revision)]);
    assert.notEqual(old.code, 0);
    assert.match(old.stderr, /compacted/);
    const w = ok(await lab.etcdctl(NEW[1]!, ['put', '/dr/after', 'yes']));
    assert.match(w.stdout, /OK/);
  });

  it('--bump-revision 0 keeps the snapshot revisions as they were', { timeout: 300_000 }, async () => {
    ok(await lab.etcdadm(SPARE, ['init', ...R, '--snapshot', snapshot, '--bump-revision', '0']), 'init --bump-revision 0');
    const { kvs, revision } = await readAll(SPARE);
    assert.equal(kvs.size, KEYS);
    assert.equal(revision, BigInt(sidecar.revision));
  });
});
