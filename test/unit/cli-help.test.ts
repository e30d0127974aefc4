import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from '@commander-js/extra-typings';
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

describe('--help', () => {
  const all = [...walk(buildProgram())];
  it('covers the commands etcdadm users script against', () => {
    const names = all.map(([p]) => p);
    for (const p of ['init', 'init phase install', 'init phase post-init-instructions', 'join', 'join phase membership', 'reset', 'info', 'download', 'version', 'status', 'member remove', 'config print init-defaults'])
      assert.ok(names.includes(p), p);
  });
  for (const [path, cmd] of all) {
    it(`etcdadm ${path || '(root)'} --help has an example`, () => {
      const text = helpOf(cmd);
      assert.match(text, /\nExample:\n  etcdadm /, text);
    });
  }
  it('--version is etcd\'s version on init and join, never the CLI\'s', () => {
    for (const [path, cmd] of all.filter(([p]) => p === 'init' || p === 'join')) {
      assert.match(helpOf(cmd), /--version <version>\s+etcd version to install/, path);
    }
  });
});
