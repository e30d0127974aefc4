/**
 * The shipped executable itself (dist/etcdadm-linux-amd64, npm run dist) and what is generated from the command
 * definitions: its version, its completion scripts run by real bash (the completion function driven with
 * COMP_WORDS / COMP_CWORD), zsh and fish, the test hooks absent from it, the same bytes from two builds, and which
 * modules a light command loads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ETCDADM, ETCDADM_HOOKS, REPO } from '../helpers/lab.js';
import { INIT_PHASES } from '../../src/phases/init.js';
import { JOIN_PHASES } from '../../src/phases/join.js';
import { buildProgram } from '../../src/cli/main.js';
import { compactTree, describeCommand } from '../../src/cli/tree.js';

const exe = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(ETCDADM, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } }).trim();

describe('etcdadm version', () => {
  it('names the version, the commit, the commit date as build date, and the embedded runtime; -o json', () => {
    const r = exe(['version', '-o', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const v = JSON.parse(r.stdout) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.equal(v.version, `v${pkg.version}`);
    assert.equal(v.gitCommit, git('rev-parse', '--short=12', 'HEAD'));
    assert.equal(v.buildDate, git('log', '-1', '--format=%cd', '--date=format-local:%Y-%m-%dT%H:%M:%SZ'));
    assert.equal(v.runtime, `node ${process.version} (embedded)`, 'the runtime inside the executable');
    assert.equal(exe(['version', '--short']).stdout.trim(), `v${pkg.version}`);
  });
});

/** What bash's completion function offers for the words typed so far (the last one being completed). */
function bashComplete(words: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'etcdadm-completion-'));
  try {
    writeFileSync(join(dir, 'etcdadm.bash'), exe(['completion', 'bash']).stdout);
    const script = `source ${dir}/etcdadm.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _etcdadm; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['--norc', '-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    return r.stdout.split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('etcdadm completion', () => {
  it('bash: `source <(etcdadm completion bash)` registers the function for etcdadm', () => {
    const r = spawnSync('bash', ['--norc', '-c', `source <(${ETCDADM} completion bash) && complete -p etcdadm`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'complete -F _etcdadm etcdadm');
  });

  it("bash: the phase names after `etcdadm init phase ` and `etcdadm join phase ` — the phases' own names, in order", () => {
    assert.deepEqual(bashComplete(['etcdadm', 'init', 'phase', '']), INIT_PHASES.map((p) => p.name));
    assert.deepEqual(bashComplete(['etcdadm', 'join', 'phase', '']), JOIN_PHASES.map((p) => p.name));
    assert.deepEqual(bashComplete(['etcdadm', 'init', 'phase', 'ins']), ['install']);
  });

  it('bash: the subcommands after `etcdadm certs `, past global flags and their values', async () => {
    const certs = (await buildProgram(['certs'])).commands.find((c) => c.name() === 'certs')!;
    const subs = certs.commands.map((c) => c.name()).filter((n) => n !== 'help');
    assert.ok(subs.includes('renew') && subs.includes('rotate-ca'), subs.join(' '));
    assert.deepEqual(bashComplete(['etcdadm', 'certs', '']), subs);
    assert.deepEqual(bashComplete(['etcdadm', '--log-level', 'debug', 'certs', '']), subs);
    assert.deepEqual(bashComplete(['etcdadm', 'certs', 'rotate-ca', '']), ['prepare', 'issue', 'finish']);
  });

  it("bash: an enum flag's choices after it, a command's flags after `-`", () => {
    assert.deepEqual(bashComplete(['etcdadm', 'status', '--output', '']), ['table', 'json', 'yaml']);
    assert.deepEqual(bashComplete(['etcdadm', 'status', '-o', 'j']), ['json']);
    assert.deepEqual(bashComplete(['etcdadm', 'init', '--init-system', '']), ['systemd', 'kubelet']);
    const flags = bashComplete(['etcdadm', 'init', '--']);
    for (const f of ['--dry-run', '--skip-phases', '--release-url', '--log-level', '--help']) assert.ok(flags.includes(f), `${f} in ${flags.join(' ')}`);
    assert.deepEqual(bashComplete(['etcdadm', 'init', '--dry-']), ['--dry-run']);
  });

  it('zsh and fish: the scripts parse (zsh -n, fish -n) and carry the same phase names', () => {
    for (const [shell, check] of [
      ['zsh', ['zsh', '-n']],
      ['fish', ['fish', '-n']],
    ] as const) {
      const text = exe(['completion', shell]).stdout;
      const dir = mkdtempSync(join(tmpdir(), 'etcdadm-completion-'));
      try {
        writeFileSync(join(dir, `etcdadm.${shell}`), text);
        const r = spawnSync(check[0], [check[1], join(dir, `etcdadm.${shell}`)], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${shell}: ${r.stderr}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      assert.ok(text.includes(INIT_PHASES.map((p) => p.name).join(' ')), `${shell}: init's phases`);
    }
  });

  it('zsh: the completion function offers the phase names (run in a real zsh with compadd recorded)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-completion-'));
    try {
      writeFileSync(join(dir, '_etcdadm'), exe(['completion', 'zsh']).stdout);
      // compdef/compadd exist only inside zsh's completion system: stand-ins record what the function offers
      const script = `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }; _files() { :; }; source ${dir}/_etcdadm; words=(etcdadm init phase ''); CURRENT=4; _etcdadm`;
      const r = spawnSync('zsh', ['-f', '-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.split('\n').filter(Boolean), INIT_PHASES.map((p) => p.name));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fish: the completion function offers the subcommands of certs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-completion-'));
    try {
      writeFileSync(join(dir, 'etcdadm.fish'), exe(['completion', 'fish']).stdout);
      const r = spawnSync('fish', ['--no-config', '-c', `source ${dir}/etcdadm.fish; complete -C 'etcdadm certs rotate-ca '`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]).sort(), ['finish', 'issue', 'prepare']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the executable', () => {
  it('has no test hooks (ETCDADM_TEST_HOLD / _FAIL are not even read); the tests’ fault-injecting one has them', () => {
    const shipped = readFileSync(ETCDADM);
    const hooks = readFileSync(ETCDADM_HOOKS);
    for (const v of ['ETCDADM_TEST_HOLD', 'ETCDADM_TEST_FAIL', 'ETCDADM_TEST_RELEASE']) {
      assert.equal(shipped.indexOf(v), -1, `the shipped executable does not mention ${v}`);
      assert.ok(hooks.indexOf(v) >= 0, `the hooks executable reads ${v}`);
    }
  });

  it('ETCDADM_REPRODUCIBLE=1: two builds of this commit are the same bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-repro-'));
    try {
      const build = (sub: string) =>
        execFileSync(process.execPath, [join(REPO, 'scripts/dist.mjs'), '--executable-only', join(dir, sub)], { cwd: REPO, encoding: 'utf8', env: { ...process.env, ETCDADM_REPRODUCIBLE: '1' }, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const [a, b] = [build('a'), build('b')];
      assert.match(a, /^[0-9a-f]{64}$/);
      assert.equal(a, b);
      assert.equal(spawnSync(join(dir, 'a/etcdadm-linux-amd64'), ['version', '--short'], { encoding: 'utf8' }).status, 0, 'and it runs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const tree = JSON.stringify(compactTree(describeCommand(await buildProgram('all'))));
describe('only what the command needs is loaded', () => {
  const HEAVY: [string, RegExp][] = [
    ['the gRPC stack', /node_modules\/(@connectrpc|@bufbuild)\/|\/build\/src\/etcd\//],
    ['the PKI library', /node_modules\/(@peculiar\/|asn1js|pkijs)|\/build\/src\/pki\//],
    ['the S3 code', /node_modules\/aws4\/|\/build\/src\/s3\//],
  ];
  /** The modules a run of the compiled CLI loads, with the command tree embedded as in the executable. */
  const loaded = (args: string[]): string[] => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-loaded-'));
    try {
      const log = join(dir, 'loaded');
      writeFileSync(log, '');
      const r = spawnSync(process.execPath, ['--import', join(REPO, 'test/fixtures/loaded-modules/register.mjs'), join(REPO, 'build/src/cli/main.js'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, LOADED_MODULES_LOG: log, LOADED_MODULES_TREE: tree },
      });
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(log, 'utf8').split('\n').filter(Boolean);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  for (const args of [['--help'], ['version'], ['completion', 'bash'], ['config', 'print', 'init-defaults']]) {
    it(`etcdadm ${args.join(' ')}: no gRPC stack, no PKI library, no S3 code`, () => {
      const mods = loaded(args);
      assert.ok(mods.some((m) => m.endsWith('/build/src/cli/main.js')), 'the hooks saw the run');
      for (const [what, re] of HEAVY) assert.deepEqual(mods.filter((m) => re.test(m)), [], `${what} is not loaded`);
    });
  }
  it('etcdadm status loads no PKI-writing code, and no PKI library (outside a CA rotation it signs nothing)', () => {
    const mods = loaded(['status', '--help']);
    assert.ok(mods.some((m) => HEAVY[0]![1].test(m)), 'the check sees what status uses: the gRPC stack');
    assert.ok(mods.some((m) => m.endsWith('/build/src/pki/rotation.js')), 'and the reading of a rotation state');
    const writers = mods.filter((m) => /\/build\/src\/pki\/(ca|leaf|store|renew|index|issue|ca-load)\.js$|\/build\/src\/phases\//.test(m));
    assert.deepEqual(writers, [], 'no module that writes or signs certificates, no phase');
    assert.deepEqual(mods.filter((m) => /node_modules\/(@peculiar\/|asn1js)/.test(m)), [], 'no X.509 library');
    assert.deepEqual(mods.filter((m) => /\/build\/src\/(apply\/|host\/ssh)/.test(m)), [], 'no SSH code: only -f loads it');
  });
});
