/**
 * `etcdadm reconfigure` (each member host in turn, followers first, the leader last): roll this member onto changed
 * settings, as phases (src/phases/reconfigure.ts; what changes and what is refused: src/cluster/reconfigure.ts).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { reconfigureLayers } from '../../cluster/reconfigure.js';
import { mergeSettings, type SettingsLayer } from '../../config/settings.js';
import { normalizeVersion } from '../../config/version.js';
import { EtcdadmError } from '../../errors.js';
import { RECONFIGURE_PHASES, type ReconfigureOptions } from '../../phases/reconfigure.js';
import { memberEndpoints } from '../../run/context.js';
import type { Invocation } from '../command.js';
import { workflowCommand } from '../workflow.js';
import { flagsLayer } from '../flags.js';

function recordedLayer(inv: Invocation): SettingsLayer {
  const recorded = inv.record.layer();
  if (!recorded) throw new EtcdadmError(`no host record at ${inv.record.path}: reconfigure runs on a member host set up by etcdadm init or join`, { hint: 'run it on a member host, as root' });
  return recorded;
}

/** --config (the whole new configuration) or the record's settings, the flags over it; the record's version and what etcd.env does not hold over all. */
async function layers(inv: Invocation): Promise<SettingsLayer[]> {
  const recorded = recordedLayer(inv);
  const running = mergeSettings([recorded]).etcd.version;
  const raw = inv.opts.version;
  const version = raw === undefined ? undefined : normalizeVersion(String(raw));
  if (raw !== undefined && !version) throw new EtcdadmError(`invalid --version "${String(raw)}": not an etcd version (like 3.6.16)`, { exitCode: 2 });
  const flags = flagsLayer(inv.opts, 'reconfigure', version ? { etcd: { version } } : {}, running);
  const { loadConfigLayer } = await import('../../config/file.js');
  const file = typeof inv.opts.config === 'string' ? await loadConfigLayer(inv.opts.config, { etcdVersion: running, onWarning: (w) => inv.log.warn(w) }) : undefined;
  const r = reconfigureLayers({ recorded, flags, ...(file ? { file } : {}) });
  if (r.kept.length)
    inv.log.withPhase('preflight').warn(`Left as recorded (not in etcd.env or etcdctl.env; other commands change them): ${r.kept.join(', ')}`);
  return r.layers;
}

export function reconfigureCommand(): Command<any, any, any> {
  const cmd = new Command('reconfigure');
  workflowCommand<ReconfigureOptions>(cmd, {
    name: 'reconfigure',
    set: 'reconfigure',
    phases: RECONFIGURE_PHASES,
    useRecord: true,
    // a member that does not come back healthy is put back: the previous env files, etcd restarted on them
    rollback: true,
    layers,
    options: (inv) => ({ recorded: mergeSettings([recordedLayer(inv)]) }),
    // the member's client URLs as recorded too: where it answers until it restarts on new ones
    contextEndpoints: (p, r, inv) => [...new Set([...memberEndpoints(p, r), ...mergeSettings([recordedLayer(inv)]).member.advertiseClientURLs])],
    extraOptions: () => [new Option('--version <version>', "etcd's version: the one this member runs (another is refused: etcdadm upgrade apply moves versions)")],
    example:
      'Settings: with --config FILE, the document (any host kind, as init --config takes) is the whole new\n' +
      'configuration of this member — what it leaves out takes its default; without it, the host record\'s\n' +
      'settings; the flags over either. The etcd version stays the one the member runs, and what etcd.env and\n' +
      'etcdctl.env do not hold (backups, timers, certificate settings, disk priorities) stays as recorded.\n' +
      'Refused, before anything changes (exit 2): another etcd version, the member name, data and WAL dirs,\n' +
      'peer URLs, certificate paths, the service and the install dir. Nothing differs: nothing to change.\n' +
      'A member that does not come back healthy is put back on its previous files.\n' +
      'Run on each member host in turn, followers first and the leader last.\n\n' +
      'Example:\n  etcdadm reconfigure --quota-backend-bytes 4294967296 --dry-run\n  etcdadm reconfigure --quota-backend-bytes 4294967296\n  etcdadm reconfigure --config /etc/etcdadm/member.yaml\n',
  });
  return cmd;
}
