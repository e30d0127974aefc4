/**
 * `etcdadm snapshot save|list|verify|prune` on lab hosts, as an operator runs them: a snapshot of the local member
 * with its sidecar (0700 dir, 0600 files), verified by etcd's own hash and by etcdutl; prune keeps the newest N; a
 * full disk (a small tmpfs) and a read-only destination fail cleanly, leaving no temp file and older files intact;
 * damaged files (a flipped byte, truncated, empty) are refused by verify.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, ok, oneErrorLine } from '../helpers/lab.js';
import { labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const HOSTS = [1, 2, 3];
let lab: NetnsLab;
let revisionBefore = 0n;

before(async () => {
  lab = await NetnsLab.up(3);
  ok(await lab.etcdadm(1, ['init', ...R]), 'init');
  for (const h of HOSTS.slice(1)) await lab.join(h, 1, R);
  const client = await labClient(HOSTS.map((h) => `https://${lab.ip(h)}:2379`), await lab.clientPem(1));
  try {
    for (let round = 0; round < 3; round++)
      for (let i = 0; i < 300; i += 1) revisionBefore = (await client.put(`/snap/${String(i).padStart(4, '0')}`, `v${round}-${i}`)).revision;
  } finally {
    client.close();
  }
});
after(async () => {
  await lab?.down();
});

/** A shell command that flips every bit of the byte at `offset` of `file`. */
const flip = (file: string, offset: number) =>
  `python3 -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[${offset}] ^= 0xff; open(p, 'wb').write(b)" ${file}`;

interface Sidecar {
  clusterId: string;
  memberName: string;
  revision: number;
  etcdVersion: string;
  size: number;
  sha256: string;
}

describe('etcdadm snapshot', () => {
  let saved = '';

  it('save: a snapshot of the local member into /var/backups/etcdadm (0700, 0600) with its sidecar', async () => {
    const r = ok(await lab.etcdadm(2, ['snapshot', 'save']), 'snapshot save');
    saved = r.stdout.trim();
    assert.match(saved, /^\/var\/backups\/etcdadm\/etcd-snapshot-eahost2-\d{8}T\d{6}\.\d{3}Z\.db$/);
    const modes = ok(await lab.sh(2, `stat -c '%a' /var/backups/etcdadm ${saved} ${saved}.json`)).stdout.trim().split('\n');
    assert.deepEqual(modes, ['700', '600', '600']);
    const side = JSON.parse(ok(await lab.on(2, ['cat', `${saved}.json`])).stdout) as Sidecar;
    assert.equal(side.memberName, 'eahost2');
    assert.ok(BigInt(side.revision) >= revisionBefore, `revision ${side.revision} >= ${revisionBefore}`);
    assert.equal(side.size, Number(ok(await lab.sh(2, `stat -c %s ${saved}`)).stdout.trim()));
    assert.equal(side.sha256, ok(await lab.sh(2, `sha256sum ${saved} | cut -d' ' -f1`)).stdout.trim());
    const status = JSON.parse(ok(await lab.etcdadm(2, ['status', '-o', 'json'])).stdout) as { clusterId: string };
    assert.equal(side.clusterId, status.clusterId);
    assert.equal(ok(await lab.sh(2, "ls -a /var/backups/etcdadm | grep -cE 'part|\\.tmp' || true")).stdout.trim(), '0', 'no temp file left');
  });

  it('verify: intact by etcd\'s hash, the sidecar and etcdutl snapshot status (every key there)', async () => {
    const v = JSON.parse(ok(await lab.etcdadm(2, ['snapshot', 'verify', saved, '-o', 'json'])).stdout) as { intact: boolean; sidecar: string; etcdutl: { revision: number; totalKey: number } };
    assert.equal(v.intact, true);
    assert.equal(v.sidecar, 'matches');
    assert.ok(v.etcdutl.totalKey >= 300, `${v.etcdutl.totalKey} keys`);
    assert.ok(BigInt(v.etcdutl.revision) >= revisionBefore);
  });

  it('verify refuses a flipped byte, a truncated file and an empty one, each with one line (exit 2)', async () => {
    ok(await lab.sh(2, `cp ${saved} /root/flipped.db && ${flip('/root/flipped.db', 20000)} && head -c 50000 ${saved} > /root/truncated.db && : > /root/empty.db`));
    for (const [f, why] of [['flipped', /SHA-256 does not match/], ['truncated', /truncated, or not a snapshot/], ['empty', /it is empty/]] as const) {
      const r = await lab.etcdadm(2, ['snapshot', 'verify', `/root/${f}.db`]);
      assert.equal(r.code, 2, r.stderr);
      oneErrorLine(r, why);
    }
    // an intact snapshot whose sidecar names another SHA-256: refused by the sidecar check
    ok(await lab.sh(2, `cp ${saved} /root/other.db && sed -E 's/"sha256": "[0-9a-f]+"/"sha256": "${'0'.repeat(64)}"/' ${saved}.json > /root/other.db.json`));
    const other = await lab.etcdadm(2, ['snapshot', 'verify', '/root/other.db']);
    assert.equal(other.code, 2);
    oneErrorLine(other, /its SHA-256 differs from its sidecar's/);
  });

  it('list and prune --keep 2: the newest two stay, with their sidecars; prune never removes the only one', async () => {
    for (let i = 0; i < 3; i++) ok(await lab.etcdadm(2, ['snapshot', 'save']), `save ${i}`);
    const listed = JSON.parse(ok(await lab.etcdadm(2, ['snapshot', 'list', '-o', 'json'])).stdout) as { snapshots: { path: string; time: string }[] };
    assert.equal(listed.snapshots.length, 4);
    assert.deepEqual(listed.snapshots.map((s) => s.time), [...listed.snapshots.map((s) => s.time)].sort().reverse(), 'newest first');
    ok(await lab.etcdadm(2, ['snapshot', 'prune', '--keep', '2']));
    const left = ok(await lab.sh(2, 'ls /var/backups/etcdadm')).stdout.trim().split('\n');
    assert.deepEqual(left, listed.snapshots.slice(0, 2).flatMap((s) => [s.path.split('/').pop()!, `${s.path.split('/').pop()!}.json`]).sort());
    const zero = await lab.etcdadm(2, ['snapshot', 'prune', '--keep', '0']);
    assert.equal(zero.code, 2);
    assert.deepEqual(ok(await lab.sh(2, 'ls /var/backups/etcdadm')).stdout.trim().split('\n'), left, '--keep 0 is refused: nothing removed');
    ok(await lab.etcdadm(2, ['snapshot', 'prune', '--keep', '1']));
    const one = ok(await lab.sh(2, 'ls /var/backups/etcdadm')).stdout.trim().split('\n');
    assert.equal(one.filter((f) => f.endsWith('.db')).length, 1);
    ok(await lab.etcdadm(2, ['snapshot', 'prune', '--keep', '1']));
    assert.deepEqual(ok(await lab.sh(2, 'ls /var/backups/etcdadm')).stdout.trim().split('\n'), one, 'the only one stays');
  });

  it('a full disk (a 256 KiB tmpfs, 200 KiB taken): one line, no temp file, the older file there intact', async () => {
    ok(await lab.sh(3, 'mkdir -p /var/backups/small && mount -t tmpfs -o size=256k,mode=0700 tmpfs /var/backups/small && head -c 204800 /dev/urandom > /var/backups/small/older.db'));
    try {
      const before = ok(await lab.sh(3, 'sha256sum /var/backups/small/older.db')).stdout;
      const r = await lab.etcdadm(3, ['snapshot', 'save', '--dir', '/var/backups/small']);
      oneErrorLine(r, /no space left in \/var\/backups\/small for the snapshot/);
      assert.equal(ok(await lab.sh(3, 'ls -A /var/backups/small')).stdout.trim(), 'older.db', 'no temp file, no sidecar');
      assert.equal(ok(await lab.sh(3, 'sha256sum /var/backups/small/older.db')).stdout, before);
    } finally {
      await lab.sh(3, 'umount /var/backups/small');
    }
  });

  it('--output into a shared sticky directory (/var/tmp, 1777) leaves its mode alone; only a directory etcdadm makes is 0700', async () => {
    ok(await lab.sh(3, 'mkdir -p /var/tmp && chmod 1777 /var/tmp && rm -f /var/tmp/x.db /var/tmp/x.db.json && rm -rf /var/backups/made-here'));
    assert.equal(ok(await lab.sh(3, 'stat -c %a /var/tmp')).stdout.trim(), '1777');
    const r = ok(await lab.etcdadm(3, ['snapshot', 'save', '--output', '/var/tmp/x.db']), 'save --output /var/tmp/x.db');
    assert.equal(r.stdout.trim(), '/var/tmp/x.db');
    assert.equal(ok(await lab.sh(3, 'stat -c %a /var/tmp')).stdout.trim(), '1777', 'the shared directory keeps its sticky bit and its mode');
    assert.equal(ok(await lab.sh(3, 'stat -c %a /var/tmp/x.db')).stdout.trim(), '600', 'the snapshot itself is private');
    ok(await lab.etcdadm(3, ['snapshot', 'save', '--dir', '/var/backups/made-here']), 'save --dir (a new directory)');
    assert.equal(ok(await lab.sh(3, 'stat -c %a /var/backups/made-here')).stdout.trim(), '700', 'a directory etcdadm made is 0700');
    ok(await lab.sh(3, 'rm -rf /var/tmp/x.db /var/tmp/x.db.json /var/backups/made-here'));
  });

  it('a read-only destination is reported before any streaming', async () => {
    ok(await lab.sh(3, 'mkdir -p /var/backups/ro && mount --bind /var/backups/ro /var/backups/ro && mount -o remount,bind,ro /var/backups/ro'));
    try {
      const r = await lab.etcdadm(3, ['snapshot', 'save', '--dir', '/var/backups/ro', '-l', 'debug']);
      oneErrorLine(r, /cannot write snapshots into \/var\/backups\/ro/);
      assert.doesNotMatch(r.stderr, /\[save\]/, 'the save phase never ran');
    } finally {
      await lab.sh(3, 'umount /var/backups/ro');
    }
  });
});
