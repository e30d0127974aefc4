/**
 * --dry-run, done by the runner (src/run/dry-run.ts, src/run/runner.ts): acts run on an overlay where every change
 * is recorded and printed under its phase and none reaches the host below; programs that change something are not
 * run, programs that only read are; a phase that describes itself is not acted; a refusal is still a refusal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Plan } from '../../src/config/types.js';
import { EtcdadmError } from '../../src/errors.js';
import { MemoryHost } from '../../src/host/memory.js';
import { HostRecord } from '../../src/host/record.js';
import { Logger } from '../../src/log/logger.js';
import { createRunContext } from '../../src/run/context.js';
import { describeChange, readsOnly } from '../../src/run/dry-run.js';
import { phase } from '../../src/run/phase.js';
import { runPhases } from '../../src/run/runner.js';
import { hostFacts, eth0, planOf } from '../helpers/plan.js';

function logger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('info', 'text', { write: (s: string) => void lines.push(...s.split('\n').filter(Boolean)), isTTY: false }), lines };
}

describe('dry runs', () => {
  it('which programs only read', () => {
    assert.equal(readsOnly('systemctl', ['is-active', 'etcd.service']), true);
    assert.equal(readsOnly('/usr/bin/systemctl', ['show', 'x.timer', '-p', 'NextElapseUSecRealtime']), true);
    assert.equal(readsOnly('systemctl', ['enable', '--now', 'etcd.service']), false);
    assert.equal(readsOnly('systemctl', ['daemon-reload']), false);
    assert.equal(readsOnly('/opt/bin/etcd', ['--version']), true);
    assert.equal(readsOnly('/opt/bin/etcdutl', ['snapshot', 'status', '/x.db', '-w', 'json']), true);
    assert.equal(readsOnly('/opt/bin/etcdutl', ['snapshot', 'restore', '/x.db']), false);
    assert.equal(readsOnly('useradd', ['--system', 'etcd']), false);
    assert.equal(readsOnly('getent', ['passwd', 'etcd']), true);
  });

  it('says each change in words', () => {
    assert.equal(describeChange({ op: 'write', path: '/etc/etcd/etcd.env', mode: 0o644, bytes: 12 }), 'write /etc/etcd/etcd.env (0644, 12 bytes)');
    assert.equal(describeChange({ op: 'mkdir', path: '/var/lib/etcd', mode: 0o700 }), 'create the directory /var/lib/etcd (0700)');
    assert.equal(describeChange({ op: 'exec', argv: ['systemctl', 'enable', '--now', 'etcd.service'] }), 'run systemctl enable --now etcd.service');
    assert.equal(describeChange({ op: 'symlink', path: '/opt/bin/etcd', target: 'etcd-v3.6.16/etcd' }), 'point /opt/bin/etcd at etcd-v3.6.16/etcd');
  });

  it('acts on an overlay: the host below is unchanged, every change is printed under its phase, described phases are not acted', async () => {
    const ran: string[][] = [];
    const base = new MemoryHost({ exec: (cmd, args) => (ran.push([cmd, ...args]), { code: 0, stdout: cmd === 'systemctl' && args[0] === 'is-active' ? 'inactive\n' : '', stderr: '' }) });
    await base.write('/etc/etcd/etcd.env', 'OLD=1\n');
    const before = JSON.stringify(await base.tree('/'));
    const plan: Plan = planOf({}, hostFacts([eth0('10.0.0.1')], ['eth0']), undefined, 'init');
    const { log, lines } = logger();
    let described = false;
    let acted = false;
    const phases = [
      phase<boolean, boolean>({
        name: 'configure',
        short: 'write and reload',
        observe: async (ctx) => ctx.init.isActive(ctx.plan),
        decide: (_p, active) => active,
        async act(ctx) {
          await ctx.host.write('/etc/etcd/etcd.env', 'NEW=1\n', { mode: 0o600 });
          assert.equal(await ctx.host.read('/etc/etcd/etcd.env'), 'NEW=1\n', 'the overlay shows its own writes');
          await ctx.host.mkdir('/var/lib/etcd', 0o700);
          await ctx.host.exec('systemctl', ['daemon-reload']);
        },
      }),
      phase<undefined, undefined>({
        name: 'health',
        short: 'a wait',
        dryRun: () => ((described = true), ['wait until etcd answers a quorum read']),
        act: async () => void (acted = true),
      }),
    ];
    const ctx = createRunContext({ command: 'test', plan, record: HostRecord.empty(base), host: base, log, out: () => undefined, options: {}, endpoints: () => [], dryRun: true });
    await runPhases(ctx, phases);
    assert.equal(JSON.stringify(await base.tree('/')), before, 'nothing changed below');
    assert.deepEqual(ran, [['systemctl', 'is-active', 'etcd.service']], 'only the program that reads ran');
    assert.equal(described && !acted, true);
    const said = lines.map((l) => l.replace(/^\S+ \S+ +INFO +/, ''));
    assert.deepEqual(said, [
      '[configure] would write /etc/etcd/etcd.env (0600, 6 bytes)',
      '[configure] would create the directory /var (0755)',
      '[configure] would create the directory /var/lib (0755)',
      '[configure] would create the directory /var/lib/etcd (0700)',
      '[configure] would run systemctl daemon-reload',
      '[health] would wait until etcd answers a quorum read',
      'Dry run: nothing was changed',
    ]);
  });

  it('a refusal in a dry run is the real run\'s refusal', async () => {
    const base = new MemoryHost();
    const plan: Plan = planOf({}, hostFacts([eth0('10.0.0.1')], ['eth0']), undefined, 'init');
    const ctx = createRunContext({ command: 'test', plan, record: HostRecord.empty(base), host: base, log: logger().log, out: () => undefined, options: {}, endpoints: () => [], dryRun: true });
    const refusing = phase<undefined, undefined>({ name: 'preflight', short: 'refuses', act: async () => { throw new EtcdadmError('the data dir holds a member'); } });
    await assert.rejects(runPhases(ctx, [refusing]), /the data dir holds a member/);
  });
});
