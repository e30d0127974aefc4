/** The systemd init system makes no systemctl call that changes nothing (src/initsystem/index.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHost } from '../../src/host/memory.js';
import { initSystemFor } from '../../src/initsystem/index.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

describe('systemd: configure', () => {
  const plan = planOf({}, hostFacts([eth0('10.0.0.1')], ['eth0']), undefined, 'init');
  const setup = (needReload: string) => {
    const ran: string[] = [];
    const host = new MemoryHost({ exec: (cmd, args) => (ran.push([cmd, ...args].join(' ')), { code: 0, stdout: args[0] === 'show' ? `${needReload}\n` : '', stderr: '' }) });
    return { ran, host, init: initSystemFor('systemd', host) };
  };

  it('writes a new unit and reloads; the same unit again: no write, no daemon-reload', async () => {
    const { ran, host, init } = setup('no');
    await init.configure(plan);
    assert.deepEqual(ran, ['systemctl daemon-reload']);
    const written = (await host.stat(plan.service.unitFile))!.mtimeMs;
    ran.length = 0;
    await init.configure(plan);
    assert.deepEqual(ran, [`systemctl show -p NeedDaemonReload --value ${plan.service.unitName}`], 'only a query');
    assert.equal((await host.stat(plan.service.unitFile))!.mtimeMs, written, 'not written again');
  });

  it('the same unit systemd has not read yet (a run stopped before its reload): reloaded', async () => {
    const { ran, init } = setup('yes');
    await init.configure(plan);
    ran.length = 0;
    await init.configure(plan);
    assert.deepEqual(ran, [`systemctl show -p NeedDaemonReload --value ${plan.service.unitName}`, 'systemctl daemon-reload']);
  });

  it('a changed unit (or mode) is written and reloaded', async () => {
    const { ran, host, init } = setup('no');
    await host.write(plan.service.unitFile, '[Unit]\nDescription=old\n', { mode: 0o644 });
    await init.configure(plan);
    assert.deepEqual(ran, ['systemctl daemon-reload']);
    await host.chmod(plan.service.unitFile, 0o666);
    ran.length = 0;
    await init.configure(plan);
    assert.deepEqual(ran, ['systemctl daemon-reload']);
    assert.equal((await host.stat(plan.service.unitFile))!.mode, 0o644);
  });
});
