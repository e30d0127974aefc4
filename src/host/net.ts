/**
 * What this host's network looks like: its addresses and the interface of its default route. Read from
 * os.networkInterfaces() and /proc/net/{route,ipv6_route}; the choice of address itself is pure (config/address.ts).
 */
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { createServer } from 'node:net';

export interface HostAddress {
  iface: string;
  address: string;
  family: 4 | 6;
  internal: boolean;
}

export function hostAddresses(): HostAddress[] {
  const out: HostAddress[] = [];
  for (const [iface, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      out.push({ iface, address: a.address, family: a.family === 'IPv6' ? 6 : 4, internal: a.internal });
    }
  }
  return out;
}

/** Interfaces that carry a default route, IPv4 first, then IPv6. */
export async function defaultRouteInterfaces(): Promise<string[]> {
  const out: string[] = [];
  const v4 = await readFile('/proc/net/route', 'utf8').catch(() => '');
  for (const line of v4.split('\n').slice(1)) {
    const [iface, dest, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && dest === '00000000' && mask === '00000000' && !out.includes(iface)) out.push(iface);
  }
  const v6 = await readFile('/proc/net/ipv6_route', 'utf8').catch(() => '');
  for (const line of v6.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const iface = f[9]!;
    if (f[0] === '00000000000000000000000000000000' && f[1] === '00' && iface !== 'lo' && !out.includes(iface)) out.push(iface);
  }
  return out;
}

/** Whether something already listens on host:port (we try to bind it ourselves and release it at once). */
export async function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(true);
      else reject(err);
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(false)));
  });
}
