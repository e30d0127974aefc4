import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProgram, COMMANDS, HIDDEN_COMMANDS, invokedCommand } from '../../src/cli/main.js';
import { describeCommand, walkTree, type CliCommand } from '../../src/cli/tree.js';
import { manPages } from '../../src/cli/man.js';
import { completionScript } from '../../src/cli/completion.js';

const full = describeCommand(await buildProgram('all'));

describe('the command loaded for an invocation', () => {
  it('is the first word that is not a flag or a global flag’s value; `help X` loads X', () => {
    assert.equal(invokedCommand(['init', '--dry-run']), 'init');
    assert.equal(invokedCommand(['-l', 'debug', '--log-format', 'json', 'status']), 'status');
    assert.equal(invokedCommand(['--log-level=debug', 'version']), 'version');
    assert.equal(invokedCommand(['help', 'certs']), 'certs');
    assert.equal(invokedCommand(['--help']), undefined);
    assert.equal(invokedCommand([]), undefined);
  });

  it('only that command is loaded: the others are stubs with the same name and description', async () => {
    const program = await buildProgram(['version']);
    assert.deepEqual(program.commands.map((c) => c.name()), COMMANDS.map((c) => c.name));
    assert.deepEqual(program.commands.map((c) => c.description()), COMMANDS.map((c) => c.description));
    const loaded = program.commands.filter((c) => c.options.length > 0 || c.commands.length > 0).map((c) => c.name());
    assert.deepEqual(loaded, ['version']);
    assert.deepEqual(full.commands.map((c) => c.summary), COMMANDS.map((c) => c.description), 'the loaded commands carry the same descriptions');
  });

  it('a hidden command (host-agent) exists only when invoked, and is not in --help, completion or man pages', async () => {
    assert.deepEqual(HIDDEN_COMMANDS.map((c) => c.name), ['host-agent']);
    const program = await buildProgram(['host-agent']);
    assert.ok(program.commands.some((c) => c.name() === 'host-agent'));
    assert.doesNotMatch(program.helpInformation(), /host-agent/);
    assert.ok(!(await buildProgram(['version'])).commands.some((c) => c.name() === 'host-agent'));
    assert.ok(!full.commands.some((c) => c.name === 'host-agent'));
  });
});

describe('man pages', () => {
  const pages = manPages(full, { version: '1.2.3', date: '2026-12-06' });
  const byName = new Map(pages.map((p) => [p.name, p.text]));

  it('one per command and subcommand, none per phase (the `phase` page lists them)', () => {
    for (const n of ['etcdadm', 'etcdadm-init', 'etcdadm-init-phase', 'etcdadm-certs-renew', 'etcdadm-certs-rotate-ca-prepare', 'etcdadm-member-add']) assert.ok(byName.has(n), n);
    assert.ok(!byName.has('etcdadm-init-phase-install'));
    const paths = [...walkTree(full)].filter(([p]) => !(p.length >= 2 && p[p.length - 2] === 'phase')).length;
    assert.equal(pages.length, paths);
    assert.match(byName.get('etcdadm-init-phase')!, /^\.SH PHASES\n(.|\n)*^\\fBinstall\\fR$/m);
  });

  it('roff: a header, the name line, hyphens and backslashes escaped, no line a roff request by accident', () => {
    const init = byName.get('etcdadm-init')!;
    assert.match(init, /^\.TH ETCDADM\\-INIT 1 "2026-12-06" "etcdadm 1\.2\.3" "etcdadm Manual"\n\.SH NAME\netcdadm\\-init \\- Initialize a new etcd cluster/);
    assert.match(init, /^\\fB\\-\\-release\\-url\\fR \\fIurl\\fR$/m);
    const tricky: CliCommand = { name: 'x', summary: 's', description: 'line one\n.not a request\n\'nor this\nback\\slash', flags: [], args: [], commands: [], examples: [] };
    const text = manPages({ ...full, commands: [tricky] }, { version: '1', date: 'd' }).find((p) => p.name === 'etcdadm-x')!.text;
    assert.match(text, /^\\&\.not a request$/m);
    assert.match(text, /^\\&'nor this$/m);
    assert.match(text, /^back\\eslash$/m);
  });
});

describe('completion scripts', () => {
  it('refuse a word that would need quoting (no shell could be made to run it)', () => {
    const bad: CliCommand = { name: 'x;rm', summary: '', description: '', flags: [], args: [], commands: [], examples: [] };
    assert.throws(() => completionScript('bash', { ...full, commands: [bad] }), /"x;rm" is not a plain word/);
  });
});
