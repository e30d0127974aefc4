/**
 * The pure parts of S3 storage: the --s3-* options into a location (each bad value one line, exit code 2),
 * s3:// URLs, the credentials file format and the environment variables, key encoding and S3's XML.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdadmError } from '../../src/errors.js';
import { credentialsFromEnv, parseCredentials } from '../../src/s3/credentials.js';
import { parseS3Url, s3LocationFrom, s3Options, s3Url, snapshotKey } from '../../src/s3/location.js';
import { encodeKey, xmlBlocks, xmlTag } from '../../src/s3/store.js';
import { snapshotName, snapshotSeries } from '../../src/snapshot/catalog.js';

function line(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EtcdadmError);
    assert.equal(err.exitCode, 2);
    assert.doesNotMatch(err.oneLine(), /\n/);
    return err.oneLine();
  }
  assert.fail('must throw');
}

describe('s3LocationFrom', () => {
  it('no --s3-* option: no location', () => {
    assert.equal(s3LocationFrom({}, {}), undefined);
    assert.equal(s3LocationFrom({ s3PathStyle: false }, {}), undefined);
  });
  it('AWS by default: the regional endpoint, virtual-hosted, region from the flag, then AWS_REGION, AWS_DEFAULT_REGION, us-east-1', () => {
    assert.deepEqual(s3LocationFrom({ s3Bucket: 'backups' }, {}), { endpoint: 'https://s3.us-east-1.amazonaws.com', bucket: 'backups', prefix: '', region: 'us-east-1', pathStyle: false });
    assert.equal(s3LocationFrom({ s3Bucket: 'backups' }, { AWS_DEFAULT_REGION: 'eu-west-1' })!.region, 'eu-west-1');
    assert.equal(s3LocationFrom({ s3Bucket: 'backups' }, { AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'eu-west-1' })!.region, 'eu-central-1');
    const l = s3LocationFrom({ s3Bucket: 'backups', s3Region: 'ap-south-1' }, { AWS_REGION: 'eu-central-1' })!;
    assert.equal(l.region, 'ap-south-1');
    assert.equal(l.endpoint, 'https://s3.ap-south-1.amazonaws.com');
  });
  it('a custom endpoint: its origin; path style when asked, for an IP address, localhost, or a dotted bucket', () => {
    const l = s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'https://minio.example.com:9000/', s3Prefix: '/etcd/prod', s3CaFile: 'ca.pem', s3CredentialsFile: '/etc/etcd/s3.env' }, {})!;
    assert.equal(l.endpoint, 'https://minio.example.com:9000');
    assert.equal(l.pathStyle, false);
    assert.equal(l.prefix, 'etcd/prod/');
    assert.match(l.caFile!, /^\/.*\/ca\.pem$/);
    assert.equal(l.credentialsFile, '/etc/etcd/s3.env');
    assert.equal(s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'https://s3.example.com', s3PathStyle: true }, {})!.pathStyle, true);
    assert.equal(s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'http://10.88.0.200:9000', s3AllowHttp: true }, {})!.pathStyle, true);
    assert.equal(s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'http://[fd00::1]:9000', s3AllowHttp: true }, {})!.pathStyle, true);
    assert.equal(s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'http://localhost:9000', s3AllowHttp: true }, {})!.pathStyle, true);
    assert.equal(s3LocationFrom({ s3Bucket: 'my.backups', s3Endpoint: 'https://s3.example.com' }, {})!.pathStyle, true);
    assert.equal(s3LocationFrom({ s3Bucket: 'b-1', s3Prefix: 'a/b/' }, {})!.prefix, 'a/b/');
    assert.equal(s3LocationFrom({ s3Bucket: 'b-1', s3Prefix: '' }, {})!.prefix, '');
  });
  it('bad values: one line each, exit code 2', () => {
    assert.equal(line(() => s3LocationFrom({ s3Prefix: 'x', s3CaFile: 'ca.pem' }, {})), '--s3-prefix, --s3-ca-file given without --s3-bucket. Name the bucket with --s3-bucket, or leave the --s3-* options out to keep snapshots on this host only');
    assert.equal(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'not a url' }, {})), 'invalid --s3-endpoint "not a url": not a URL; give http(s)://host[:port]');
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'ftp://h' }, {})), /scheme must be https or http, not ftp/);
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'https://k:s@h' }, {})), /credentials do not belong in the URL/);
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3Endpoint: 'https://h/bucket' }, {})), /give only http\(s\):\/\/host\[:port\]/);
    for (const b of ['B', 'ab', 'a_b', '-ab', 'a..b', '192.168.1.1', 'x'.repeat(64)]) assert.match(line(() => s3LocationFrom({ s3Bucket: b }, {})), /^invalid --s3-bucket ".*": a bucket name is 3-63/);
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3Prefix: 'a/../b' }, {})), /^invalid --s3-prefix "a\/\.\.\/b": no '\.' or '\.\.' segments/);
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3Region: 'eu west' }, {})), /^invalid --s3-region "eu west"/);
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1' }, { AWS_REGION: 'a/b' })), /^invalid AWS_REGION "a\/b"/);
    assert.match(line(() => s3LocationFrom({ s3Bucket: 'b-1', s3CredentialsFile: '' }, {})), /^invalid --s3-credentials-file ""/);
  });
  it('the options: one definition, no credential among them', () => {
    const names = s3Options().map((o) => o.long);
    assert.deepEqual(names, ['--s3-endpoint', '--s3-bucket', '--s3-prefix', '--s3-region', '--s3-path-style', '--s3-ca-file', '--s3-allow-http', '--s3-credentials-file']);
    assert.ok(!names.some((n) => /secret|key-id|token/.test(n!)));
  });
});

describe('parseS3Url', () => {
  it('bucket and whole key; endpoint, region, CA and credentials from the options; the prefix does not apply', () => {
    const r = parseS3Url('s3://backups/etcd/prod/etcd-snapshot-a-1.db', { s3Endpoint: 'http://10.88.0.200:9000', s3AllowHttp: true, s3Prefix: 'other/', s3CredentialsFile: '/root/s3' }, {});
    assert.equal(r.key, 'etcd/prod/etcd-snapshot-a-1.db');
    assert.deepEqual(r.location, { endpoint: 'http://10.88.0.200:9000', bucket: 'backups', prefix: '', region: 'us-east-1', pathStyle: true, allowHttp: true, credentialsFile: '/root/s3' });
    assert.equal(parseS3Url('s3://backups/a.db', { s3Bucket: 'backups' }, {}).key, 'a.db');
  });
  it('bad URLs: one line', () => {
    for (const u of ['backups/a.db', 's3://backups', 's3://backups/', 's3://backups/dir/', 'https://backups/a.db']) assert.match(line(() => parseS3Url(u, {}, {})), /^invalid snapshot URL/);
    assert.match(line(() => parseS3Url('s3://A_B/a.db', {}, {})), /^invalid snapshot URL "A_B": a bucket name/);
    assert.equal(line(() => parseS3Url('s3://backups/a.db', { s3Bucket: 'other' }, {})), '--s3-bucket "other" and the snapshot URL\'s bucket "backups" differ. Leave --s3-bucket out, or make them the same');
  });
  it('s3Url and snapshotKey', () => {
    assert.equal(s3Url({ bucket: 'b-1' }, 'p/x.db'), 's3://b-1/p/x.db');
    assert.equal(snapshotKey({ prefix: 'p/' }, 'x.db'), 'p/x.db');
  });
});

describe('credentials', () => {
  it('key=value lines, comments, quotes, export, any case; an AWS shared-credentials file with one profile', () => {
    assert.deepEqual(parseCredentials('# etcd backups\nAWS_ACCESS_KEY_ID=AKIA1\nexport AWS_SECRET_ACCESS_KEY="s/e+cret="\n\n', 'f'), { accessKeyId: 'AKIA1', secretAccessKey: 's/e+cret=' });
    assert.deepEqual(parseCredentials('[default]\naws_access_key_id = AKIA2\naws_secret_access_key = sec\naws_session_token = tok\nregion = eu-west-1\n', 'f'), { accessKeyId: 'AKIA2', secretAccessKey: 'sec', sessionToken: 'tok' });
  });
  it('a bad file: one line that names the line, never a value', () => {
    const l = (t: string) => line(() => parseCredentials(t, '/etc/etcd/s3.env'));
    assert.equal(l('AWS_ACCESS_KEY_ID=AKIA1\n'), 'invalid S3 credentials file /etc/etcd/s3.env: no AWS_SECRET_ACCESS_KEY. Write AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=... (and AWS_SESSION_TOKEN=...) lines, mode 0600');
    assert.match(l('AWS_SECRET_ACCESS_KEY=topsecret\n'), /no AWS_ACCESS_KEY_ID/);
    const notKv = l('AWS_ACCESS_KEY_ID=a\ntopsecret-without-name\n');
    assert.match(notKv, /line 2 is not NAME=value/);
    assert.ok(!notKv.includes('topsecret'));
    assert.match(l('AWS_ACCESS_KEY_ID=a\nAWS_ACCESS_KEY_ID=b\nAWS_SECRET_ACCESS_KEY=c\n'), /line 2: AWS_ACCESS_KEY_ID a second time/);
    assert.match(l('AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=c\n'), /line 1: AWS_ACCESS_KEY_ID is empty/);
    assert.match(l('[a]\naws_access_key_id=a\n[b]\naws_secret_access_key=c\n'), /line 3: a second \[profile\]/);
  });
  it('the environment: both or neither', () => {
    assert.equal(credentialsFromEnv({}), undefined);
    assert.deepEqual(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_SESSION_TOKEN: 't' }), { accessKeyId: 'a', secretAccessKey: 'b', sessionToken: 't' });
    assert.equal(line(() => credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'a' })), 'AWS_SECRET_ACCESS_KEY is not set, but AWS_ACCESS_KEY_ID is. Set both, or use --s3-credentials-file');
  });
});

describe('snapshotSeries (which unfinished uploads a save aborts)', () => {
  it("one member's names, not those of a member whose name starts the same", () => {
    const s = snapshotSeries('node-a');
    assert.equal(s.prefix, 'etcd-snapshot-node-a-');
    assert.ok(s.pattern.test(snapshotName('node-a', new Date('2026-12-01T12:00:00.123Z'))));
    assert.ok(!s.pattern.test(snapshotName('node-a-2', new Date('2026-12-01T12:00:00.123Z'))));
    assert.ok(!s.pattern.test('etcd-snapshot-node-a-20261201T120000.123Z.db.json'));
    assert.ok(snapshotSeries('a.b+c').pattern.test('etcd-snapshot-a.b+c-20261201T120000.123Z.db'));
    assert.ok(!snapshotSeries('a.b').pattern.test('etcd-snapshot-aXb-20261201T120000.123Z.db'));
  });
});

describe('S3 wire format', () => {
  it("keys are encoded as S3 signs them: each byte but unreserved ones and '/'", () => {
    assert.equal(encodeKey('etcd/prod/etcd-snapshot-a-20261201T120000.000Z.db'), 'etcd/prod/etcd-snapshot-a-20261201T120000.000Z.db');
    assert.equal(encodeKey("a b/c+d!'()*=ü"), "a%20b/c%2Bd%21%27%28%29%2A%3D%C3%BC");
  });
  it('XML: elements, repeated blocks, entities', () => {
    const xml = '<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b</Key><Size>3</Size></Contents><Contents><Key>c&#x41;</Key><Size>4</Size></Contents></ListBucketResult>';
    assert.deepEqual(xmlBlocks(xml, 'Contents').map((b) => [xmlTag(b, 'Key'), xmlTag(b, 'Size')]), [['a&b', '3'], ['cA', '4']]);
    assert.equal(xmlTag(xml, 'IsTruncated'), 'false');
    assert.equal(xmlTag(xml, 'NextContinuationToken'), undefined);
  });
});
