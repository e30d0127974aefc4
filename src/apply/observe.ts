/**
 * What `apply` reads on each host of a Cluster document before it decides anything (cluster/converge.ts): the
 * hostname (the member's name when the document gives none), its host record, or an etcd set up by another tool
 * without one. Through the Host only (an SshHost for apply; any Host in tests). Changes nothing.
 */
import { detectLegacy, LEGACY_NAME } from '../adopt/index.js';
import { timerChanges, type HostView, type TimerChange } from '../cluster/converge.js';
import type { ClusterHostSpec } from '../config/cluster.js';
import { describe } from '../errors.js';
import type { Host } from '../host/host.js';
import { HostRecord } from '../host/record.js';
import { resolvePlan } from '../config/plan/index.js';
import { namedLayer } from '../config/settings.js';
import type { Plan, Settings } from '../config/types.js';
import { readExpirationReport } from '../pki/expiry-read.js';
import { allChanges, changeLine, newFiles, reconfigureLayers, restartRefusal } from '../cluster/reconfigure.js';
import { mergeSettings, type PartialSettings } from '../config/settings.js';
import { runningEnv } from '../initsystem/index.js';

/**
 * What `etcdadm reconfigure --config` would change on this member for the document's settings (its etcd.env and
 * etcdctl.env variables, at the version it runs: an upgrade in the same apply comes first), or why a restart cannot
 * make the change. The same rules as the host command (cluster/reconfigure.ts).
 */
async function settingsChange(host: Host, spec: ClusterHostSpec, name: string, record: HostRecord): Promise<{ changes: string[]; refusal?: { message: string; hint: string } }> {
  const recorded = record.layer();
  if (!recorded) return { changes: [] };
  const { version: _version, ...etcd } = spec.settings.etcd ?? {};
  const values: PartialSettings = { ...spec.settings, etcd, member: { ...spec.settings.member, name } };
  const { layers } = reconfigureLayers({ recorded, file: namedLayer('the cluster file', values, () => 'the cluster file'), flags: namedLayer('flags', {}, () => 'flags') });
  const plan = resolvePlan(layers, await host.facts());
  const files = newFiles(plan, { env: await runningEnv(host, plan), etcdctlEnv: (await host.read(plan.files.etcdctlEnvFile)) ?? '', token: record.facts?.clusterToken });
  const changes = allChanges(files);
  const refusal = restartRefusal(mergeSettings([recorded]), plan.settings, changes);
  return { changes: changes.map(changeLine), ...(refusal ? { refusal: { message: refusal.message, hint: refusal.hint } } : {}) };
}

/** The host's own plan: the Cluster document's sections for it, on its facts (its URLs, its advertise address). */
export async function hostPlan(host: Host, spec: ClusterHostSpec): Promise<Plan> {
  return resolvePlan([namedLayer('the cluster file', spec.settings, () => 'the cluster file')], await host.facts());
}

/**
 * The timers of a member host that differ from the document. The daily renewal timer (pki.autoRenew) belongs on the
 * hosts that hold the CA key only: the others cannot sign (apply renews theirs through bundles when they are due).
 */
async function timersToChange(host: Host, recorded: Settings, plan: Plan): Promise<TimerChange[]> {
  const holds = await host.exists(plan.pki.files.ca.keyPath);
  const desired = { ...plan.settings, pki: { ...plan.settings.pki, autoRenew: plan.settings.pki.autoRenew && holds } };
  return timerChanges(recorded, desired);
}

/** The host's leaf certificates within the document's pki.renewBeforeDays, or expired (the CA is rotate-ca's business). */
async function certificatesDue(host: Host, plan: Plan): Promise<string[]> {
  const report = await readExpirationReport(host, plan.pki.certsDir, plan.pki.renewBeforeDays);
  return report.certificates.filter((c) => c.name !== 'ca' && (c.state === 'renew' || c.state === 'expired')).map((c) => c.name);
}

/** The host as apply sees it; a host that could not be read says why (converge refuses then). */
export async function observeHost(spec: ClusterHostSpec, host: Host | Error): Promise<HostView> {
  const base = { index: spec.index, address: spec.address, name: spec.name ?? spec.address };
  if (host instanceof Error) return { ...base, unreachable: describe(host) };
  try {
    const facts = await host.facts();
    const name = spec.name ?? facts.hostname;
    const record = await HostRecord.load(host);
    const f = record.facts;
    if (f) {
      const version = record.layer()?.values.etcd?.version;
      const due = f.complete ? await certificatesDue(host, await hostPlan(host, spec)) : [];
      const settings = f.complete ? await settingsChange(host, spec, name, record) : { changes: [] };
      const recorded = record.layer();
      const timers = f.complete && recorded ? await timersToChange(host, mergeSettings([recorded]), await hostPlan(host, spec)) : [];
      return {
        ...base,
        name,
        record: { memberName: f.memberName, complete: f.complete, etcdVersion: typeof version === 'string' ? version : '', ...(f.clusterId ? { clusterId: f.clusterId } : {}) },
        ...(due.length ? { certsDue: due } : {}),
        ...(settings.changes.length ? { settingsDiffer: settings.changes } : {}),
        ...(settings.refusal ? { settingsRefusal: settings.refusal } : {}),
        ...(timers.length ? { timersDiffer: timers } : {}),
      };
    }
    const legacy = await detectLegacy(host);
    if (legacy.kind !== 'none') return { ...base, name, foreign: legacy.kind === 'derived' ? LEGACY_NAME : `a tool etcdadm does not know (${legacy.found.join(', ')})` };
    return { ...base, name };
  } catch (err) {
    return { ...base, unreachable: describe(err) };
  }
}
