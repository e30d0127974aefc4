/** The facts about this host that configuration resolution needs, gathered once per command. */
import { availableParallelism, hostname } from 'node:os';
import type { HostFacts } from '../config/resolve.js';
import { defaultRouteInterfaces, hostAddresses } from './net.js';

export async function gatherHostFacts(): Promise<HostFacts> {
  return {
    hostname: hostname(),
    addresses: hostAddresses(),
    defaultRouteIfaces: await defaultRouteInterfaces(),
    cpus: availableParallelism(),
  };
}
