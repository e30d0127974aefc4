import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EtcdadmError } from '../../src/errors.js';
import {
  etcdBinaryPaths,
  expectedSha256,
  parseSha256Sums,
  releaseSpec,
  releaseUrls,
  validateVersion,
} from '../../src/release/index.js';
import { formatSeconds, displayUrl } from '../../src/release/fetch.js';
import { unsafeEntry } from '../../src/release/cache.js';

const H1 = 'a'.repeat(64);
const H2 = '0123456789abcdef'.repeat(4);

test('releaseUrls: upstream GitHub layout by default', () => {
  const spec = releaseSpec({ version: '3.5.30', arch: 'amd64' });
  assert.equal(spec.releaseUrl, 'https://github.com/etcd-io/etcd/releases/download');
  assert.deepEqual(releaseUrls(spec), {
    archive: 'https://github.com/etcd-io/etcd/releases/download/v3.5.30/etcd-v3.5.30-linux-amd64.tar.gz',
    sums: 'https://github.com/etcd-io/etcd/releases/download/v3.5.30/SHA256SUMS',
    archiveName: 'etcd-v3.5.30-linux-amd64.tar.gz',
  });
});

test('releaseUrls: trailing slashes, ports, paths, file:// and arm64', () => {
  const cases: Array<[string, string]> = [
    ['http://127.0.0.1:8080/mirror/', 'http://127.0.0.1:8080/mirror/v3.4.23'],
    ['http://127.0.0.1:8080/mirror///', 'http://127.0.0.1:8080/mirror/v3.4.23'],
    ['https://mirror.example.com', 'https://mirror.example.com/v3.4.23'],
    ['file:///var/cache/etcdadm-lab/mirror', 'file:///var/cache/etcdadm-lab/mirror/v3.4.23'],
    ['file:///var/cache/etcdadm-lab/mirror/', 'file:///var/cache/etcdadm-lab/mirror/v3.4.23'],
    ['  HTTPS://Mirror.example.com/etcd/  ', 'HTTPS://Mirror.example.com/etcd/v3.4.23'],
  ];
  for (const [releaseUrl, dir] of cases) {
    const urls = releaseUrls({ version: '3.4.23', releaseUrl, arch: 'arm64' });
    assert.equal(urls.archive, `${dir}/etcd-v3.4.23-linux-arm64.tar.gz`, releaseUrl);
    assert.equal(urls.sums, `${dir}/SHA256SUMS`, releaseUrl);
    assert.equal(urls.archiveName, 'etcd-v3.4.23-linux-arm64.tar.gz');
  }
});

test('releaseUrls: the default arch follows the host', () => {
  const urls = releaseUrls({ version: '3.5.30', releaseUrl: 'http://x' });
  assert.equal(urls.archiveName, `etcd-v3.5.30-linux-${process.arch === 'arm64' ? 'arm64' : 'amd64'}.tar.gz`);
});

test('releaseUrls: rejects other schemes and bad arches', () => {
  for (const releaseUrl of ['ftp://example.com', '/var/cache/mirror', 'example.com/etcd', 'http://', '']) {
    assert.throws(() => releaseUrls({ version: '3.5.30', releaseUrl, arch: 'amd64' }), EtcdadmError, releaseUrl);
  }
  assert.throws(
    () => releaseUrls({ version: '3.5.30', releaseUrl: 'http://x', arch: 'ppc64le' as 'amd64' }),
    /Unsupported architecture/,
  );
});

test('validateVersion: X.Y.Z with an optional prerelease, a leading v dropped', () => {
  assert.equal(validateVersion('3.5.30'), '3.5.30');
  assert.equal(validateVersion('v3.4.23'), '3.4.23');
  assert.equal(validateVersion('3.6.0-rc.1'), '3.6.0-rc.1');
  assert.equal(validateVersion('3.6.0-alpha.0'), '3.6.0-alpha.0');
  for (const bad of ['', '3.5', '3.5.30.1', '03.5.30', '3.5.x', 'latest', 'vv3.5.30', '3.5.30-', '3.5.30+build', '3.5.30/../x', '../3.5.30']) {
    assert.throws(() => validateVersion(bad), (err: unknown) => {
      assert.ok(err instanceof EtcdadmError);
      assert.match(err.oneLine(), /Invalid etcd version .*Use a release version like 3\.5\.30/);
      return true;
    }, bad);
  }
});

test('releaseSpec: fills defaults, keeps given fields, rejects a bad timeout', () => {
  const spec = releaseSpec({ version: 'v3.5.30', installDir: '/tmp/x', arch: undefined });
  assert.equal(spec.version, '3.5.30');
  assert.equal(spec.installDir, '/tmp/x');
  assert.equal(spec.cacheDir, '/var/cache/etcdadm/etcd');
  assert.equal(spec.connectTimeoutMs, 10000);
  assert.equal(spec.skipHashCheck, false);
  assert.ok(!('arch' in spec));
  assert.throws(() => releaseSpec({ version: '3.5.30', connectTimeoutMs: 0 }), /Invalid connect timeout/);
});

test('etcdBinaryPaths: the stable names in the install dir', () => {
  assert.deepEqual(etcdBinaryPaths('/opt/bin'), {
    etcd: '/opt/bin/etcd',
    etcdctl: '/opt/bin/etcdctl',
    etcdutl: '/opt/bin/etcdutl',
  });
});

test('parseSha256Sums: text and binary forms, several lines, CRLF, comments, BSD tags', () => {
  const text = [
    `${H1}  etcd-v3.5.30-linux-amd64.tar.gz`,
    `${H2.toUpperCase()} *etcd-v3.5.30-linux-arm64.tar.gz\r`,
    '# a comment',
    '',
    'garbage line',
    `${H2}  ./etcd-v3.5.30-darwin-amd64.zip`,
    `SHA256 (etcd-v3.5.30-windows-amd64.zip) = ${H1}`,
    `${H1} etcd-single-space.tar.gz`,
  ].join('\n');
  assert.deepEqual(parseSha256Sums(text), [
    { sha256: H1, name: 'etcd-v3.5.30-linux-amd64.tar.gz' },
    { sha256: H2, name: 'etcd-v3.5.30-linux-arm64.tar.gz' },
    { sha256: H2, name: 'etcd-v3.5.30-darwin-amd64.zip' },
    { sha256: H1, name: 'etcd-v3.5.30-windows-amd64.zip' },
    { sha256: H1, name: 'etcd-single-space.tar.gz' },
  ]);
  assert.equal(expectedSha256(text, 'etcd-v3.5.30-linux-amd64.tar.gz'), H1);
  assert.equal(expectedSha256(text, 'etcd-v3.5.30-linux-arm64.tar.gz'), H2);
  assert.equal(expectedSha256(text, 'etcd-v3.5.29-linux-amd64.tar.gz'), undefined);
  // a name that is only a suffix of a listed name does not match
  assert.equal(expectedSha256(text, 'linux-amd64.tar.gz'), undefined);
});

test('expectedSha256: the same name with two hashes is an error, a repeated identical line is fine', () => {
  const name = 'etcd-v3.5.30-linux-amd64.tar.gz';
  assert.equal(expectedSha256(`${H1}  ${name}\n${H1} *${name}\n`, name), H1);
  assert.throws(() => expectedSha256(`${H1}  ${name}\n${H2}  ${name}\n`, name), /2 different SHA-256 hashes/);
});

test('unsafeEntry: entries must stay inside the release directory', () => {
  const top = 'etcd-v3.5.30-linux-amd64';
  assert.equal(unsafeEntry(`${top}/`, 'Directory', undefined), undefined);
  assert.equal(unsafeEntry(`${top}/etcd`, 'File', undefined), undefined);
  assert.equal(unsafeEntry(`${top}/Documentation/a.md`, 'File', undefined), undefined);
  // links are refused altogether: etcd releases hold none, and a chain of them (a/b -> .., then through it) escapes
  assert.match(unsafeEntry(`${top}/etcd-latest`, 'SymbolicLink', 'etcd') ?? '', /a symbolic link \(etcd releases hold only files and directories\)/);
  assert.match(unsafeEntry(`${top}/a/b`, 'SymbolicLink', '..') ?? '', /a symbolic link/);
  assert.match(unsafeEntry(`${top}/etcd2`, 'Link', `${top}/etcd`) ?? '', /a hard link/);
  assert.match(unsafeEntry('/etc/passwd', 'File', undefined) ?? '', /absolute path/);
  assert.match(unsafeEntry(`${top}/../../evil`, 'File', undefined) ?? '', /contains "\.\."/);
  assert.match(unsafeEntry(`${top}/x`, 'SymbolicLink', '/etc/passwd') ?? '', /a symbolic link/);
  assert.match(unsafeEntry(`${top}/x`, 'Link', '../etc/passwd') ?? '', /hard link/);
  assert.match(unsafeEntry(`${top}/dev`, 'CharacterDevice', undefined) ?? '', /unsupported entry type/);
});

test('formatSeconds and displayUrl', () => {
  assert.equal(formatSeconds(10000), '10s');
  assert.equal(formatSeconds(300), '0.3s');
  assert.equal(formatSeconds(1500), '1.5s');
  assert.equal(displayUrl('https://user:secret@example.com/x'), 'https://user:***@example.com/x');
  assert.equal(displayUrl('http://127.0.0.1:1/x'), 'http://127.0.0.1:1/x');
});
