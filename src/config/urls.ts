/**
 * URL and SAN arithmetic. Pure: no I/O. IPv6 hosts are always bracketed in URLs (`https://[fd00::1]:2379`).
 */
import { isIP } from 'node:net';
import type { SanSet } from '../pki/types.js';

/** `host:port` with IPv6 bracketed. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function httpsUrl(host: string, port: number): string {
  return `https://${hostPort(host, port)}`;
}

/** The host of a URL without IPv6 brackets. */
export function urlHost(url: string): string {
  const h = new URL(url).hostname;
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

export function urlPort(url: string): number {
  const u = new URL(url);
  if (u.port) return Number(u.port);
  return u.protocol === 'https:' ? 443 : 80;
}

/** Whether a URL's host is this host's loopback (127.x, ::1, localhost). */
export function isLoopbackUrl(url: string): boolean {
  const h = urlHost(url);
  return h === 'localhost' || h === '::1' || h.startsWith('127.');
}

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** Parse and normalise an etcd endpoint given by a user ("https://10.0.0.1:2379"). Undefined when not a URL. */
export function parseEndpoint(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (!u.hostname || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return undefined;
  return `${u.protocol}//${u.host}`;
}

/** Split names into DNS names and IP addresses, dropping wildcards and duplicates, keeping first-seen order. */
export function sanSet(names: Iterable<string>): SanSet {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const raw of names) {
    const n = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (!n || isWildcard(n)) continue;
    const list = isIP(n) ? ipAddresses : dnsNames;
    const key = isIP(n) ? n : n.toLowerCase();
    if (!list.includes(key)) list.push(key);
  }
  return { dnsNames, ipAddresses };
}

/** `name1=https://a:2380,name2=https://b:2380` as ETCD_INITIAL_CLUSTER wants it. */
export function initialCluster(members: { name: string; peerURLs: string[] }[]): string {
  return members.flatMap((m) => m.peerURLs.map((u) => `${m.name}=${u}`)).join(',');
}
