/** Choosing this member's address. Pure: the host facts come in as arguments. */
import { isIP } from 'node:net';
import type { HostAddress } from './types.js';

export function isGlobalUnicast(address: string): boolean {
  const fam = isIP(address);
  if (fam === 4) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    if (a === 127 || a === 0 || a >= 224) return false; // loopback, "this network", multicast/reserved
    if (a === 169 && b === 254) return false; // link-local
    return true;
  }
  if (fam === 6) {
    const lower = address.toLowerCase();
    if (lower === '::1' || lower === '::') return false;
    if (/^fe[89ab]/.test(lower)) return false; // link-local fe80::/10
    if (lower.startsWith('ff')) return false; // multicast
    return true;
  }
  return false;
}

/**
 * The default advertise address, as etcdadm chooses it: the first global unicast address of the interface that carries
 * the default route (IPv4 before IPv6); with no default route, the first global unicast address of any interface.
 */
export function chooseAdvertiseAddress(addrs: HostAddress[], defaultRouteIfaces: string[]): string | undefined {
  const usable = addrs.filter((a) => !a.internal && isGlobalUnicast(a.address));
  const byFamily = (list: HostAddress[]) => list.find((a) => a.family === 4) ?? list.find((a) => a.family === 6);
  for (const iface of defaultRouteIfaces) {
    const hit = byFamily(usable.filter((a) => a.iface === iface));
    if (hit) return hit.address;
  }
  return byFamily(usable)?.address;
}

/** Normalise an IP for comparison (IPv6 lower-case, brackets dropped). */
export function normalizeIp(ip: string): string {
  return ip.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}
