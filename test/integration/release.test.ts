/**
 * Release download + install against real release tarballs (the lab mirror), served by a real HTTP server on
 * 127.0.0.1 or read through file:// URLs, into temp cache and install dirs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { Header, type HeaderData } from 'tar';
import { EtcdadmError } from '../../src/errors.js';
import { Logger } from '../../src/log/logger.js';
import {
  downloadRelease,
  etcdBinaryPaths,
  extractedRelease,
  installRelease,
  installedVersion,
  releaseSpec,
  type ReleaseSpec,
} from '../../src/release/index.js';
import { MIRROR_DIR, mirrorTarball } from '../helpers/etcd-bin.js';
import { closedPort } from '../helpers/etcd-server.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();

const ARCHIVE = (v: string) => `etcd-v${v}-linux-amd64.tar.gz`;

let root: string;
let srvRoot: string;
let server: Server;
let base: string;
const requests: string[] = [];

function capture(): { log: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const log = new Logger('debug', 'text', { write: (l) => void lines.push(l), isTTY: false }, 'install');
  return { log, lines, text: () => lines.join('') };
}

let dirCount = 0;
function freshDir(name: string): string {
  const dir = join(root, `${name}-${++dirCount}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function spec(version: string, releaseUrl: string, over: Partial<ReleaseSpec> = {}): ReleaseSpec {
  return releaseSpec({
    version,
    releaseUrl,
    cacheDir: freshDir('cache'),
    installDir: freshDir('opt-bin'),
    connectTimeoutMs: 5000,
    arch: 'amd64',
    ...over,
  });
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A release dir under the served root: <srvRoot>/<prefix>/v<version>/ with the given files. */
function publish(prefix: string, version: string, files: Record<string, string | Buffer | { copy: string }>): void {
  const dir = join(srvRoot, prefix, `v${version}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === 'string' || Buffer.isBuffer(content)) writeFileSync(join(dir, name), content);
    else copyFileSync(content.copy, join(dir, name));
  }
}

function sumsFor(name: string, data: Buffer): string {
  return `${createHash('sha256').update(data).digest('hex')}  ${name}\n`;
}

interface FakeEntry extends HeaderData {
  body?: string;
}

/** A .tar.gz built block by block, so that it can hold entries `tar` itself would refuse to write. */
function tarGz(entries: FakeEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({ mode: 0o755, uid: 0, gid: 0, mtime: new Date(0), type: 'File', ...e, size: body.length });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

function fakeEtcd(reports: string): string {
  return `#!/bin/sh\necho "etcd Version: ${reports}"\necho "Git SHA: fake"\n`;
}

/** Names in a dir with their symlink targets, for "nothing changed" checks. */
function snapshot(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((n) => {
      const p = join(dir, n);
      try {
        return `${n} -> ${readlinkSync(p)}`;
      } catch {
        return n;
      }
    });
}

function assertNoTemps(...dirs: string[]): void {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    const temps = readdirSync(dir, { recursive: true }).map(String).filter((n) => /\.(tmp|part)\b|\.old-|\.tmp-/.test(n));
    assert.deepEqual(temps, [], `temp files left in ${dir}`);
  }
}

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<EtcdadmError> {
  let caught: unknown;
  await p.then(
    () => assert.fail(`expected an error matching ${re}`),
    (err: unknown) => (caught = err),
  );
  assert.ok(caught instanceof EtcdadmError, `not an EtcdadmError: ${String(caught)}`);
  assert.match(caught.oneLine(), re);
  assert.ok(!caught.oneLine().includes('\n'));
  return caught;
}

before(async () => {
  for (const v of ['3.4.23', '3.5.30']) assert.ok(existsSync(mirrorTarball(v)), `no ${mirrorTarball(v)}: run lab/release-mirror.sh`);
  root = mkdtempSync(join(tmpdir(), 'etcdadm-release-'));
  srvRoot = join(root, 'srv');
  // a temp copy of the mirror
  for (const v of ['3.4.23', '3.5.30']) {
    publish('good', v, { [ARCHIVE(v)]: { copy: mirrorTarball(v) }, SHA256SUMS: { copy: join(MIRROR_DIR, `v${v}`, 'SHA256SUMS') } });
  }
  // a byte flipped in the middle, SHA256SUMS unchanged
  const tampered = readFileSync(mirrorTarball('3.5.30'));
  tampered[tampered.length >> 1]! ^= 0xff;
  publish('tampered', '3.5.30', { [ARCHIVE('3.5.30')]: tampered, SHA256SUMS: { copy: join(MIRROR_DIR, 'v3.5.30', 'SHA256SUMS') } });
  publish('nosums', '3.4.23', { [ARCHIVE('3.4.23')]: { copy: mirrorTarball('3.4.23') } });
  // garbage that SHA256SUMS vouches for
  const garbage = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(4096, 0x5a)]);
  publish('corrupt', '3.5.30', { [ARCHIVE('3.5.30')]: garbage, SHA256SUMS: sumsFor(ARCHIVE('3.5.30'), garbage) });

  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    let urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    // /slow/...: the headers at once, the body of a good file after 600 ms
    const slow = urlPath.startsWith('/slow/');
    if (slow) urlPath = urlPath.replace(/^\/slow\//, '/good/');
    const path = join(srvRoot, urlPath);
    if (!path.startsWith(srvRoot + '/') || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': statSync(path).size, 'content-type': 'application/octet-stream' });
    if (!slow) return void createReadStream(path).pipe(res);
    res.flushHeaders();
    setTimeout(() => createReadStream(path).pipe(res), 600);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  base = `http://127.0.0.1:${addr.port}`;
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((ok) => server?.close(ok));
  if (root) rmSync(root, { recursive: true, force: true });
});

// The cache shared by tests that only need a good archive (filled by the first test).
const shared: Record<string, { cacheDir: string; archivePath: string; extractedDir: string }> = {};
/** Install from a raw archive, as download does: its extraction in the cache first (release/cache.ts), then install. */
const installArchive = (s: { version: string; installDir: string }, archive: string, log: Logger) =>
  extractedRelease(HOST, archive, sha256(archive), log).then((dir) => installRelease(HOST, s, dir, log));

test('3.5.30 over http: download, verify, install; then everything from the cache', async (t) => {
  const s = spec('3.5.30', `${base}/good/`);
  const { log, text } = capture();
  requests.length = 0;
  const dl = await downloadRelease(HOST, s, log);
  assert.equal(dl.fromCache, false);
  assert.equal(dl.archivePath, join(s.cacheDir, 'v3.5.30', ARCHIVE('3.5.30')));
  assert.equal(dl.sha256, sha256(mirrorTarball('3.5.30')));
  assert.equal(sha256(dl.archivePath), dl.sha256);
  // the archive, its remembered hash, and its extraction with a stamp (release/cache.ts)
  assert.deepEqual(readdirSync(join(s.cacheDir, 'v3.5.30')).sort(), ['SHA256SUMS', 'etcd-v3.5.30-linux-amd64', 'etcd-v3.5.30-linux-amd64.json', ARCHIVE('3.5.30'), `${ARCHIVE('3.5.30')}.sha256.json`]);
  assert.equal(dl.extractedDir, join(s.cacheDir, 'v3.5.30', 'etcd-v3.5.30-linux-amd64'));
  assert.deepEqual(requests, ['GET /good/v3.5.30/SHA256SUMS', `GET /good/v3.5.30/${ARCHIVE('3.5.30')}`]);

  const inst = await installRelease(HOST, s, dl.extractedDir, log);
  const bins = { etcd: join(s.installDir, 'etcd'), etcdctl: join(s.installDir, 'etcdctl'), etcdutl: join(s.installDir, 'etcdutl') };
  assert.equal(inst.versionDir, join(s.installDir, 'etcd-v3.5.30'));
  assert.deepEqual(inst.binaries, bins);
  assert.equal(inst.extracted, true);
  for (const b of ['etcd', 'etcdctl', 'etcdutl'] as const) {
    assert.equal(readlinkSync(bins[b]), `etcd-v3.5.30/${b}`);
    assert.equal(realpathSync(bins[b]), join(realpathSync(s.installDir), 'etcd-v3.5.30', b));
    assert.equal(statSync(bins[b]).mode & 0o777, 0o755);
  }
  assert.equal(statSync(inst.versionDir).mode & 0o777, 0o755);
  assert.equal(await installedVersion(HOST, bins.etcd), '3.5.30');
  assert.match(execFileSync(bins.etcdctl, ['version']).toString(), /etcdctl version: 3\.5\.30/);
  assert.match(execFileSync(bins.etcdutl, ['version']).toString(), /etcdutl version: 3\.5\.30/);
  assert.deepEqual(readdirSync(s.installDir).sort(), ['etcd', 'etcd-v3.5.30', 'etcdctl', 'etcdutl']);
  for (const b of ['etcd', 'etcdctl', 'etcdutl'])
    assert.equal(statSync(join(inst.versionDir, b)).ino, statSync(join(dl.extractedDir, b)).ino, `${b} is a hard link to the cache's extraction: no data written`);
  const out = text();
  assert.match(out, new RegExp(`\\[install\\] Downloading etcd v3\\.5\\.30 from ${base}/good/v3\\.5\\.30/${ARCHIVE('3.5.30')}`));
  assert.match(out, /\[install\] Verified SHA-256 of etcd-v3\.5\.30-linux-amd64\.tar\.gz/);
  assert.match(out, new RegExp(`\\[install\\] Installed etcd v3\\.5\\.30 to ${s.installDir}\\n`));

  // Second time: the cache, no request at all; the installed version is not extracted again.
  const second = capture();
  requests.length = 0;
  const dl2 = await downloadRelease(HOST, s, second.log);
  assert.deepEqual(requests, []);
  assert.deepEqual(dl2, { ...dl, fromCache: true });
  assert.match(second.text(), /Using the cached etcd v3\.5\.30 archive/);
  const inst2 = await installRelease(HOST, s, dl2.extractedDir, second.log);
  assert.equal(inst2.extracted, false);
  assert.match(second.text(), /etcd v3\.5\.30 is already installed in .*etcd-v3\.5\.30; nothing to copy/);
  assert.equal(await installedVersion(HOST, bins.etcd), '3.5.30');

  // Timing: verify + extract + install of 3.5.30 from the cache into an empty install dir.
  const timed = { ...s, installDir: freshDir('opt-bin-timed') };
  const t0 = performance.now();
  const dl3 = await downloadRelease(HOST, timed, capture().log);
  const t1 = performance.now();
  await installRelease(HOST, timed, dl3.extractedDir, capture().log);
  const t2 = performance.now();
  assert.deepEqual(requests, []);
  t.diagnostic(`cached 3.5.30: verify ${(t1 - t0).toFixed(0)} ms + extract/install ${(t2 - t1).toFixed(0)} ms = ${(t2 - t0).toFixed(0)} ms`);
  shared['3.5.30'] = { cacheDir: s.cacheDir, archivePath: dl.archivePath, extractedDir: dl.extractedDir };
});

test('a version dir with a missing binary is re-extracted and replaced atomically', async () => {
  const { cacheDir, extractedDir } = shared['3.5.30']!;
  const s = spec('3.5.30', `${base}/good`, { cacheDir });
  await installRelease(HOST, s, extractedDir, capture().log);
  rmSync(join(s.installDir, 'etcd-v3.5.30', 'etcdctl'));
  const again = await installRelease(HOST, s, extractedDir, capture().log);
  assert.equal(again.extracted, true);
  assert.match(execFileSync(again.binaries.etcdctl, ['version']).toString(), /3\.5\.30/);
  assert.deepEqual(readdirSync(s.installDir).sort(), ['etcd', 'etcd-v3.5.30', 'etcdctl', 'etcdutl']);
});

test('the cache remembers: an unchanged archive is not hashed again, a changed one is; a changed extraction is redone', async () => {
  const { cacheDir, archivePath, extractedDir } = shared['3.5.30']!;
  const s = spec('3.5.30', `${base}/good`, { cacheDir });
  const stampPath = `${archivePath}.sha256.json`;
  const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { sha256: string; size: number; mtimeMs: number };
  assert.equal(stamp.sha256, sha256(archivePath));
  // the remembered hash is what is compared while the file is unchanged: a wrong one (same size and mtime) fails the
  // check like a wrong file would, and the archive is downloaded again — never trusted past its SHA256SUMS
  writeFileSync(stampPath, JSON.stringify({ ...stamp, sha256: 'f'.repeat(64) }));
  requests.length = 0;
  const { log, text } = capture();
  const again = await downloadRelease(HOST, s, log);
  assert.match(text(), /does not match its SHA-256; downloading it again/);
  assert.deepEqual(requests, ['GET /good/v3.5.30/SHA256SUMS', `GET /good/v3.5.30/${ARCHIVE('3.5.30')}`]);
  assert.equal(JSON.parse(readFileSync(stampPath, 'utf8')).sha256, again.sha256, 'the new download is remembered');
  // touched (mtime changed, same bytes): hashed again, still good, no request
  const later = new Date(Date.now() + 5000);
  utimesSync(archivePath, later, later);
  requests.length = 0;
  const touched = await downloadRelease(HOST, s, capture().log);
  assert.deepEqual(requests, []);
  assert.equal(touched.sha256, again.sha256);
  assert.equal(JSON.parse(readFileSync(stampPath, 'utf8')).mtimeMs, statSync(archivePath).mtimeMs);
  // a binary of the extraction changed in place: extracted again before anything is installed from it
  const inode = statSync(join(extractedDir, 'etcd')).ino;
  writeFileSync(join(extractedDir, 'etcdctl'), '#!/bin/sh\necho tampered\n');
  const redone = await downloadRelease(HOST, s, capture().log);
  assert.equal(redone.extractedDir, extractedDir);
  assert.notEqual(statSync(join(extractedDir, 'etcd')).ino, inode, 'a new extraction');
  assert.match(execFileSync(join(extractedDir, 'etcdctl'), ['version']).toString(), /etcdctl version: 3\.5\.30/);
});

test('a cached archive that fails verification is downloaded again', async () => {
  const s = spec('3.5.30', `${base}/good`);
  const first = await downloadRelease(HOST, s, capture().log);
  const bytes = readFileSync(first.archivePath);
  bytes[1000]! ^= 0x01;
  writeFileSync(first.archivePath, bytes);
  const { log, text } = capture();
  requests.length = 0;
  const again = await downloadRelease(HOST, s, log);
  assert.equal(again.fromCache, false);
  assert.equal(again.sha256, first.sha256);
  assert.equal(sha256(again.archivePath), first.sha256);
  assert.match(text(), /The cached etcd-v3\.5\.30-linux-amd64\.tar\.gz does not match its SHA-256; downloading it again/);
  assert.equal(requests.filter((r) => r.endsWith('.tar.gz')).length, 1);
  assertNoTemps(s.cacheDir);
});

test('3.4.23 over http: no etcdutl', async () => {
  const s = spec('3.4.23', `${base}/good`);
  const dl = await downloadRelease(HOST, s, capture().log);
  const inst = await installRelease(HOST, s, dl.extractedDir, capture().log);
  assert.deepEqual(inst.binaries, { etcd: join(s.installDir, 'etcd'), etcdctl: join(s.installDir, 'etcdctl') });
  assert.equal(await installedVersion(HOST, inst.binaries.etcd), '3.4.23');
  assert.deepEqual(readdirSync(s.installDir).sort(), ['etcd', 'etcd-v3.4.23', 'etcdctl']);
  shared['3.4.23'] = { cacheDir: s.cacheDir, archivePath: dl.archivePath, extractedDir: dl.extractedDir };
});

test('file:// release URLs: 3.5.30 and 3.4.23 straight from disk, same verification and cache', async () => {
  for (const v of ['3.5.30', '3.4.23']) {
    const s = spec(v, pathToFileURL(MIRROR_DIR).href + '/');
    const { log, text } = capture();
    requests.length = 0;
    const dl = await downloadRelease(HOST, s, log);
    assert.equal(dl.fromCache, false);
    assert.equal(dl.sha256, sha256(mirrorTarball(v)));
    assert.match(text(), new RegExp(`Downloading etcd v${v.replace(/\./g, '\\.')} from file://${MIRROR_DIR}/v${v}/`));
    assert.match(text(), /Verified SHA-256/);
    const inst = await installRelease(HOST, s, dl.extractedDir, log);
    assert.equal(await installedVersion(HOST, inst.binaries.etcd), v);
    assert.equal((await downloadRelease(HOST, s, capture().log)).fromCache, true);
    assert.deepEqual(requests, []);
  }
  // a version that is not there
  await rejectsWith(
    downloadRelease(HOST, spec('3.5.99', pathToFileURL(MIRROR_DIR).href), capture().log),
    new RegExp(`etcd v3\\.5\\.99 not found at file://${MIRROR_DIR}/v3\\.5\\.99/etcd-v3\\.5\\.99-linux-amd64\\.tar\\.gz`),
  );
});

test('tampered archive: SHA-256 mismatch, deleted from the cache, nothing installed', async () => {
  const s = spec('3.5.30', `${base}/tampered`);
  const expected = sha256(mirrorTarball('3.5.30'));
  const actual = sha256(join(srvRoot, 'tampered', 'v3.5.30', ARCHIVE('3.5.30')));
  const err = await rejectsWith(
    downloadRelease(HOST, s, capture().log),
    new RegExp(`SHA-256 mismatch for etcd-v3\\.5\\.30-linux-amd64\\.tar\\.gz: expected ${expected}, got ${actual}`),
  );
  assert.match(err.oneLine(), /tampered/);
  assert.deepEqual(readdirSync(join(s.cacheDir, 'v3.5.30')), [], 'the mismatching archive is not kept in the cache');
});

test('missing SHA256SUMS: an error, unless skipHashCheck (with a warning)', async () => {
  const s = spec('3.4.23', `${base}/nosums`);
  requests.length = 0;
  await rejectsWith(
    downloadRelease(HOST, s, capture().log),
    new RegExp(`Cannot verify etcd-v3\\.4\\.23-linux-amd64\\.tar\\.gz: no SHA256SUMS at ${base}/nosums/v3\\.4\\.23/SHA256SUMS.*--skip-hash-check`),
  );
  assert.ok(!existsSync(join(s.cacheDir, 'v3.4.23', ARCHIVE('3.4.23'))));
  assertNoTemps(s.cacheDir);

  const skip = { ...s, skipHashCheck: true };
  const { log, text } = capture();
  const dl = await downloadRelease(HOST, skip, log);
  assert.equal(dl.sha256, sha256(mirrorTarball('3.4.23')));
  assert.match(text(), /WARN .*Not verifying etcd-v3\.4\.23-linux-amd64\.tar\.gz: no SHA256SUMS at .*the hash check is skipped/);
  assert.doesNotMatch(text(), /Verified SHA-256/);
  const inst = await installRelease(HOST, skip, dl.extractedDir, log);
  assert.equal(await installedVersion(HOST, inst.binaries.etcd), '3.4.23');
  // cached: used without a request while the hash check is skipped...
  requests.length = 0;
  const again = capture();
  assert.equal((await downloadRelease(HOST, skip, again.log)).fromCache, true);
  assert.deepEqual(requests, []);
  assert.match(again.text(), /WARN .*Not verifying/);
  // ...but not once it is required again
  await rejectsWith(downloadRelease(HOST, s, capture().log), /Cannot verify .*no SHA256SUMS/);
});

test('unknown version: "etcd vX not found at <url>"', async () => {
  const s = spec('3.5.99', `${base}/good`);
  const err = await rejectsWith(
    downloadRelease(HOST, s, capture().log),
    new RegExp(`^etcd v3\\.5\\.99 not found at ${base}/good/v3\\.5\\.99/etcd-v3\\.5\\.99-linux-amd64\\.tar\\.gz\\. Check --version .* and --release-url$`),
  );
  assert.equal(err.exitCode, 1);
  assertNoTemps(s.cacheDir);
});

test('corrupt archive that matches SHA256SUMS: extraction error, install dir unchanged', async () => {
  const s = spec('3.5.30', `${base}/corrupt`);
  const old = shared['3.4.23']!;
  await installRelease(HOST, { ...s, version: '3.4.23' }, old.extractedDir, capture().log);
  const before = snapshot(s.installDir);
  // it matches its SHA256SUMS, so it is cached; extracting it (part of the download) fails, leaving nothing behind
  await rejectsWith(downloadRelease(HOST, s, capture().log), /Cannot extract .*etcd-v3\.5\.30-linux-amd64\.tar\.gz: the archive is corrupt/);
  assert.deepEqual(readdirSync(join(s.cacheDir, 'v3.5.30')).filter((n) => n.startsWith('.') || !/\.(gz|json)$|SHA256SUMS/.test(n)), [], 'no extraction left in the cache');
  assert.deepEqual(snapshot(s.installDir), before);
  assert.equal(await installedVersion(HOST, join(s.installDir, 'etcd')), '3.4.23');

  // a truncated real archive
  const truncated = join(freshDir('trunc'), ARCHIVE('3.5.30'));
  const full = readFileSync(shared['3.5.30']!.archivePath);
  writeFileSync(truncated, full.subarray(0, full.length >> 1));
  await rejectsWith(installArchive(s, truncated, capture().log), /Cannot extract .*: the archive is corrupt \(unexpected end of file/);
  assert.deepEqual(snapshot(s.installDir), before);
  assertNoTemps(s.installDir);
});

test('unreachable server: one line naming the URL and the cause', async () => {
  const port = await closedPort();
  const s = spec('3.5.30', `http://127.0.0.1:${port}/etcd`);
  await rejectsWith(
    downloadRelease(HOST, s, capture().log),
    new RegExp(`^Cannot reach http://127\\.0\\.0\\.1:${port}/etcd/v3\\.5\\.30/SHA256SUMS: connection refused \\(ECONNREFUSED\\)\\. Check --release-url`),
  );
  assertNoTemps(s.cacheDir);
});

test('connect timeout: a server that accepts and never answers', async () => {
  const sockets = new Set<Socket>();
  const silent: TcpServer = createTcpServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
  const port = (silent.address() as { port: number }).port;
  try {
    const s = spec('3.5.30', `http://127.0.0.1:${port}`, { connectTimeoutMs: 300 });
    await rejectsWith(
      downloadRelease(HOST, s, capture().log),
      new RegExp(`^Cannot download http://127\\.0\\.0\\.1:${port}/v3\\.5\\.30/SHA256SUMS: no response within 0\\.3s\\.`),
    );
  } finally {
    for (const sock of sockets) sock.destroy();
    await new Promise((ok) => silent.close(ok));
  }
});

test('the connect timeout covers the headers only: a slow body is fine', async () => {
  // the server sends the headers at once and the body over more than a second: a timeout that covered the body
  // (300 ms) would fail this download
  const s = spec('3.4.23', `${base}/slow`, { connectTimeoutMs: 300 });
  const dl = await downloadRelease(HOST, s, capture().log);
  assert.equal(dl.sha256, sha256(mirrorTarball('3.4.23')));
});

test('upgrade 3.4.23 -> 3.5.30 switches the symlinks; downgrade removes the stale etcdutl link', async () => {
  const installDir = freshDir('opt-bin-upgrade');
  const v34 = shared['3.4.23']!;
  const v35 = shared['3.5.30']!;
  const bins = etcdBinaryPaths(installDir);
  await installRelease(HOST, { version: '3.4.23', installDir }, v34.extractedDir, capture().log);
  assert.equal(await installedVersion(HOST, bins.etcd), '3.4.23');
  const oldEtcd = join(installDir, 'etcd-v3.4.23', 'etcd');
  const oldSum = sha256(oldEtcd);

  await installRelease(HOST, { version: '3.5.30', installDir }, v35.extractedDir, capture().log);
  assert.equal(await installedVersion(HOST, bins.etcd), '3.5.30');
  assert.equal(readlinkSync(bins.etcdctl), 'etcd-v3.5.30/etcdctl');
  assert.equal(readlinkSync(bins.etcdutl), 'etcd-v3.5.30/etcdutl');
  // the old version stays complete (rollback, and a running 3.4 member keeps its binary)
  assert.equal(sha256(oldEtcd), oldSum);
  assert.equal(await installedVersion(HOST, oldEtcd), '3.4.23');
  assert.deepEqual(readdirSync(installDir).sort(), ['etcd', 'etcd-v3.4.23', 'etcd-v3.5.30', 'etcdctl', 'etcdutl']);

  const { log, text } = capture();
  const back = await installRelease(HOST, { version: '3.4.23', installDir }, v34.extractedDir, log);
  assert.equal(back.extracted, false);
  assert.equal(await installedVersion(HOST, bins.etcd), '3.4.23');
  assert.equal(readlinkSync(bins.etcdctl), 'etcd-v3.4.23/etcdctl');
  assert.ok(!existsSync(bins.etcdutl) && !readdirSync(installDir).includes('etcdutl'));
  assert.match(text(), /Removed .*etcdutl: etcd v3\.4\.23 has no etcdutl/);
  assertNoTemps(installDir);
});

test('a release whose etcd reports another version is refused before any symlink moves', async () => {
  const installDir = freshDir('opt-bin-mislabelled');
  await installRelease(HOST, { version: '3.4.23', installDir }, shared['3.4.23']!.extractedDir, capture().log);
  const before = snapshot(installDir);
  const archive = join(freshDir('fake'), ARCHIVE('9.9.9'));
  writeFileSync(
    archive,
    tarGz([
      { path: 'etcd-v9.9.9-linux-amd64/', type: 'Directory' },
      { path: 'etcd-v9.9.9-linux-amd64/etcd', body: fakeEtcd('3.5.30') },
      { path: 'etcd-v9.9.9-linux-amd64/etcdctl', body: '#!/bin/sh\n' },
    ]),
  );
  await rejectsWith(
    installArchive({ version: '9.9.9', installDir }, archive, capture().log),
    /The etcd binary of etcd v9\.9\.9 reports version 3\.5\.30, not 9\.9\.9/,
  );
  assert.deepEqual(snapshot(installDir), before);
  assert.equal(await installedVersion(HOST, join(installDir, 'etcd')), '3.4.23');

  // missing etcdctl
  writeFileSync(archive, tarGz([{ path: 'etcd-v9.9.9-linux-amd64/etcd', body: fakeEtcd('9.9.9') }]));
  await rejectsWith(installArchive({ version: '9.9.9', installDir }, archive, capture().log), /has no etcdctl binary/);
  assert.deepEqual(snapshot(installDir), before);

  // a well-formed fake is installed (shows the checks above were the only obstacle)
  writeFileSync(
    archive,
    tarGz([
      { path: 'etcd-v9.9.9-linux-amd64/etcd', body: fakeEtcd('9.9.9') },
      { path: 'etcd-v9.9.9-linux-amd64/etcdctl', body: '#!/bin/sh\n' },
      { path: 'etcd-v9.9.9-linux-amd64/docs/README.md', body: '# etcd\n' },
    ]),
  );
  const inst = await installArchive({ version: '9.9.9', installDir }, archive, capture().log);
  assert.equal(await installedVersion(HOST, inst.binaries.etcd), '9.9.9');
  assertNoTemps(installDir);
});

test('archive entries that escape the install dir are refused', async () => {
  const installDir = freshDir('opt-bin-unsafe');
  const parent = join(installDir, '..');
  const good = [
    { path: 'etcd-v9.9.9-linux-amd64/etcd', body: fakeEtcd('9.9.9') },
    { path: 'etcd-v9.9.9-linux-amd64/etcdctl', body: '#!/bin/sh\n' },
  ];
  const cases: Array<[string, FakeEntry, RegExp]> = [
    ['dotdot', { path: 'etcd-v9.9.9-linux-amd64/../../evil-dotdot', body: 'x' }, /contains "\.\."/],
    ['symlink', { path: 'etcd-v9.9.9-linux-amd64/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }, /passwd: a symbolic link \(etcd releases hold only files and directories\)/],
    ['relsymlink', { path: 'etcd-v9.9.9-linux-amd64/up', type: 'SymbolicLink', linkpath: '../../..' }, /up: a symbolic link/],
    ['inside-symlink', { path: 'etcd-v9.9.9-linux-amd64/docs/etcd', type: 'SymbolicLink', linkpath: '../etcd' }, /docs\/etcd: a symbolic link/],
    ['hardlink', { path: 'etcd-v9.9.9-linux-amd64/h', type: 'Link', linkpath: '../evil-hard' }, /h: a hard link/],
    ['absolute', { path: '/tmp/evil-absolute', body: 'x' }, /absolute path/],
  ];
  const before = snapshot(installDir);
  for (const [name, entry, re] of cases) {
    const archive = join(freshDir(`unsafe-${name}`), ARCHIVE('9.9.9'));
    writeFileSync(archive, tarGz([...good, entry]));
    await rejectsWith(installArchive({ version: '9.9.9', installDir }, archive, capture().log), new RegExp(`Refusing to install .*${re.source}`));
    assert.deepEqual(snapshot(installDir), before, name);
  }
  assert.ok(!readdirSync(parent).some((n) => n.startsWith('evil')));
  assert.ok(!existsSync('/tmp/evil-absolute'));
});
