import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { REPO } from '../helpers/lab.js';
import { buildProgram } from '../../src/cli/main.js';

function* walk(cmd: Command<any, any, any>, path: string[] = []): Generator<[string, Command<any, any, any>]> {
  yield [path.join(' '), cmd];
  for (const sub of cmd.commands) if (sub.name() !== 'help') yield* walk(sub as Command<any, any, any>, [...path, sub.name()]);
}

function helpOf(cmd: Command<any, any, any>): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

const all = [...walk(await buildProgram())];
describe('--help', () => {
  it('covers the commands etcdadm users script against', () => {
    const names = all.map(([p]) => p);
    for (const p of ['init', 'init phase install', 'init phase post-init-instructions', 'join', 'join phase membership', 'reset', 'reconfigure', 'reconfigure phase restart', 'info', 'download', 'version', 'status', 'member remove', 'config print init-defaults'])
      assert.ok(names.includes(p), p);
  });
  for (const [path, cmd] of all) {
    it(`etcdadm ${path || '(root)'} --help has an example`, () => {
      const text = helpOf(cmd);
      assert.match(text, /\nExample:\n  etcdadm /, text);
    });
  }
  it("--version on init and join takes etcd's version; the CLI's own version is `etcdadm version`", () => {
    const cli = (args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/etcdadm.cjs'), ...args], { encoding: 'utf8' });
    for (const c of ['init', 'join']) {
      const r = cli([c, '--version']);
      assert.notEqual(r.status, 0, c);
      assert.match(r.stderr, /option '--version <version>' argument missing/, c);
    }
    const root = cli(['--version']);
    assert.notEqual(root.status, 0);
    assert.match(root.stderr, /unknown option '--version'/);
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    assert.equal(cli(['version', '--short']).stdout.trim(), `v${pkg.version}`);
  });
});
