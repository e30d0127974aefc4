import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  CONFIG_API_VERSION,
  CONFIG_KINDS,
  DEFAULT_CIPHER_SUITES,
  DEFAULT_DOCUMENT_VALUES,
  effectiveCipherSuites,
  quotaBackendBytesWarning,
  type ConfigDocument,
} from '../../src/config/document.js';
import { ETCD_FLAG_SOURCES, ETCD_FLAGS, etcdFlagList, isKnownEtcdFlag, knownEtcdFlags } from '../../src/config/etcd-flags.js';
import { ConfigFileError, defaultsDocument, extraArgsEnv, loadConfigFile, parseConfigText, type ParseOptions } from '../../src/config/file.js';
import { EtcdadmError } from '../../src/errors.js';

const FILE = '/etc/etcdadm.yaml';
const HEAD = `apiVersion: ${CONFIG_API_VERSION}\nkind: InitConfiguration\n`;

/** Parse `text` expecting failure; returns the error after checking line, path and (optionally) message. */
function fails(text: string, want: { line: number; path: string; message?: RegExp }, options: ParseOptions = {}): ConfigFileError {
  let caught: unknown;
  try {
    parseConfigText(text, FILE, options);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigFileError, `expected a ConfigFileError, got ${String(caught)}`);
  assert.ok(caught instanceof EtcdadmError);
  assert.equal(caught.exitCode, 2);
  assert.equal(caught.path, want.path, caught.message);
  assert.equal(caught.line, want.line, caught.message);
  assert.ok(caught.message.startsWith(`${FILE}:${want.line}: ${want.path}: `), caught.message);
  if (want.message) assert.match(caught.message, want.message);
  return caught;
}

describe('config file errors name file, line and field', () => {
  it('election timeout below 5 × heartbeat (the documented example, line 12)', () => {
    const text = [
      HEAD.trimEnd(),
      'member:',
      '  name: node-a',
      '  dataDir: /var/lib/etcd',
      '  clientPort: 2379',
      '  peerPort: 2380',
      '# raft',
      'etcd:',
      '  version: 3.5.30',
      '  heartbeatInterval: 100',
      '  electionTimeout: 300',
      '',
    ].join('\n');
    const err = fails(text, { line: 12, path: 'etcd.electionTimeout' });
    assert.equal(err.message, '/etc/etcdadm.yaml:12: etcd.electionTimeout: must be at least 5 × etcd.heartbeatInterval (100 ms), got 300');
    assert.equal(err.hint, undefined);
    assert.equal(err.oneLine(), err.message);
  });

  it('a heartbeat too large for the default election timeout points at the heartbeat', () => {
    fails(`${HEAD}etcd:\n  heartbeatInterval: 300\n`, { line: 4, path: 'etcd.heartbeatInterval', message: /at least 1500/ });
  });

  it('election timeout above etcd\'s maximum', () => {
    fails(`${HEAD}etcd:\n  electionTimeout: 60000\n`, { line: 4, path: 'etcd.electionTimeout', message: /at most 50000, got 60000/ });
  });

  it('YAML syntax errors carry yaml\'s line', () => {
    fails(`${HEAD}member:\n  listenClientURLs: [https://10.0.0.1:2379\n  dataDir: /x\n`, { line: 5, path: 'member.listenClientURLs', message: /YAML syntax error/ });
    fails(`${HEAD}member:\n  name: a\n   dataDir: x\n`, { line: 4, path: 'member.name', message: /YAML syntax error/ });
    fails(`${HEAD}member:\n\tname: a\n`, { line: 4, path: 'member', message: /YAML syntax error/ });
  });

  it('duplicate keys and several documents are YAML errors', () => {
    fails(`${HEAD}kind: JoinConfiguration\n`, { line: 3, path: 'kind', message: /Map keys must be unique/ });
    fails(`${HEAD}---\nkind: JoinConfiguration\n`, { line: 3, path: '(document)', message: /single YAML document/ });
  });

  it('unknown fields are named, with the closest known field', () => {
    const e = fails(`${HEAD}member:\n  name: a\n  datadir: /x\n`, { line: 5, path: 'member.datadir' });
    assert.match(e.message, /unknown field \(did you mean "dataDir"\?\)$/);
    fails(`${HEAD}members:\n  name: a\n`, { line: 3, path: 'members', message: /did you mean "member"/ });
    fails(`${HEAD}etcd:\n  heartbeat: 100\n`, { line: 4, path: 'etcd.heartbeat', message: /did you mean "heartbeatInterval"/ });
  });

  it('unknown fields without a close match list the known ones', () => {
    fails(`${HEAD}install:\n  prefix: /usr\n`, { line: 4, path: 'install.prefix', message: /unknown field; install has: installDir, cacheDir$/ });
    fails(`${HEAD}frobnicate: true\n`, { line: 3, path: 'frobnicate', message: /unknown field; the document has: apiVersion, kind, member/ });
  });

  it('wrong types', () => {
    fails(`${HEAD}member:\n  clientPort: "2379"\n`, { line: 4, path: 'member.clientPort', message: /must be a port number \(1-65535\), got "2379"$/ });
    fails(`${HEAD}etcd:\n  skipHashCheck: "yes"\n`, { line: 4, path: 'etcd.skipHashCheck', message: /must be true or false, got "yes"/ });
    fails(`${HEAD}etcd:\n  version: 3.5\n`, { line: 4, path: 'etcd.version', message: /\(a string\), got 3\.5$/ });
    fails(`${HEAD}etcd:\n  downloadConnectTimeout: 10\n`, { line: 4, path: 'etcd.downloadConnectTimeout', message: /must be a duration such as "10s", got 10/ });
    fails(`${HEAD}member:\n  listenClientURLs: https://10.0.0.1:2379\n`, { line: 4, path: 'member.listenClientURLs', message: /must be a list of URLs/ });
    fails(`${HEAD}member: [a, b]\n`, { line: 3, path: 'member', message: /must be a mapping \(member\), got a list/ });
    fails(`${HEAD}pki:\n  - certsDir: /x\n`, { line: 3, path: 'pki', message: /must be a mapping/ });
    fails(`${HEAD}etcd:\n  quotaBackendBytes: 1.5\n`, { line: 4, path: 'etcd.quotaBackendBytes', message: /whole number/ });
    fails(`${HEAD}etcd:\n  extraArgs: [a]\n`, { line: 4, path: 'etcd.extraArgs', message: /must be a mapping/ });
  });

  it('bad URLs, by list index', () => {
    const urls = (list: string) => `${HEAD}member:\n  name: a\n  listenClientURLs:\n${list}`;
    fails(urls('    - https://10.0.0.1:2379\n    - https://fd00::1:2379\n'), { line: 7, path: 'member.listenClientURLs[1]', message: /IPv6 addresses must be in brackets/ });
    fails(urls('    - http://10.0.0.1:2379\n'), { line: 6, path: 'member.listenClientURLs[0]', message: /must be an https:\/\/ URL/ });
    fails(urls('    - https://node-a.example:2379\n'), { line: 6, path: 'member.listenClientURLs[0]', message: /needs an IP address/ });
    fails(urls('    - https://10.0.0.1\n'), { line: 6, path: 'member.listenClientURLs[0]', message: /must include the port/ });
    fails(urls('    - https://10.0.0.1:2379/v3\n'), { line: 6, path: 'member.listenClientURLs[0]', message: /path/ });
    fails(urls('    - "not a url"\n'), { line: 6, path: 'member.listenClientURLs[0]', message: /not a URL/ });
    fails(urls('    - https://127.0.0.1:0\n'), { line: 6, path: 'member.listenClientURLs[0]', message: /port 0/ });
    fails(`${HEAD}member:\n  advertisePeerURLs: ["https://[fd00::1]:2380", "https://0.0.0.0:2380"]\n`, { line: 4, path: 'member.advertisePeerURLs[1]', message: /wildcard/ });
    fails(`${HEAD}member:\n  listenMetricsURLs: [ftp://127.0.0.1:2381]\n`, { line: 4, path: 'member.listenMetricsURLs[0]', message: /must be an http:\/\/ or https:\/\/ URL/ });
    fails(`${HEAD}etcd:\n  releaseURL: ftp://mirror/etcd\n`, { line: 4, path: 'etcd.releaseURL', message: /http:\/\/, https:\/\/ or file:\/\// });
  });

  it('paths, names, ports and other field rules', () => {
    fails(`${HEAD}member:\n  dataDir: var/lib/etcd\n`, { line: 4, path: 'member.dataDir', message: /absolute path/ });
    fails(`${HEAD}member:\n  name: Node_A\n`, { line: 4, path: 'member.name', message: /DNS name/ });
    fails(`${HEAD}member:\n  peerPort: 70000\n`, { line: 4, path: 'member.peerPort', message: /at most 65535/ });
    fails(`${HEAD}member:\n  peerPort: 2379\n`, { line: 4, path: 'member.peerPort', message: /must differ/ });
    fails(`${HEAD}member:\n  bindAddress: eth0\n`, { line: 4, path: 'member.bindAddress', message: /IP address/ });
    fails(`${HEAD}etcd:\n  autoCompactionMode: revision\n  autoCompactionRetention: 1h\n`, { line: 5, path: 'etcd.autoCompactionRetention', message: /whole number of revisions/ });
    fails(`${HEAD}etcd:\n  autoCompactionRetention: 1.5\n`, { line: 4, path: 'etcd.autoCompactionRetention' });
    fails(`${HEAD}etcd:\n  autoCompactionMode: hourly\n`, { line: 4, path: 'etcd.autoCompactionMode', message: /one of periodic, revision, got "hourly"/ });
    fails(`${HEAD}pki:\n  keyAlgorithm: ed25519\n`, { line: 4, path: 'pki.keyAlgorithm', message: /ecdsa-p256, rsa-2048/ });
    fails(`${HEAD}pki:\n  certValidityDays: 4000\n`, { line: 4, path: 'pki.certValidityDays', message: /outlive its CA/ });
    fails(`${HEAD}pki:\n  serverCertExtraSANs: ["*.example.com", 10.0.0.9, bad_name]\n`, { line: 4, path: 'pki.serverCertExtraSANs[2]' });
    fails(`${HEAD}tls:\n  cipherSuites:\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA25\n`, { line: 5, path: 'tls.cipherSuites[0]', message: /did you mean TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256/ });
    fails(`${HEAD}tls:\n  cipherSuites: [TLS_ECDHE_RSA_WITH_RC4_128_SHA]\n`, { line: 4, path: 'tls.cipherSuites[0]', message: /insecure/ });
    fails(`${HEAD}tls:\n  minVersion: TLS1.3\n  cipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n`, { line: 5, path: 'tls.cipherSuites', message: /must be empty when tls.minVersion is TLS1.3/ });
    fails(`${HEAD}etcd:\n  version: 3.4.23\ntls:\n  minVersion: TLS1.3\n`, { line: 6, path: 'tls.minVersion', message: /needs etcd 3\.5/ });
    fails(`${HEAD}service:\n  unitName: etcd\n`, { line: 4, path: 'service.unitName', message: /\.service/ });
    fails(`${HEAD}service:\n  user: "etcd user"\n`, { line: 4, path: 'service.user' });
    fails(`${HEAD}service:\n  initSystem: openrc\n`, { line: 4, path: 'service.initSystem', message: /systemd, kubelet/ });
    fails(`${HEAD}service:\n  imageRepository: quay.io/coreos/etcd:v3.5.30\n`, { line: 4, path: 'service.imageRepository', message: /without a tag/ });
    fails(`${HEAD}service:\n  diskPriorities: [Nice=-10, Bogus=1]\n`, { line: 4, path: 'service.diskPriorities[1]' });
  });

  it('a version that cannot be parsed', () => {
    fails(`${HEAD}etcd:\n  version: latest\n`, { line: 4, path: 'etcd.version', message: /not an etcd version such as 3\.5\.30: "latest"/ });
    fails(`${HEAD}etcd:\n  version: "3.5"\n`, { line: 4, path: 'etcd.version' });
  });

  it('wrong or missing apiVersion and kind say what is supported', () => {
    fails(`apiVersion: etcdadm.io/v1alpha1\nkind: InitConfiguration\n`, { line: 1, path: 'apiVersion', message: /unsupported apiVersion "etcdadm.io\/v1alpha1"; supported: etcdadm\.io\/v1beta1$/ });
    fails(`apiVersion: ${CONFIG_API_VERSION}\nkind: ClusterConfiguration\n`, {
      line: 2,
      path: 'kind',
      message: /unsupported kind "ClusterConfiguration"; supported: InitConfiguration, JoinConfiguration, ResetConfiguration, Cluster$/,
    });
    fails(`# config\nkind: InitConfiguration\n`, { line: 2, path: 'apiVersion', message: /missing; the file must say apiVersion: etcdadm\.io\/v1beta1/ });
    fails(`apiVersion: ${CONFIG_API_VERSION}\nmember: {}\n`, { line: 1, path: 'kind', message: /missing.*InitConfiguration, JoinConfiguration, ResetConfiguration/ });
  });

  it('a document that is not a mapping', () => {
    fails('- apiVersion: x\n- kind: y\n', { line: 1, path: '(document)', message: /must be a mapping with apiVersion and kind, got a list/ });
    fails('\n\njust text\n', { line: 3, path: '(document)', message: /got "just text"/ });
    fails('', { line: 1, path: '(document)', message: /empty/ });
    fails('# nothing but a comment\n', { line: 1, path: '(document)', message: /empty/ });
  });

  it('the join section belongs to JoinConfiguration only', () => {
    fails(`${HEAD}join:\n  learner: false\n`, { line: 3, path: 'join', message: /only allowed in kind JoinConfiguration \(this is InitConfiguration\)/ });
    fails(`apiVersion: ${CONFIG_API_VERSION}\nkind: JoinConfiguration\njoin:\n  endpoints: [ftp://10.0.0.1:2379]\n`, { line: 4, path: 'join.endpoints[0]' });
  });

  it('several problems: the first by line is reported, the others counted in the hint', () => {
    const text = `${HEAD}etcd:\n  electionTimeout: 300\nmember:\n  clientPort: 0\n  dataDirr: /x\n`;
    const err = fails(text, { line: 4, path: 'etcd.electionTimeout' });
    assert.equal(err.problems.length, 3);
    assert.deepEqual(
      err.problems.map((p) => [p.line, p.path]),
      [
        [4, 'etcd.electionTimeout'],
        [6, 'member.clientPort'],
        [7, 'member.dataDirr'],
      ],
    );
    assert.equal(err.hint, `2 more problems in ${FILE} after this one`);
    assert.match(err.oneLine(), /got 300\. 2 more problems in \/etc\/etcdadm\.yaml after this one$/);
  });

  it('null values mean "not set"', () => {
    const doc = parseConfigText(`${HEAD}member:\netcd:\n  version:\n`, FILE);
    assert.deepEqual(doc, { apiVersion: CONFIG_API_VERSION, kind: 'InitConfiguration', etcd: {} });
  });
});

describe('extraArgs and the etcd flag lists', () => {
  it('the lists come from the real binaries', () => {
    assert.deepEqual(ETCD_FLAG_SOURCES, { '3.4': '3.4.23', '3.5': '3.5.30', '3.6': '3.6.16', '3.7': '3.7.3' });
    for (const list of Object.values(ETCD_FLAGS)) {
      assert.deepEqual([...list], [...list].sort(), 'sorted');
      for (const f of ['name', 'data-dir', 'heartbeat-interval', 'cipher-suites', 'max-txn-ops']) assert.ok(list.includes(f), f);
      for (const f of ['version', 'help', 'config-file', 'peer-heartbeat-interval']) assert.ok(!list.includes(f), f);
    }
    // 3.6 still accepts the experimental names (deprecated) next to the new ones; 3.7 has only the new ones
    for (const f of ['feature-gates', 'corrupt-check-time', 'compact-hash-check-time']) {
      assert.equal(isKnownEtcdFlag('3.5.30', f), false, f);
      assert.equal(isKnownEtcdFlag('3.6.16', f), true, f);
      assert.equal(isKnownEtcdFlag('3.7.3', f), true, f);
    }
    for (const f of ['experimental-initial-corrupt-check', 'experimental-corrupt-check-time', 'experimental-compact-hash-check-enabled']) {
      assert.equal(isKnownEtcdFlag('3.5.30', f), true, f);
      assert.equal(isKnownEtcdFlag('3.6.16', f), true, f);
      assert.equal(isKnownEtcdFlag('3.7.3', f), false, f);
    }
    assert.deepEqual(ETCD_FLAGS['3.7'].filter((f) => f.startsWith('experimental-')), []);
    // 3.7.3's --help still documents --discovery, but the binary rejects it
    assert.equal(isKnownEtcdFlag('3.6.16', 'discovery'), true);
    assert.equal(isKnownEtcdFlag('3.7.3', 'discovery'), false);
    // 3.5 only, and one flag 3.5.30 accepts although its --help leaves it out
    for (const f of ['experimental-memory-mlock', 'tls-min-version', 'experimental-snapshot-catchup-entries']) {
      assert.equal(isKnownEtcdFlag('3.5.30', f), true, f);
      assert.equal(isKnownEtcdFlag('3.4.23', f), false, f);
    }
    assert.equal(isKnownEtcdFlag('3.4.23', 'experimental-initial-corrupt-check'), true);
    assert.equal(isKnownEtcdFlag('3.4.23', 'log-package-levels'), true);
    assert.equal(isKnownEtcdFlag('3.5.30', 'log-package-levels'), false);
    assert.equal(isKnownEtcdFlag('v3.5.16', '--max-txn-ops'), true);
  });

  it('picks the list by major.minor; unknown minors get the nearest older list, not exact', () => {
    assert.deepEqual(etcdFlagList('3.5.16'), { minor: '3.5', exact: true });
    assert.deepEqual(etcdFlagList('3.4.0-rc.1'), { minor: '3.4', exact: true });
    assert.deepEqual(etcdFlagList('3.6.2'), { minor: '3.6', exact: true });
    assert.deepEqual(etcdFlagList('3.7.0'), { minor: '3.7', exact: true });
    assert.deepEqual(etcdFlagList('3.8.1'), { minor: '3.7', exact: false });
    assert.deepEqual(etcdFlagList('3.3.27'), { minor: '3.4', exact: false });
    assert.equal(knownEtcdFlags('3.8.1'), knownEtcdFlags('3.7.3'));
    assert.equal(knownEtcdFlags('latest'), undefined);
    assert.equal(isKnownEtcdFlag('latest', 'name'), false);
  });

  const withArgs = (version: string, args: string) => `${HEAD}etcd:\n  version: ${version}\n  extraArgs:\n${args}`;

  it('a flag only etcd 3.5 knows is rejected for 3.4.23 and accepted for 3.5.30', () => {
    const args = '    max-txn-ops: 256\n    experimental-memory-mlock: true\n';
    fails(withArgs('3.4.23', args), { line: 7, path: 'etcd.extraArgs.experimental-memory-mlock', message: /etcd 3\.4\.23 has no flag --experimental-memory-mlock$/ });
    const doc = parseConfigText(withArgs('3.5.30', args), FILE);
    assert.deepEqual(doc.etcd?.extraArgs, { 'max-txn-ops': '256', 'experimental-memory-mlock': 'true' });
  });

  it('the etcd version of the command line (etcdVersion) decides over the file\'s', () => {
    const text = `${HEAD}etcd:\n  extraArgs:\n    experimental-memory-mlock: "true"\n`;
    parseConfigText(text, FILE);
    fails(text, { line: 5, path: 'etcd.extraArgs.experimental-memory-mlock', message: /etcd 3\.4\.23/ }, { etcdVersion: '3.4.23' });
  });

  it('typos get a suggestion; flags with a field or set by etcdadm are refused', () => {
    fails(withArgs('3.5.30', '    snapshot-cout: 5\n'), { line: 6, path: 'etcd.extraArgs.snapshot-cout', message: /did you mean snapshot-count\?$/ });
    fails(withArgs('3.5.30', '    heartbeat-interval: 200\n'), { line: 6, path: 'etcd.extraArgs.heartbeat-interval', message: /comes from etcd\.heartbeatInterval/ });
    fails(withArgs('3.4.23', '    experimental-initial-corrupt-check: "true"\n'), { line: 6, path: 'etcd.extraArgs.experimental-initial-corrupt-check', message: /etcd\.corruptCheck/ });
    fails(withArgs('3.5.30', '    initial-cluster-state: new\n'), { line: 6, path: 'etcd.extraArgs.initial-cluster-state', message: /set by etcdadm/ });
    fails(withArgs('3.5.30', '    --max-txn-ops: 1\n'), { line: 6, path: 'etcd.extraArgs.--max-txn-ops', message: /without the leading dashes: max-txn-ops/ });
    fails(withArgs('3.5.30', '    ETCD_MAX_TXN_OPS: 1\n'), { line: 6, path: 'etcd.extraArgs.ETCD_MAX_TXN_OPS', message: /such as max-txn-ops/ });
    fails(withArgs('3.5.30', '    max-txn-ops: [1]\n'), { line: 6, path: 'etcd.extraArgs.max-txn-ops', message: /must be a string/ });
  });

  it("a flag 3.6 renamed: refused for 3.7 with its successor, a deprecation warning for 3.6, fine for 3.5", () => {
    fails(withArgs('3.7.3', '    experimental-watch-progress-notify-interval: 5s\n'), {
      line: 6,
      path: 'etcd.extraArgs.experimental-watch-progress-notify-interval',
      message: /etcd 3\.7\.3 has no flag --experimental-watch-progress-notify-interval; etcd 3\.6 replaced it with --watch-progress-notify-interval$/,
    });
    fails(withArgs('3.7.3', '    experimental-stop-grpc-service-on-defrag: "true"\n'), { line: 6, path: 'etcd.extraArgs.experimental-stop-grpc-service-on-defrag', message: /replaced it with --feature-gates=StopGRPCServiceOnDefrag=true$/ });
    const warnings: string[] = [];
    parseConfigText(withArgs('3.6.16', '    experimental-watch-progress-notify-interval: 5s\n'), FILE, { onWarning: (w) => warnings.push(w) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /:6: etcd\.extraArgs\.experimental-watch-progress-notify-interval: etcd 3\.6 deprecated .*use --watch-progress-notify-interval$/);
    warnings.length = 0;
    parseConfigText(withArgs('3.5.30', '    experimental-watch-progress-notify-interval: 5s\n'), FILE, { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(warnings, []);
  });

  it('for an etcd minor without a list, unknown flags are warnings with their line', () => {
    const warnings: string[] = [];
    const doc = parseConfigText(withArgs('3.8.1', '    experimental-memory-mlock: "true"\n'), FILE, { onWarning: (w) => warnings.push(w) });
    assert.equal(doc.etcd?.extraArgs?.['experimental-memory-mlock'], 'true');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^\/etc\/etcdadm\.yaml:6: etcd\.extraArgs\.experimental-memory-mlock: etcd 3\.7 has no flag --experimental-memory-mlock; etcdadm has no flag list for etcd 3\.8\.1/);
  });

  it('etcd 3.6 has a list of its own: --feature-gates is known, no warning', () => {
    const warnings: string[] = [];
    const doc = parseConfigText(withArgs('3.6.1', '    feature-gates: InitialCorruptCheck=true\n'), FILE, { onWarning: (w) => warnings.push(w) });
    assert.equal(doc.etcd?.extraArgs?.['feature-gates'], 'InitialCorruptCheck=true');
    assert.deepEqual(warnings, []);
    fails(withArgs('3.7.3', '    experimental-memory-mlock: "true"\n'), { line: 6, path: 'etcd.extraArgs.experimental-memory-mlock', message: /etcd 3\.7\.3 has no flag --experimental-memory-mlock/ });
  });

  it('extraArgsEnv: ETCD_<FLAG_NAME> pairs, sorted', () => {
    assert.deepEqual(extraArgsEnv({ 'max-txn-ops': '256', 'experimental-memory-mlock': 'true', 'log-level': 'debug' }), [
      ['ETCD_EXPERIMENTAL_MEMORY_MLOCK', 'true'],
      ['ETCD_LOG_LEVEL', 'debug'],
      ['ETCD_MAX_TXN_OPS', '256'],
    ]);
    assert.deepEqual(extraArgsEnv({}), []);
    assert.deepEqual(extraArgsEnv(undefined), []);
  });
});

describe('documents that parse', () => {
  it('the defaults documents are complete, commented and parse back to the defaults', () => {
    for (const kind of ['InitConfiguration', 'JoinConfiguration'] as const) {
      const text = defaultsDocument(kind);
      const doc = parseConfigText(text, `${kind}.yaml`);
      const { join: joinDefaults, ...common } = DEFAULT_DOCUMENT_VALUES;
      const expected = { apiVersion: CONFIG_API_VERSION, kind, ...common, ...(kind === 'JoinConfiguration' ? { join: joinDefaults } : {}) };
      assert.deepEqual(doc, expected);
      // every field line has a comment line right above it
      const lines = text.split('\n');
      let fields = 0;
      lines.forEach((line, i) => {
        if (/^ {2}[A-Za-z][A-Za-z0-9]*:/.test(line)) {
          fields++;
          assert.match(lines[i - 1]!, /^ {2}# \S/, `no comment above ${line}`);
        }
      });
      const sections = Object.values(expected).filter((s) => typeof s === 'object') as object[];
      assert.equal(fields, sections.reduce((n, s) => n + Object.keys(s).length, 0));
      // the empty defaults say what they default to
      assert.match(text, /empty: this host's hostname\.\n {2}name: ""/);
      assert.match(text, /empty: the default-route interface's address\.\n {2}bindAddress: ""/);
      assert.equal(parseYaml(text).kind, kind);
    }
    assert.ok(!defaultsDocument('InitConfiguration').includes('\njoin:'));
  });

  it('the defaults', () => {
    assert.deepEqual(DEFAULT_DOCUMENT_VALUES.tls.cipherSuites, [...DEFAULT_CIPHER_SUITES]);
    assert.equal(DEFAULT_DOCUMENT_VALUES.etcd.quotaBackendBytes, 2147483648);
    assert.equal(DEFAULT_DOCUMENT_VALUES.etcd.version, '3.6.16', 'the newest 3.6 patch the lab tests');
    assert.ok(Object.isFrozen(DEFAULT_DOCUMENT_VALUES.member.listenMetricsURLs));
    assert.deepEqual([...CONFIG_KINDS], ['InitConfiguration', 'JoinConfiguration', 'ResetConfiguration', 'Cluster']);
  });

  it('a full document round-trips to the typed object', () => {
    const text = `apiVersion: etcdadm.io/v1beta1
kind: JoinConfiguration
member:
  name: node-b.example
  dataDir: /data/etcd
  walDir: /wal/etcd
  bindAddress: "fd00::2"
  clientPort: 12379
  peerPort: 12380
  listenClientURLs: ["https://[fd00::2]:12379", "https://127.0.0.1:12379"]
  advertiseClientURLs: ["https://node-b.example:12379"]
  listenPeerURLs: ["https://[fd00::2]:12380"]
  advertisePeerURLs: ["https://[fd00::2]:12380"]
  listenMetricsURLs: [http://127.0.0.1:12381, "https://[::1]:12382"]
etcd:
  version: v3.4.23
  releaseURL: file:///srv/mirror
  skipHashCheck: true
  downloadConnectTimeout: 1m30s
  quotaBackendBytes: 4294967296
  autoCompactionMode: periodic
  autoCompactionRetention: 5
  heartbeatInterval: 250
  electionTimeout: 2500
  corruptCheck: false
  extraArgs:
    max-txn-ops: 512
    enable-pprof: true
    log-level: warn
pki:
  certsDir: /etc/etcd/tls
  keyAlgorithm: rsa-3072
  caValidityDays: 7300
  certValidityDays: 730
  serverCertExtraSANs: [etcd.example, "*.etcd.example", 192.0.2.10, "[2001:db8::1]"]
  peerCertExtraSANs: [peer.example]
tls:
  minVersion: TLS1.2
  cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305]
  peerCertAllowedCN: etcd-peer
install:
  installDir: /usr/local/bin
  cacheDir: /var/cache/etcd-releases
service:
  initSystem: kubelet
  unitName: etcd-main.service
  user: etcd
  diskPriorities: [Nice=-5]
  imageRepository: registry.example:5000/etcd-io/etcd
  kubeletPodManifestPath: /etc/kubelet.d
join:
  endpoints: [https://10.0.0.1:2379, "https://[fd00::1]:2379"]
  learner: false
  retry: false
`;
    const expected: ConfigDocument = {
      apiVersion: 'etcdadm.io/v1beta1',
      kind: 'JoinConfiguration',
      member: {
        name: 'node-b.example',
        dataDir: '/data/etcd',
        walDir: '/wal/etcd',
        bindAddress: 'fd00::2',
        clientPort: 12379,
        peerPort: 12380,
        listenClientURLs: ['https://[fd00::2]:12379', 'https://127.0.0.1:12379'],
        advertiseClientURLs: ['https://node-b.example:12379'],
        listenPeerURLs: ['https://[fd00::2]:12380'],
        advertisePeerURLs: ['https://[fd00::2]:12380'],
        listenMetricsURLs: ['http://127.0.0.1:12381', 'https://[::1]:12382'],
      },
      etcd: {
        version: '3.4.23',
        releaseURL: 'file:///srv/mirror',
        skipHashCheck: true,
        downloadConnectTimeout: '1m30s',
        quotaBackendBytes: 4294967296,
        autoCompactionMode: 'periodic',
        autoCompactionRetention: '5',
        heartbeatInterval: 250,
        electionTimeout: 2500,
        corruptCheck: false,
        extraArgs: { 'max-txn-ops': '512', 'enable-pprof': 'true', 'log-level': 'warn' },
      },
      pki: {
        certsDir: '/etc/etcd/tls',
        keyAlgorithm: 'rsa-3072',
        caValidityDays: 7300,
        certValidityDays: 730,
        serverCertExtraSANs: ['etcd.example', '*.etcd.example', '192.0.2.10', '[2001:db8::1]'],
        peerCertExtraSANs: ['peer.example'],
      },
      tls: {
        minVersion: 'TLS1.2',
        cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305'],
        peerCertAllowedCN: 'etcd-peer',
      },
      install: { installDir: '/usr/local/bin', cacheDir: '/var/cache/etcd-releases' },
      service: {
        initSystem: 'kubelet',
        unitName: 'etcd-main.service',
        user: 'etcd',
        diskPriorities: ['Nice=-5'],
        imageRepository: 'registry.example:5000/etcd-io/etcd',
        kubeletPodManifestPath: '/etc/kubelet.d',
      },
      join: { endpoints: ['https://10.0.0.1:2379', 'https://[fd00::1]:2379'], learner: false, retry: false },
    };
    const warnings: string[] = [];
    assert.deepEqual(parseConfigText(text, FILE, { onWarning: (w) => warnings.push(w) }), expected);
    assert.deepEqual(warnings, []);
  });

  it('any kind may carry the shared sections; ResetConfiguration too', () => {
    const doc = parseConfigText(`apiVersion: ${CONFIG_API_VERSION}\nkind: ResetConfiguration\nmember:\n  dataDir: /data\nservice:\n  initSystem: kubelet\n`, FILE);
    assert.deepEqual(doc, { apiVersion: CONFIG_API_VERSION, kind: 'ResetConfiguration', member: { dataDir: '/data' }, service: { initSystem: 'kubelet' } });
  });

  it('a backend quota above 8 GiB is a warning, not an error', () => {
    assert.equal(quotaBackendBytesWarning(8 * 1024 ** 3), undefined);
    assert.match(quotaBackendBytesWarning(10 * 1024 ** 3)!, /10\.0 GiB\) is above 8 GiB/);
    const warnings: string[] = [];
    parseConfigText(`${HEAD}etcd:\n  quotaBackendBytes: 17179869184\n`, FILE, { onWarning: (w) => warnings.push(w) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^\/etc\/etcdadm\.yaml:4: etcd\.quotaBackendBytes: 17179869184 bytes \(16\.0 GiB\)/);
  });

  it('TLS 1.3 only: no cipher suites for etcd', () => {
    assert.deepEqual(effectiveCipherSuites('TLS1.3', DEFAULT_CIPHER_SUITES), []);
    assert.deepEqual(effectiveCipherSuites('TLS1.2', DEFAULT_CIPHER_SUITES), [...DEFAULT_CIPHER_SUITES]);
    parseConfigText(`${HEAD}tls:\n  minVersion: TLS1.3\n`, FILE);
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'etcdadm-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and validates a file, naming it in errors', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, defaultsDocument('JoinConfiguration'));
    assert.equal((await loadConfigFile(good)).kind, 'JoinConfiguration');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `${HEAD}member:\n  clientPort: -1\n`);
    await assert.rejects(loadConfigFile(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigFileError);
      assert.equal(err.message, `${bad}:4: member.clientPort: must be at least 1, got -1`);
      return true;
    });
  });

  it('a missing file is an input error', async () => {
    await assert.rejects(loadConfigFile(join(dir, 'missing.yaml')), (err: unknown) => {
      assert.ok(err instanceof EtcdadmError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /^there is no configuration file .*missing\.yaml$/);
      return true;
    });
  });
});
