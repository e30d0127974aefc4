/** What a run remembers between its phases (src/run/context.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHost } from '../../src/host/memory.js';
import { HostRecord } from '../../src/host/record.js';
import { Logger } from '../../src/log/logger.js';
import { createRunContext } from '../../src/run/context.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

describe('run context: once', () => {
  const host = new MemoryHost();
  const plan = planOf({}, hostFacts([eth0('10.0.0.1')], ['eth0']), undefined, 'init');
  const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });
  const ctx = () => createRunContext({ command: 'init', plan, record: HostRecord.empty(host), host, log: quiet, out: () => undefined, options: {}, endpoints: (p) => [p.member.urls.localClient] });

  it('works a key out once per run; another key, or another run, works it out again', async () => {
    let calls = 0;
    const work = async () => ++calls;
    const run = ctx();
    assert.equal(await run.once('snapshot /x 10 1', work), 1);
    assert.equal(await run.once('snapshot /x 10 1', work), 1, 'the same key: the first result');
    assert.equal(await run.once('snapshot /x 11 2', work), 2, 'the file changed: a new key');
    assert.equal(await ctx().once('snapshot /x 10 1', work), 3, 'a new run remembers nothing');
  });

  it('a failure is not remembered: the next call tries again', async () => {
    const run = ctx();
    let calls = 0;
    await assert.rejects(run.once('k', async () => { calls++; throw new Error('no'); }), /no/);
    assert.equal(await run.once('k', async () => ++calls), 2);
  });
});
