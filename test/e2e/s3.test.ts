/**
 * `etcdadm snapshot save|list|prune` with an S3 bucket, on a lab host: versitygw runs inside the lab's mirror
 * namespace at 10.88.0.200:9000 (lab/s3-server.sh, S3_NETNS), a 1-member cluster saves into it with credentials
 * from a 0600 file and from the AWS environment variables. What the server stored is checked on its disk (SHA-256
 * against the local copy and the sidecar); list on the bucket (-o json) has the local list's shape; prune --keep 1;
 * a 0644 credentials file and a wrong secret are refused before any snapshot is taken; the credentials are in no
 * log line, in no process's command line while a save runs (/proc scanned throughout), and not in /etc/etcd.
 * `init --snapshot s3://bucket/key` on a second host downloads, checks and restores the bucket's snapshot.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { s3LocationFrom } from '../../src/s3/location.js';
import { openStore } from '../../src/s3/store.js';
import { ETCDADM, MIRROR_URL, NetnsLab, ok, oneErrorLine, REPO, run, type RunResult } from '../helpers/lab.js';
import { S3_KEY, S3_SECRET, S3Server } from '../helpers/s3-server.js';
import { labClient } from '../helpers/writer.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const ENDPOINT = 'http://10.88.0.200:9000';
let lab: NetnsLab;
let server: S3Server;
let data: string;
let credFile: string;

const S3 = () => ['--s3-endpoint', ENDPOINT, '--s3-allow-http', '--s3-bucket', 'backups', '--s3-prefix', 'etcd/e2e'];
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

before(async () => {
  lab = await NetnsLab.up(2); // host 2: a new cluster restored from the bucket
  ok(await lab.etcdadm(1, ['init', ...R]), 'init');
  // 10 MiB of values: the snapshot is larger than one upload part
  const client = await labClient([`https://${lab.ip(1)}:2379`], await lab.clientPem(1));
  try {
    for (let i = 0; i < 10; i++) await client.put(`/s3/${i}`, new Uint8Array(1 << 20).fill(i + 1));
  } finally {
    client.close();
  }
  data = join(lab.dir, 's3data');
  server = S3Server.start({ dir: data, port: 9000, runDir: join(lab.dir, 's3run'), netns: 'eamirror', listen: '10.88.0.200' });
  server.mkBucket('backups');
  credFile = join(lab.dir, 's3.env'); // /tmp is shared with the lab hosts
  writeFileSync(credFile, `# etcd backups\nAWS_ACCESS_KEY_ID=${S3_KEY}\nAWS_SECRET_ACCESS_KEY=${S3_SECRET}\n`, { mode: 0o600 });
});
after(async () => {
  server?.stop();
  await lab?.down();
});

/** Every process's command line on the machine (lab hosts share the PID namespace). */
function cmdlines(): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      out.push(readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** etcdadm on host 1 (JSON logs, debug), /proc scanned the whole time; fails the test if a credential shows. */
async function watched(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult & { scans: number }> {
  let done = false;
  let scans = 0;
  let sawEtcdadm = false;
  const leaks: string[] = [];
  const scanning = (async () => {
    while (!done) {
      for (const c of cmdlines()) {
        if (c.includes(S3_SECRET) || c.includes(S3_KEY)) leaks.push(c);
        if (c.includes('etcdadm-linux-amd64 snapshot')) sawEtcdadm = true;
      }
      scans++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const res = await run('bash', [join(REPO, 'lab/hosts.sh'), 'on', '1', ETCDADM, ...args, '-l', 'debug', '--log-format', 'json'], { env: { LAB: lab.dir, ...env } });
  done = true;
  await scanning;
  assert.deepEqual(leaks, [], 'no command line holds a credential');
  assert.ok(sawEtcdadm && scans > 5, `the scan saw the run (${scans} scans)`);
  for (const out of [res.stdout, res.stderr]) {
    assert.ok(!out.includes(S3_SECRET), 'the secret is in no log line');
    assert.ok(!out.includes(S3_KEY), 'the access key is in no log line');
  }
  for (const l of res.stderr.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(l), `a JSON log line: ${l}`);
  return { ...res, scans };
}

interface Listed {
  snapshots: { name: string; path: string; size: number; time: string; sidecar: { sha256: string; size: number; memberName: string } | null }[];
}

describe('etcdadm snapshot with an S3 bucket', () => {
  const saved: string[] = [];

  it('save --s3-credentials-file: the local copy kept, the object and its sidecar in the bucket, byte for byte', async () => {
    const r = await watched(['snapshot', 'save', ...S3(), '--s3-credentials-file', credFile]);
    ok(r, 'snapshot save');
    const [local, url] = r.stdout.trim().split('\n');
    assert.match(local!, /^\/var\/backups\/etcdadm\/etcd-snapshot-eahost1-\d{8}T\d{6}\.\d{3}Z\.db$/);
    const name = local!.split('/').pop()!;
    assert.equal(url, `s3://backups/etcd/e2e/${name}`);
    saved.push(name);
    const localSha = ok(await lab.sh(1, `sha256sum ${local} | cut -d' ' -f1`)).stdout.trim();
    const side = JSON.parse(ok(await lab.on(1, ['cat', `${local}.json`])).stdout) as { sha256: string; size: number };
    assert.equal(side.sha256, localSha);
    const stored = readFileSync(join(data, 'backups/etcd/e2e', name));
    assert.equal(sha(stored), localSha, "the server's object is the local snapshot");
    assert.equal(stored.length, side.size);
    assert.equal(readFileSync(join(data, 'backups/etcd/e2e', `${name}.json`), 'utf8'), ok(await lab.on(1, ['cat', `${local}.json`])).stdout);
    const logs = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg?: string; phase?: string });
    // more than one 8 MiB part: a multipart upload through the CLI
    assert.ok(side.size > 8 << 20, `a snapshot of ${side.size} bytes`);
    const parts = Math.ceil(side.size / (8 << 20));
    const uploaded = logs.map((l) => String(l.msg)).filter((m) => m.startsWith('Uploaded '));
    assert.deepEqual(uploaded, [`Uploaded ${local!} to ${url!} (${side.size} bytes in ${parts} parts; size, ETag and SHA-256 checked)`], 'the multipart upload is logged');
    const store = await openStore(s3LocationFrom({ s3Endpoint: ENDPOINT, s3AllowHttp: true, s3Bucket: 'backups' }, {})!, { env: { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET } });
    try {
      assert.deepEqual(await store.listUploads(''), [], 'no unfinished multipart upload');
    } finally {
      store.close();
    }
  });

  it('save with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment', async () => {
    const r = ok(await watched(['snapshot', 'save', ...S3()], { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET }), 'snapshot save (env)');
    const name = r.stdout.trim().split('\n')[0]!.split('/').pop()!;
    saved.push(name);
    const localSha = ok(await lab.sh(1, `sha256sum /var/backups/etcdadm/${name} | cut -d' ' -f1`)).stdout.trim();
    assert.equal(sha(readFileSync(join(data, 'backups/etcd/e2e', name))), localSha);
  });

  it('list on the bucket (-o json): both, newest first, with their sidecars, in the shape of the local list', async () => {
    const remote = JSON.parse(ok(await lab.etcdadm(1, ['snapshot', 'list', ...S3(), '--s3-credentials-file', credFile, '-o', 'json'])).stdout) as Listed;
    const local = JSON.parse(ok(await lab.etcdadm(1, ['snapshot', 'list', '-o', 'json'])).stdout) as Listed;
    assert.deepEqual(remote.snapshots.map((s) => s.name), [...saved].reverse());
    assert.deepEqual(remote.snapshots.map((s) => s.path), [...saved].reverse().map((n) => `s3://backups/etcd/e2e/${n}`));
    assert.deepEqual(Object.keys(remote.snapshots[0]!).sort(), Object.keys(local.snapshots[0]!).sort());
    for (const s of remote.snapshots) {
      const l = local.snapshots.find((x) => x.name === s.name)!;
      assert.deepEqual(s.sidecar, l.sidecar);
      assert.equal(s.size, l.size);
      assert.equal(s.time, l.time);
    }
    const table = ok(await lab.etcdadm(1, ['snapshot', 'list', ...S3(), '--s3-credentials-file', credFile])).stdout;
    assert.match(table, /\|\s+NAME\s+\|\s+TIME\s+\|\s+SIZE\s+\|\s+REVISION\s+\|\s+MEMBER\s+\|\s+ETCD\s+\|\s+CLUSTER\s+\|/);
    for (const n of saved) assert.match(table, new RegExp(`\\| ${n.replace(/\./g, '\\.')} \\| .* \\| eahost1 \\|`));
  });

  it('prune --keep 1 on the bucket: the newest stays (object and sidecar), the local copies are untouched', async () => {
    ok(await lab.etcdadm(1, ['snapshot', 'prune', '--keep', '1', ...S3(), '--s3-credentials-file', credFile]), 'prune');
    assert.deepEqual(readdirSync(join(data, 'backups/etcd/e2e')).filter((n) => !n.startsWith('.')).sort(), [saved[1]!, `${saved[1]!}.json`]);
    const local = ok(await lab.sh(1, 'ls /var/backups/etcdadm')).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(local, [saved[0]!, `${saved[0]!}.json`, saved[1]!, `${saved[1]!}.json`].sort());
  });

  it('init --snapshot s3://… on a new host: downloaded (0600, checked), verified, restored; a missing key refused with nothing installed', { timeout: 300_000 }, async () => {
    const S3R = ['--s3-endpoint', ENDPOINT, '--s3-allow-http', '--s3-credentials-file', credFile];
    const missing = await lab.etcdadm(2, ['init', ...R, '--snapshot', 's3://backups/etcd/e2e/no-such.db', ...S3R]);
    assert.equal(missing.code, 2, 'a key that does not exist is a bad input');
    const line = oneErrorLine(missing, /no-such\.db/);
    assert.match(line, /s3:\/\/backups\/etcd\/e2e\/no-such\.db does not exist at http:\/\/10\.88\.0\.200:9000\. Check the key \('etcdadm snapshot list' with the same --s3-\* options lists them\)$/);
    assert.equal(ok(await lab.sh(2, 'ls -d /opt/bin/etcd /etc/etcd/etcd.env /var/lib/etcd 2>/dev/null; true')).stdout.trim(), '', 'nothing installed');
    const url = `s3://backups/etcd/e2e/${saved[1]!}`;
    const r = ok(await lab.etcdadm(2, ['init', ...R, '--snapshot', url, ...S3R]), 'init --snapshot s3://');
    assert.match(r.stderr, new RegExp(`\\[preflight\\] Downloading ${url.replace(/\./g, '\\.')} to /var/backups/etcdadm/restore/`));
    assert.equal(r.stderr.match(/Downloading s3:\/\//g)?.length, 1, 'downloaded once: the snapshot phase restores the copy preflight fetched and verified');
    for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(S3_SECRET) && !out.includes(S3_KEY), 'no credential in the log');
    const local = `/var/backups/etcdadm/restore/${saved[1]!}`;
    assert.equal(ok(await lab.sh(2, `stat -c %a ${local}`)).stdout.trim(), '600');
    assert.equal(ok(await lab.sh(2, `sha256sum ${local} | cut -d' ' -f1`)).stdout.trim(), sha(readFileSync(join(data, 'backups/etcd/e2e', saved[1]!))));
    const keys = ok(await lab.etcdctl(2, ['get', '--prefix', '/s3/', '--keys-only'])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(keys, Array.from({ length: 10 }, (_, i) => `/s3/${i}`));
    const v = ok(await lab.sh(2, '/opt/bin/etcdctl.sh get /s3/3 --print-value-only | head -c 3 | od -An -tx1')).stdout.trim();
    assert.equal(v, '04 04 04');
  });

  it('save phase upload: a re-run finds the snapshot there already; with the server gone, one line and the local copy kept', async () => {
    const object = join(data, 'backups/etcd/e2e', saved[1]!);
    const stored = { mtime: statSync(object).mtimeMs, ino: statSync(object).ino, sidecar: statSync(`${object}.json`).mtimeMs };
    const again = ok(await lab.etcdadm(1, ['snapshot', 'save', 'phase', 'upload', ...S3(), '--s3-credentials-file', credFile]), 'phase upload');
    assert.deepEqual({ mtime: statSync(object).mtimeMs, ino: statSync(object).ino, sidecar: statSync(`${object}.json`).mtimeMs }, stored, 'not uploaded again');
    assert.equal(again.stdout.trim(), `s3://backups/etcd/e2e/${saved[1]!}`);
    assert.match(again.stderr, /\[upload\] s3:\/\/backups\/etcd\/e2e\/.* is this snapshot already \(same size and SHA-256\)/);
    server.stop();
    try {
      const line = oneErrorLine(await lab.etcdadm(1, ['snapshot', 'save', 'phase', 'upload', ...S3(), '--s3-credentials-file', credFile]), /cannot reach http:\/\/10\.88\.0\.200:9000/);
      assert.match(line, new RegExp(`The snapshot is kept at /var/backups/etcdadm/${saved[1]!.replace(/\./g, '\\.')}; check --s3-endpoint and the network`));
      ok(await lab.on(1, ['test', '-s', `/var/backups/etcdadm/${saved[1]!}`]));
    } finally {
      server.start();
    }
  });

  it('a credentials file group or others can read is refused before any snapshot is taken; so is a wrong secret', async () => {
    const open = join(lab.dir, 's3-open.env');
    writeFileSync(open, readFileSync(credFile), { mode: 0o644 });
    const before = ok(await lab.sh(1, 'ls /var/backups/etcdadm | wc -l')).stdout.trim();
    const r = await watched(['snapshot', 'save', ...S3(), '--s3-credentials-file', open]);
    assert.equal(r.code, 2);
    const err = r.stderr.split('\n').filter((l) => l.includes('"level":"error"'));
    assert.equal(err.length, 1, r.stderr);
    assert.match(err[0]!, /the S3 credentials file .*s3-open\.env is mode 0644: group or others may read it\. Make it private \(chmod 600 /);
    const wrong = join(lab.dir, 's3-wrong.env');
    writeFileSync(wrong, `AWS_ACCESS_KEY_ID=${S3_KEY}\nAWS_SECRET_ACCESS_KEY=not-it\n`, { mode: 0o600 });
    const line = oneErrorLine(await lab.etcdadm(1, ['snapshot', 'save', ...S3(), '--s3-credentials-file', wrong]), /http:\/\/10\.88\.0\.200:9000 refused access to bucket backups \(SignatureDoesNotMatch/);
    assert.match(line, /Check the credentials in .*s3-wrong\.env/);
    assert.equal(ok(await lab.sh(1, 'ls /var/backups/etcdadm | wc -l')).stdout.trim(), before, 'no snapshot was taken');
    assert.deepEqual(readdirSync(join(data, 'backups/etcd/e2e')).filter((n) => !n.startsWith('.')).sort(), [saved[1]!, `${saved[1]!}.json`]);
  });

  it('a bad option is one line, exit code 2, before anything runs', async () => {
    const r = await lab.etcdadm(1, ['snapshot', 'save', '--s3-endpoint', 'ftp://10.88.0.200', '--s3-bucket', 'backups']);
    assert.equal(r.code, 2);
    oneErrorLine(r, /invalid --s3-endpoint "ftp:\/\/10\.88\.0\.200": the scheme must be https or http, not ftp/);
  });

  it('a plain http endpoint without --s3-allow-http, and --s3-ca-file with an http endpoint: refused (exit 2) before any snapshot is taken', async () => {
    const before = ok(await lab.sh(1, 'ls /var/backups/etcdadm')).stdout;
    const plain = await lab.etcdadm(1, ['snapshot', 'save', '--s3-endpoint', ENDPOINT, '--s3-bucket', 'backups', '--s3-credentials-file', credFile]);
    assert.equal(plain.code, 2);
    const line = oneErrorLine(plain, /refusing the plain http S3 endpoint http:\/\/10\.88\.0\.200:9000: snapshots hold every secret stored in etcd and would travel unencrypted/);
    assert.match(line, /accept the risk with --s3-allow-http$/);
    const ca = await lab.etcdadm(1, ['snapshot', 'save', ...S3(), '--s3-ca-file', '/etc/etcd/pki/ca.crt', '--s3-credentials-file', credFile]);
    assert.equal(ca.code, 2);
    oneErrorLine(ca, /--s3-ca-file is given but the S3 endpoint http:\/\/10\.88\.0\.200:9000 is plain http: nothing would check that CA/);
    const restore = await lab.etcdadm(2, ['init', ...R, '--snapshot', `s3://backups/etcd/e2e/${saved[1]!}`, '--s3-endpoint', ENDPOINT, '--s3-credentials-file', credFile, '--dry-run']);
    assert.equal(restore.code, 2, 'init --snapshot s3:// over http too');
    oneErrorLine(restore, /refusing the plain http S3 endpoint http:\/\/10\.88\.0\.200:9000/);
    assert.equal(ok(await lab.sh(1, 'ls /var/backups/etcdadm')).stdout, before, 'no snapshot was taken');
  });

  it('the host record and everything in /etc/etcd and the backup dirs of both hosts hold no credential', async () => {
    // what the hosts wrote, read from outside (the overlay's upper dirs)
    const holding: string[] = [];
    const scanned: string[] = [];
    for (const h of [1, 2])
      for (const top of [join(lab.dir, `host${h}/etc.upper/etcd`), join(lab.dir, `host${h}/var.upper/backups/etcdadm`)])
        for (const f of readdirSync(top, { recursive: true, withFileTypes: true }))
          if (f.isFile()) {
            const path = join(f.parentPath, f.name);
            scanned.push(path.slice(lab.dir.length + 1));
            const text = readFileSync(path, 'latin1');
            if (text.includes(S3_SECRET) || text.includes(S3_KEY)) holding.push(path);
          }
    assert.deepEqual(holding, []);
    // the scan covered what matters: both host records, the env files, and the snapshot host 2 downloaded
    for (const want of ['host1/etc.upper/etcd/etcdadm.yaml', 'host2/etc.upper/etcd/etcdadm.yaml', 'host1/etc.upper/etcd/etcd.env', 'host2/etc.upper/etcd/etcd.env', `host2/var.upper/backups/etcdadm/restore/${saved[1]!}`])
      assert.ok(scanned.includes(want), `${want} was scanned (${scanned.join(', ')})`);
  });
});
