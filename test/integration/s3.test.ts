/**
 * src/s3/store.ts against a real S3 server (versitygw on 127.0.0.1, its own port, dir and PID file): a multipart
 * upload of a file of several parts, checked against what the server stored on disk; list, download (checked
 * against the sidecar, refused when it does not match), remove; wrong credentials and a missing bucket as one
 * line; the server killed after the first part: an error, the local file untouched, and after the restart no
 * object and (once the next upload has cleaned up) no unfinished multipart upload; a part corrupted on the way
 * (a proxy flips a byte) refused by the server's digest checks, the upload aborted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdadmError } from '../../src/errors.js';
import { s3LocationFrom, type S3Location } from '../../src/s3/location.js';
import { downloadS3Url, openStore, type S3Store } from '../../src/s3/store.js';
import { freePorts } from '../helpers/etcd-server.js';
import { S3_KEY, S3_SECRET, S3Server } from '../helpers/s3-server.js';

const PART = 5 * 1024 * 1024;
const ENV = { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET };
let root: string;
let server: S3Server;
let loc: S3Location;

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
function randomFile(path: string, bytes: number): string {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) b.writeUInt32LE((i * 2654435761) >>> 0, i); // not all one part repeated
  b.write(String(Date.now()), 0);
  writeFileSync(path, b, { mode: 0o600 });
  return sha(path);
}
async function failure(p: Promise<unknown>): Promise<EtcdadmError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EtcdadmError, `an EtcdadmError, got ${String(err)}`);
    assert.doesNotMatch(err.oneLine(), /\n/);
    assert.ok(!err.oneLine().includes(S3_SECRET), 'the secret is in no message');
    return err;
  }
  assert.fail('must fail');
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'etcdadm-s3-'));
  const [port] = await freePorts(1);
  server = S3Server.start({ dir: join(root, 'data'), port: port!, runDir: join(root, 'run') });
  server.mkBucket('backups');
  loc = s3LocationFrom({ s3Endpoint: server.endpoint, s3AllowHttp: true, s3Bucket: 'backups', s3Prefix: 'etcd/it' }, {})!;
  mkdirSync(join(root, 'local'));
});
after(() => {
  server?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('S3 store on versitygw', () => {
  let store: S3Store;
  before(async () => {
    store = await openStore(loc, { env: ENV, partSize: PART });
  });
  after(() => store?.close());

  it('uploads a file of three parts; what the server stored is the file (size, SHA-256, ETag of the parts)', async () => {
    const file = join(root, 'local/big.db');
    const want = randomFile(file, 2 * PART + 12345);
    const seen: number[] = [];
    const r = await store.upload(file, 'etcd/it/big.db', { onProgress: (b) => void seen.push(b) });
    assert.equal(r.parts, 3);
    assert.deepEqual(seen, [PART, 2 * PART, 2 * PART + 12345]);
    assert.equal(r.sha256, want);
    // the multipart ETag is the MD5 of the parts' MD5s, "-3": computed here from the local file, part by part
    const bytes = readFileSync(file);
    const partMd5s = [0, 1, 2].map((i) => createHash('md5').update(bytes.subarray(i * PART, (i + 1) * PART)).digest());
    const wantEtag = `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-3`;
    assert.equal(r.etag, wantEtag);
    const stored = join(root, 'data/backups/etcd/it/big.db');
    assert.equal(sha(stored), want, "the server's file is the local file");
    const head = await store.head('etcd/it/big.db');
    assert.equal(head?.size, 2 * PART + 12345);
    assert.equal(head?.metadata.sha256, want);
    assert.equal(head?.etag, wantEtag, "the server's ETag is the one of the local file's parts");
    assert.equal(await store.head('etcd/it/none.db'), null);
    assert.deepEqual(await store.listUploads(''), [], 'no unfinished upload');
  });

  it('uploads a small file with one PUT; list shows both', async () => {
    const file = join(root, 'local/big.db.json');
    writeFileSync(file, JSON.stringify({ size: 2 * PART + 12345, sha256: sha(join(root, 'local/big.db')) }));
    const r = await store.upload(file, 'etcd/it/big.db.json');
    assert.equal(r.parts, 0);
    assert.equal(r.etag, createHash('md5').update(readFileSync(file)).digest('hex'), 'a single PUT: the ETag is the MD5 of the file');
    assert.equal(readFileSync(join(root, 'data/backups/etcd/it/big.db.json'), 'utf8'), readFileSync(file, 'utf8'));
    const keys = (await store.list('etcd/it/')).map((o) => [o.key, o.size]);
    assert.deepEqual(keys, [
      ['etcd/it/big.db', 2 * PART + 12345],
      ['etcd/it/big.db.json', statSync(file).size],
    ]);
  });

  it('downloads checked against the sidecar: 0600, whole; a sidecar that disagrees leaves nothing behind', async () => {
    const to = join(root, 'local/restored.db');
    const d = await store.download('etcd/it/big.db', to);
    assert.equal(d.checkedAgainst, 'sidecar');
    assert.equal(sha(to), sha(join(root, 'local/big.db')));
    assert.equal(statSync(to).mode & 0o777, 0o600);
    // a sidecar naming another SHA-256: refused, no file at the path and no temp file
    const bad = join(root, 'local/bad.json');
    writeFileSync(bad, JSON.stringify({ size: 2 * PART + 12345, sha256: '0'.repeat(64) }));
    await store.upload(bad, 'etcd/it/big.db.json');
    const to2 = join(root, 'local/restored2.db');
    const e = await failure(store.download('etcd/it/big.db', to2));
    assert.match(e.oneLine(), /SHA-256 of s3:\/\/backups\/etcd\/it\/big\.db is not the one its sidecar names/);
    assert.equal(existsSync(to2), false);
    assert.deepEqual(readdirSync(join(root, 'local')).filter((n) => n.includes('.part-')), []);
    // init --snapshot s3://...: the URL with the --s3-* options
    const to3 = join(root, 'local/restored3.db');
    await store.upload(join(root, 'local/big.db.json'), 'etcd/it/big.db.json');
    const d3 = await downloadS3Url('s3://backups/etcd/it/big.db', { s3Endpoint: server.endpoint, s3AllowHttp: true }, to3, { env: ENV });
    assert.equal(d3.sha256, sha(join(root, 'local/big.db')));
    assert.equal(sha(to3), d3.sha256);
    const missing = await failure(store.download('etcd/it/nothing.db', join(root, 'local/x.db')));
    assert.match(missing.oneLine(), /s3:\/\/backups\/etcd\/it\/nothing\.db does not exist/);
  });

  it('removes objects (gone already is fine)', async () => {
    await store.remove('etcd/it/big.db.json');
    await store.remove('etcd/it/big.db');
    await store.remove('etcd/it/big.db');
    assert.deepEqual(await store.list('etcd/it/'), []);
    assert.equal(existsSync(join(root, 'data/backups/etcd/it/big.db')), false);
  });

  it('wrong credentials: one line naming the refusal and where the credentials came from', async () => {
    const e = await failure(openStore(loc, { env: { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: 'not-the-secret' } }));
    assert.match(e.oneLine(), /^http:\/\/127\.0\.0\.1:\d+ refused access to bucket backups \(SignatureDoesNotMatch.*Check the credentials in AWS_ACCESS_KEY_ID \/ AWS_SECRET_ACCESS_KEY/);
    const file = join(root, 'creds');
    writeFileSync(file, 'AWS_ACCESS_KEY_ID=nosuchkey\nAWS_SECRET_ACCESS_KEY=x\n', { mode: 0o600 });
    const e2 = await failure(openStore({ ...loc, credentialsFile: file }, { env: {} }));
    assert.match(e2.oneLine(), /refused access to bucket backups \(XAdminUserNotFound.*Check the credentials in .*\/creds/);
  });

  it('a missing bucket: one line', async () => {
    const e = await failure(openStore({ ...loc, bucket: 'no-such-bucket' }, { env: ENV }));
    assert.equal(e.oneLine(), `the S3 bucket no-such-bucket does not exist at ${server.endpoint}. Create it, or check --s3-bucket and --s3-endpoint`);
  });

  it('the server killed after the first part: an error, the local file untouched; after the restart no object, and the next upload aborts what was left', async () => {
    const file = join(root, 'local/killed.db');
    const want = randomFile(file, 8 * PART);
    const mtime = statSync(file).mtimeMs;
    let calls = 0;
    const e = await failure(
      store.upload(file, 'etcd/it/etcd-snapshot-m1-1.db', {
        onProgress: () => {
          if (++calls === 1) server.kill();
        },
      }),
    );
    assert.equal(calls, 1, 'no part stored after the kill');
    assert.match(e.oneLine(), /uploading part 2 of 8 of .*killed\.db to s3:\/\/backups\/etcd\/it\/etcd-snapshot-m1-1\.db failed: cannot reach .*; its unfinished multipart upload could not be aborted either/);
    assert.equal(sha(file), want);
    assert.equal(statSync(file).mtimeMs, mtime);
    server.start();
    const s2 = await openStore(loc, { env: ENV, partSize: PART });
    try {
      assert.equal(await s2.head('etcd/it/etcd-snapshot-m1-1.db'), null, 'no object');
      const left = await s2.listUploads('etcd/it/');
      assert.deepEqual(left.map((u) => u.key), ['etcd/it/etcd-snapshot-m1-1.db'], 'the server kept the unfinished upload it was given');
      const small = join(root, 'local/next.db');
      randomFile(small, 1000);
      await s2.upload(small, 'etcd/it/etcd-snapshot-m1-2.db', { abortStale: 'etcd/it/etcd-snapshot-m1-' });
      assert.deepEqual(await s2.listUploads(''), [], 'no unfinished multipart upload');
      assert.deepEqual((await s2.list('etcd/it/')).map((o) => o.key), ['etcd/it/etcd-snapshot-m1-2.db']);
      assert.equal(existsSync(join(root, 'data/backups/etcd/it/etcd-snapshot-m1-1.db')), false);
    } finally {
      s2.close();
    }
  });

  it('a failure with the server up (the file shrank mid-upload): the multipart upload is aborted, no object', async () => {
    const file = join(root, 'local/shrinks.db');
    randomFile(file, 3 * PART);
    const e = await failure(store.upload(file, 'etcd/it/shrinks.db', { onProgress: () => truncateSync(file, PART + 10) }));
    assert.match(e.oneLine(), /shrinks\.db changed while it was being uploaded/);
    assert.deepEqual(await store.listUploads(''), [], 'aborted');
    assert.equal(await store.head('etcd/it/shrinks.db'), null);
  });

  it('a part corrupted on the way (one byte flipped by a proxy) is refused by the server, which checks its digests; the upload aborted, no object', async () => {
    // a proxy on 127.0.0.1 between the store and versitygw: it passes every request through, but flips one byte of
    // the body of part 2 (same length, same headers: Content-MD5, x-amz-checksum-sha256, the signed payload hash)
    let flipped = 0;
    const proxy = createServer((req, res) => {
      const corrupt = /[?&]partNumber=2(&|$)/.test(req.url ?? '');
      const up = request({ host: '127.0.0.1', port: new URL(server.endpoint).port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      let at = 0;
      req.on('data', (chunk: Buffer) => {
        if (corrupt && at <= 1000 && at + chunk.length > 1000) {
          chunk = Buffer.from(chunk);
          chunk[1000 - at] = chunk[1000 - at]! ^ 0xff;
          flipped++;
        }
        at += chunk.length;
        up.write(chunk);
      });
      req.on('end', () => up.end());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as { port: number }).port;
      const ploc = s3LocationFrom({ s3Endpoint: `http://127.0.0.1:${port}`, s3AllowHttp: true, s3Bucket: 'backups', s3Prefix: 'etcd/it' }, {})!;
      const s = await openStore(ploc, { env: ENV, partSize: PART });
      try {
        const file = join(root, 'local/corrupted.db');
        randomFile(file, 3 * PART);
        const e = await failure(s.upload(file, 'etcd/it/corrupted.db'));
        assert.equal(flipped, 1, 'the proxy flipped one byte, once: the refusal is not retried');
        assert.match(e.oneLine(), /^uploading part 2 of 3 of .*corrupted\.db to s3:\/\/backups\/etcd\/it\/corrupted\.db failed at http:\/\/127\.0\.0\.1:\d+: 400 (BadDigest|XAmzContentSHA256Mismatch|InvalidDigest)\b/);
        assert.deepEqual(await store.listUploads(''), [], 'the multipart upload is aborted');
        assert.equal(await store.head('etcd/it/corrupted.db'), null, 'no object');
      } finally {
        s.close();
      }
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('HTTPS with a private CA: untrusted without --s3-ca-file (one line), trusted with it', async () => {
    const d = join(root, 'tls');
    mkdirSync(d);
    const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { cwd: d, stdio: 'ignore' });
    sh('openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=s3-test-ca');
    sh(
      'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && ' +
        "printf 'subjectAltName=IP:127.0.0.1\\n' > ext && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext",
    );
    const [port] = await freePorts(1);
    const tls = S3Server.start({ dir: join(root, 'data'), port: port!, runDir: join(root, 'run-tls'), tls: { cert: join(d, 'srv.crt'), key: join(d, 'srv.key') } });
    try {
      const tloc = s3LocationFrom({ s3Endpoint: tls.endpoint, s3Bucket: 'backups' }, {})!;
      const e = await failure(openStore(tloc, { env: ENV }));
      assert.match(e.oneLine(), /^the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\. Pass --s3-ca-file with the CA that signed it$/);
      const s = await openStore({ ...tloc, caFile: join(d, 'ca.crt') }, { env: ENV });
      try {
        assert.deepEqual(await s.list('etcd/it/'), await store.list('etcd/it/'), 'the same bucket over HTTPS');
      } finally {
        s.close();
      }
      const noCa = await failure(openStore({ ...tloc, caFile: join(d, 'missing.crt') }, { env: ENV }));
      assert.match(noCa.oneLine(), /^there is no S3 CA file .*missing\.crt/);
    } finally {
      tls.stop();
    }
  });
});
