/**
 * URL and SAN arithmetic. Pure: no I/O. IPv6 hosts are always bracketed in URLs (`https://[fd00::1]:2379`).
 */
import { isIP } from 'node:net';
import { EtcdadmError } from '../errors.js';
import type { SanSet } from '../pki/types.js';
import { validateMemberName } from './document.js';

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

/**
 * Why a peer URL cannot go into a file etcdadm writes (ETCD_INITIAL_CLUSTER): it must be http(s)://host:port and
 * nothing else — no path, no credentials, no character that ends a value or a line. Pure.
 */
export function peerUrlProblem(url: string): string | undefined {
  if (/[\x00-\x20\x7f,="'\\]/.test(url)) return 'it holds a space, a control character, a comma, "=", a quote or a backslash';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'it is not a URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'it is not an http(s) URL';
  if (!u.hostname || !u.port || u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return 'it is not scheme://host:port';
  return undefined;
}

/**
 * `name1=https://a:2380,name2=https://b:2380` as ETCD_INITIAL_CLUSTER wants it. Names and peer URLs that come from
 * a cluster's member list are checked like the operator's own input before they reach a file: one that is not a
 * DNS name (or an unstarted member's hex ID) or not a plain peer URL is refused, naming the member.
 */
export function initialCluster(members: { name: string; peerURLs: string[]; id?: string }[]): string {
  for (const m of members) {
    const problem = memberDataProblem(m);
    if (problem) throw new EtcdadmError(problem.message, { hint: problem.hint });
  }
  return members.flatMap((m) => m.peerURLs.map((u) => `${m.name}=${u}`)).join(',');
}

/** Why a member of a cluster's member list cannot go into etcd.env (its name, or a peer URL), with what to do. Pure. */
export function memberDataProblem(m: { name: string; peerURLs: readonly string[]; id?: string }): { message: string; hint: string } | undefined {
  const who = m.id ? `member ${m.id}` : `member ${JSON.stringify(m.name)}`;
  // an unstarted member has no name yet: it goes in under its hex ID
  const nameProblem = /^[0-9a-f]{1,16}$/.test(m.name) ? undefined : validateMemberName(m.name);
  if (nameProblem)
    return {
      message: `the cluster's ${who} is named ${JSON.stringify(m.name)}, which ${nameProblem}: it cannot go into etcd.env`,
      hint: `remove or rename that member ('etcdadm member remove ${m.id ?? 'ID'}' on a member host); etcdadm changed nothing`,
    };
  for (const u of m.peerURLs) {
    const urlProblem = peerUrlProblem(u);
    if (urlProblem)
      return {
        message: `the cluster's ${who} has the peer URL ${JSON.stringify(u)}: ${urlProblem}; it cannot go into etcd.env`,
        hint: "fix that member's peer URLs ('etcdctl member update') or remove it; etcdadm changed nothing",
      };
  }
  return undefined;
}

/**
 * `--initial-cluster name1=https://a:2380,name2=https://b:2380` (etcd's own syntax; a name may repeat for several
 * peer URLs): the members of a cluster bootstrapped together, in order. Throws EtcdadmError (exit 2) naming the
 * first problem. Pure.
 */
export function parseInitialCluster(text: string): { name: string; peerURLs: string[] }[] {
  const out: { name: string; peerURLs: string[] }[] = [];
  const bad = (why: string) => new EtcdadmError(`invalid --initial-cluster "${text}": ${why}`, { hint: 'name=https://host:2380 per member, comma-separated, such as etcd-a=https://10.0.0.1:2380,etcd-b=https://10.0.0.2:2380', exitCode: 2 });
  for (const part of text.split(',').map((p) => p.trim())) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(`"${part}" is not name=peer-URL`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1).replace(/\/+$/, '');
    const nameProblem = validateMemberName(name);
    if (nameProblem) throw bad(`the name "${name}" ${nameProblem}`);
    const urlProblem = peerUrlProblem(url);
    if (urlProblem) throw bad(`the peer URL "${url}" of ${name}: ${urlProblem}`);
    if (out.some((m) => m.peerURLs.includes(url))) throw bad(`the peer URL ${url} is given twice`);
    const m = out.find((x) => x.name === name);
    if (m) m.peerURLs.push(url);
    else out.push({ name, peerURLs: [url] });
  }
  return out;
}
