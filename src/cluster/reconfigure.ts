/**
 * The rules of `etcdadm reconfigure`, pure: what rolling a member onto changed settings changes, and what it refuses.
 * The host command (src/phases/reconfigure.ts) and `etcdadm apply` (whether a host's settings differ from the Cluster
 * document, and which) share them.
 *
 * - The settings: a configuration document is the whole new configuration of the member (what it leaves out takes
 *   its default); without one, the host record's settings; the flags over either. The etcd version stays the
 *   record's (moving it is `upgrade apply`'s), and what etcd.env and etcdctl.env do not hold — the release URL and
 *   cache, certificate lifetimes, SANs and renewal, disk priorities, backups, the defrag timer — stays as recorded:
 *   other commands change those.
 * - What changes: etcd.env rendered for the new settings, with the cluster facts of the running file (etcd read them
 *   at its first start only), against the running file, variable by variable; etcdctl.env the same way. Nothing
 *   differs: nothing to change.
 * - What a restart cannot change, refused before anything changes: the member name, the data and WAL dirs, the peer
 *   URLs (a member update of the cluster changes those), the certificates' paths, the service's init system, unit
 *   and user, and the install dir — in the settings, or in the running files (edited by hand).
 */
import { DEFAULT_DOCUMENT_VALUES } from '../config/document.js';
import { mergeSettings, type SettingsLayer } from '../config/settings.js';
import type { Plan, Settings } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import { clusterFactsOf, parseEnvFile, renderEnvFile, renderEtcdctlEnv } from '../service/render.js';

/** A variable of an env file that differs: absent on one side when `from` or `to` is undefined. */
export interface EnvChange {
  key: string;
  from?: string;
  to?: string;
}

/** Pure: the variables that differ between two env files (etcd.env, etcdctl.env), in the desired file's order, then those it drops. */
export function envChanges(currentEnvText: string, desiredEnvText: string): EnvChange[] {
  return variableChanges(parseEnvFile(currentEnvText), parseEnvFile(desiredEnvText));
}

/** Pure: envChanges on parsed files. */
export function variableChanges(current: ReadonlyMap<string, string>, desired: ReadonlyMap<string, string>): EnvChange[] {
  const out: EnvChange[] = [];
  for (const [key, to] of desired) {
    const from = current.get(key);
    if (from !== to) out.push(from === undefined ? { key, to } : { key, from, to });
  }
  for (const [key, from] of current) if (!desired.has(key)) out.push({ key, from });
  return out;
}

/** `KEY: old → new`, as reconfigure logs a change. */
export function changeLine(c: EnvChange): string {
  return `${c.key}: ${c.from ?? '(unset)'} → ${c.to ?? '(unset)'}`;
}

/**
 * Pure: etcd.env as `plan` renders it for this member, with the cluster facts of the running file (`currentEnvText`;
 * `token`, the host record's cluster token, when that file names none).
 */
export function desiredEnvText(plan: Plan, currentEnvText: string, token?: string): string {
  return desiredEnv(plan, parseEnvFile(currentEnvText), token);
}

/** Pure: desiredEnvText on the parsed running file. */
export function desiredEnv(plan: Plan, current: ReadonlyMap<string, string>, token?: string): string {
  return renderEnvFile(plan, clusterFactsOf(current, plan.files.envFile, token));
}

type Field = { [S in keyof Settings]: readonly [S, keyof Settings[S] & string] }[keyof Settings];

const SERVICE_HOW = 'the service is set up by init or join: keep service.* as recorded (etcdadm config view)';
const DIR_HOW = 'keep member.dataDir and member.walDir as recorded (etcdadm config view): in another directory etcd would start without its data';
const PEER_HOW = "peer URLs change through a member update of the cluster (etcdctl member update), not a restart: keep the member's peer URLs as recorded (etcdadm config view)";
const CERT_KEYS = ['ETCD_CERT_FILE', 'ETCD_KEY_FILE', 'ETCD_TRUSTED_CA_FILE', 'ETCD_PEER_CERT_FILE', 'ETCD_PEER_KEY_FILE', 'ETCD_PEER_TRUSTED_CA_FILE', 'ETCDCTL_CACERT', 'ETCDCTL_CERT', 'ETCDCTL_KEY'];

/** What a restart cannot change: the setting, the env variables it shows as, what it is, and what to do instead. */
const FIXED: readonly { field: Field; keys: readonly string[]; what: string; how: string }[] = [
  { field: ['member', 'name'], keys: ['ETCD_NAME'], what: 'the member name', how: 'a member keeps its name: to rename it, replace it (etcdadm reset on this host, then etcdadm join under the new name)' },
  { field: ['member', 'dataDir'], keys: ['ETCD_DATA_DIR'], what: 'the data dir', how: DIR_HOW },
  { field: ['member', 'walDir'], keys: ['ETCD_WAL_DIR'], what: 'the WAL dir', how: DIR_HOW },
  { field: ['member', 'listenPeerURLs'], keys: ['ETCD_LISTEN_PEER_URLS'], what: 'the peer URLs', how: PEER_HOW },
  { field: ['member', 'advertisePeerURLs'], keys: ['ETCD_INITIAL_ADVERTISE_PEER_URLS'], what: 'the peer URLs', how: PEER_HOW },
  { field: ['pki', 'certsDir'], keys: CERT_KEYS, what: 'the certificate paths', how: 'keep pki.certsDir as recorded (etcdadm config view)' },
  { field: ['service', 'initSystem'], keys: [], what: "the service's init system", how: SERVICE_HOW },
  { field: ['service', 'user'], keys: [], what: "the service's user", how: SERVICE_HOW },
  { field: ['service', 'unitName'], keys: [], what: "the service's unit", how: SERVICE_HOW },
  { field: ['service', 'kubeletPodManifestPath'], keys: [], what: 'the static Pod manifest', how: SERVICE_HOW },
  { field: ['service', 'kubeletPodManifestName'], keys: [], what: 'the static Pod manifest', how: SERVICE_HOW },
  { field: ['install', 'installDir'], keys: [], what: 'the install dir', how: 'keep install.installDir as recorded (etcdadm config view)' },
];

const shown = (x: unknown): string => (Array.isArray(x) ? x.join(',') || '(none)' : x === '' ? '(none)' : String(x));
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export interface ReconfigureRefusal {
  message: string;
  hint: string;
  exitCode: number;
}

/**
 * Pure: the refusal (exit code 2) of a change a restart cannot make — between the recorded settings and the new ones,
 * or in the running files' variables (`changes`: a file edited by hand); undefined when there is none.
 */
export function restartRefusal(recorded: Settings, desired: Settings, changes: readonly EnvChange[]): ReconfigureRefusal | undefined {
  const found: { what: string; how: string; text: string }[] = [];
  for (const f of FIXED) {
    const [section, key] = f.field;
    const was = (recorded[section] as Record<string, unknown>)[key];
    const now = (desired[section] as Record<string, unknown>)[key];
    const c = changes.find((x) => f.keys.includes(x.key));
    if (!same(was, now)) found.push({ ...f, text: `${section}.${key}: ${shown(was)} → ${shown(now)}` });
    else if (c) found.push({ ...f, text: changeLine(c) });
  }
  if (!found.length) return undefined;
  const whats = [...new Set(found.map((f) => f.what))];
  const list = whats.length === 1 ? whats[0]! : `${whats.slice(0, -1).join(', ')} and ${whats.at(-1)!}`;
  return { message: `a restart cannot change ${list} (${[...new Set(found.map((f) => f.text))].join('; ')})`, hint: found[0]!.how, exitCode: 2 };
}

const all = <S extends keyof Settings>(s: S) => Object.keys(DEFAULT_DOCUMENT_VALUES[s]) as (keyof Settings[S] & string)[];

/** Settings etcd.env and etcdctl.env do not hold: reconfigure leaves them as recorded (their own commands change them). */
const NOT_IN_ENV: readonly Field[] = [
  ...(['releaseURL', 'skipHashCheck', 'insecureReleaseURL', 'downloadConnectTimeout'] as const).map((k) => ['etcd', k] as const),
  ['install', 'cacheDir'],
  ...(['keyAlgorithm', 'caValidityDays', 'certValidityDays', 'renewBeforeDays', 'autoRenew', 'serverCertExtraSANs', 'peerCertExtraSANs'] as const).map((k) => ['pki', k] as const),
  ['service', 'diskPriorities'],
  ['service', 'imageRepository'],
  ...all('backup').map((k) => ['backup', k] as const),
  ...all('defrag').map((k) => ['defrag', k] as const),
  ...all('join').map((k) => ['join', k] as const),
];

export interface ReconfigureLayers {
  /** The layers to resolve the plan from, lowest precedence first. */
  layers: SettingsLayer[];
  /** Settings the document or the flags set otherwise than recorded, left as recorded (`section.field`). */
  kept: string[];
}

/**
 * Pure: the settings layers of a reconfigure — `file` (the whole new configuration) or else the record, `flags` over
 * it — with the record's etcd version and what etcd.env does not hold laid over them. Another etcd version is
 * refused (exit code 2): that is `upgrade apply`'s.
 */
export function reconfigureLayers(input: { recorded: SettingsLayer; file?: SettingsLayer; flags: SettingsLayer }): ReconfigureLayers {
  const was = mergeSettings([input.recorded]);
  const given = input.file ? [input.file, input.flags] : [input.flags];
  for (const layer of given) {
    const version = layer.values.etcd?.version;
    if (version !== undefined && version !== was.etcd.version)
      throw new EtcdadmError(`${layer.name === 'flags' ? '--version' : layer.name} names etcd ${version}; reconfigure keeps the version this member runs, ${was.etcd.version}`, {
        hint: `move a member to another version with etcdadm upgrade apply --version ${version}`,
        exitCode: 2,
      });
  }
  const base = input.file ? given : [input.recorded, ...given];
  const wanted = mergeSettings(base);
  const values: Record<string, Record<string, unknown>> = { etcd: { version: was.etcd.version } };
  const kept: string[] = [];
  for (const [section, key] of NOT_IN_ENV) {
    const recorded = (was[section] as Record<string, unknown>)[key];
    (values[section] ??= {})[key] = structuredClone(recorded);
    // join's settings matter only while a member joins: a document made for the join is not told about them
    if (section !== 'join' && !same(recorded, (wanted[section] as Record<string, unknown>)[key])) kept.push(`${section}.${key}`);
  }
  const keep: SettingsLayer = { name: input.recorded.name, values: values as SettingsLayer['values'], problem: (at, message) => input.recorded.problem(at, message) };
  return { layers: [...base, keep], kept };
}

/** The files this member runs with now. */
export interface RunningFiles {
  /** etcd.env's variables (a static Pod's env when there is no file). */
  env: ReadonlyMap<string, string>;
  /** etcdctl.env ('' when there is none). */
  etcdctlEnv: string;
  /** The record's cluster token (for an etcd.env that names none). */
  token: string | undefined;
}

/** The files this member should run with, and their variables that differ from the running ones. */
export interface NewFiles {
  env: string;
  etcdctlEnv: string;
  changes: { env: EnvChange[]; etcdctlEnv: EnvChange[] };
}

/** Pure: the env files `plan` renders for this member and what differs from the running ones. */
export function newFiles(plan: Plan, running: RunningFiles): NewFiles {
  const env = desiredEnv(plan, running.env, running.token);
  const etcdctlEnv = renderEtcdctlEnv(plan);
  return { env, etcdctlEnv, changes: { env: variableChanges(running.env, parseEnvFile(env)), etcdctlEnv: variableChanges(parseEnvFile(running.etcdctlEnv), parseEnvFile(etcdctlEnv)) } };
}

/** Every variable that changes, etcd.env's then etcdctl.env's. */
export const allChanges = (f: NewFiles): EnvChange[] => [...f.changes.env, ...f.changes.etcdctlEnv];
