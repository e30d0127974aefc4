/**
 * Plans for unit tests, resolved exactly as the CLI resolves them: flags (commander's attribute names) as a settings
 * layer validated by the schema, over an optional configuration document, on given host facts.
 */
import { stringify } from 'yaml';
import { flagsLayer, type FlagSet } from '../../src/cli/flags.js';
import { parseConfigLayer } from '../../src/config/file.js';
import { resolvePlan } from '../../src/config/plan/index.js';
import type { HostAddress, HostFacts, Plan } from '../../src/config/types.js';

export const LOOPBACK: HostAddress[] = [
  { iface: 'lo', address: '127.0.0.1', family: 4, internal: true },
  { iface: 'lo', address: '::1', family: 6, internal: true },
];

export const eth0 = (address: string, family: 4 | 6 = 4): HostAddress => ({ iface: 'eth0', address, family, internal: false });
export const eth1 = (address: string, family: 4 | 6 = 4): HostAddress => ({ iface: 'eth1', address, family, internal: false });

export function hostFacts(extra: HostAddress[], defaultRouteIfaces: string[] = [], hostname = 'node-a'): HostFacts {
  return { hostname, addresses: [...LOOPBACK, ...extra], defaultRouteIfaces, cpus: 4 };
}

/** A plan from `flags` (and a document given as an object, as if read from a file) on `host`. */
export function planOf(flags: Record<string, unknown>, host: HostFacts, doc?: object, set: FlagSet = 'join'): Plan {
  const layers = [];
  if (doc) layers.push(parseConfigLayer(stringify({ apiVersion: 'etcdadm.io/v1beta1', kind: 'JoinConfiguration', ...doc }), 'test.yaml'));
  layers.push(flagsLayer(flags, set, flags.endpoints ? { join: { endpoints: flags.endpoints as string[] } } : {}));
  return resolvePlan(layers, host);
}
