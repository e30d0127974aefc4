/**
 * Which etcd version `join` installs: the one the cluster's members run, so that a join never makes a mixed-version
 * cluster by accident. Decided before the plan is resolved (the version decides the release, the flags etcd.env
 * spells, and etcdctl.env), from a probe of the cluster with a short-lived client certificate (cluster/probe.ts).
 */
import type { SettingsLayer } from '../config/settings.js';
import { namedLayer } from '../config/settings.js';
import { resolvePlan } from '../config/plan/index.js';
import type { HostFacts } from '../config/types.js';
import { compareVersions } from '../config/version.js';
import { memberVersions, probeTls } from '../cluster/probe.js';
import { decideReplacement, type Replaced } from '../cluster/replace.js';
import type { ClusterStatus } from '../cluster/status.js';
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { joinEndpoints } from '../run/context.js';

export type JoinVersionDecision =
  | { kind: 'use'; version: string; why: string }
  | { kind: 'refuse'; message: string; hint: string };

/**
 * `given`: the --version (or etcd.version of the config file), if any; `running`: the versions the answering
 * members report. One version running: that one, and a different --version is refused. Two or more (a rolling
 * upgrade or downgrade is under way): --version must be one of them; without it the newest, where an upgrade goes.
 */
export function decideJoinVersion(given: string | undefined, running: readonly string[]): JoinVersionDecision {
  const versions = [...new Set(running)].sort(compareVersions);
  if (versions.length === 0) {
    if (given) return { kind: 'use', version: given, why: `no member reported its version; installing etcd ${given} as given` };
    return { kind: 'refuse', message: 'no member of the cluster reported its etcd version', hint: 'check that the members are up, or pass --version with the version they run' };
  }
  const upgrade = 'etcdadm upgrade plan';
  if (versions.length === 1) {
    const v = versions[0]!;
    if (!given || given === v) return { kind: 'use', version: v, why: `the cluster runs etcd ${v}` };
    return {
      kind: 'refuse',
      message: `the cluster runs etcd ${v}; joining with --version ${given} would make it a mixed-version cluster`,
      hint: `leave out --version (or pass --version ${v}); to move the cluster to ${given}, see '${upgrade} --version ${given}' on a member`,
    };
  }
  const list = versions.join(', ');
  if (given && versions.includes(given)) return { kind: 'use', version: given, why: `the cluster's members run etcd ${list} (a rolling upgrade or downgrade)` };
  if (given)
    return { kind: 'refuse', message: `the cluster's members run etcd ${list} (a rolling upgrade or downgrade); --version ${given} is none of them`, hint: `join with one of ${list}, or finish the upgrade first ('${upgrade}')` };
  const newest = versions[versions.length - 1]!;
  return { kind: 'use', version: newest, why: `the cluster's members run etcd ${list} (a rolling upgrade or downgrade); installing the newest` };
}

/** The --version given on the command line or in the config file, if any. */
function givenVersion(layers: readonly SettingsLayer[]): string | undefined {
  return layers.map((l) => l.values.etcd?.version).filter((v): v is string => typeof v === 'string').at(-1);
}

/** The --name given on the command line or in the config file, if any. */
function givenName(layers: readonly SettingsLayer[]): string | undefined {
  return layers.map((l) => l.values.member?.name).filter((v): v is string => typeof v === 'string').at(-1);
}

/**
 * `join --replace <member>`, before the plan: refused (nothing changed yet) when the member still answers or is not
 * there; else the replaced member's name under the flags, so the new member takes it unless --name says otherwise.
 */
function withReplacement(layers: SettingsLayer[], status: ClusterStatus, target: string, before: Replaced | undefined, log: Logger): SettingsLayer[] {
  const d = decideReplacement(status.members, target, before);
  if (d.kind === 'refuse') throw new EtcdadmError(d.message, { hint: d.hint, exitCode: d.exitCode });
  log.info(d.why);
  if (!d.name || givenName(layers) !== undefined) return layers;
  return [namedLayer('the replaced member', { member: { name: d.name } }, () => `the name of the member this host replaces`), ...layers];
}

/**
 * `layers` with the cluster's etcd version under them (the flags and the file still win, if allowed), and with
 * `replace` the replaced member's name (withReplacement).
 */
export async function withClusterVersion(
  host: Host,
  layers: SettingsLayer[],
  facts: HostFacts,
  log: Logger,
  options: { certsBundle?: string; replace?: { target: string; before: Replaced | undefined } } = {},
): Promise<SettingsLayer[]> {
  const given = givenVersion(layers);
  const probe = resolvePlan(layers, facts);
  const endpoints = joinEndpoints(probe);
  const tls = await probeTls(host, probe, options.certsBundle); // a missing or broken CA fails here, worded as preflight words it
  let running: string[];
  try {
    const found = await memberVersions(endpoints, tls, log);
    running = [...found.versions.values()];
    if (options.replace) layers = withReplacement(layers, found.status, options.replace.target, options.replace.before, log);
  } catch (err) {
    if (err instanceof EtcdadmError && options.replace) throw err;
    if (given && !options.replace) {
      log.warn(`cannot read the etcd version the cluster at ${endpoints.join(',')} runs (${describe(err)}); installing etcd ${given} as given`);
      return layers;
    }
    throw new EtcdadmError(`cannot read the etcd version the cluster at ${endpoints.join(',')} runs: ${describe(err)}`, {
      hint: 'check the endpoint and that this host reaches it, or pass --version with the version the members run',
      cause: err,
    });
  }
  const d = decideJoinVersion(given, running);
  if (d.kind === 'refuse') throw new EtcdadmError(d.message, { hint: d.hint, exitCode: 2 });
  log.info(`${d.why}: installing etcd ${d.version}`);
  if (d.version === given) return layers;
  return [namedLayer('the cluster', { etcd: { version: d.version } }, () => 'the version the cluster runs'), ...layers];
}
