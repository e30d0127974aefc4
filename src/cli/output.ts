/**
 * Output formatting, in one place: every read command prints a table for humans, or JSON / YAML (`-o json|yaml`)
 * for machines, from the data cluster/ and the commands return.
 */
import { stringify } from 'yaml';
import type { MemberListResult } from '../etcd/client.js';
import { canLoseText, plural, type QuorumInfo } from '../cluster/quorum.js';
import { fragmentation } from '../cluster/db-size.js';
import type { ClusterStatus } from '../cluster/status.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `data` as JSON or YAML, or what `table` renders for humans. */
export function render<T>(data: T, format: OutputFormat, table: (d: T) => string): string {
  if (format === 'json') return JSON.stringify(data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
  if (format === 'yaml') return stringify(data).trimEnd();
  return table(data);
}

/** Two columns, keys padded: for one object (etcdadm info -o table). */
export function renderPairs(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** Bytes as etcdctl prints them (go-humanize Bytes: SI units, "20 kB", "1.5 MB"). */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1000)));
  const val = Math.floor((n / Math.pow(1000, e)) * 10 + 0.5) / 10;
  if (val < 10) return `${val.toFixed(1)} ${units[e]}`;
  // Go's %.0f rounds a tie to even (20.5 → "20")
  const whole = val - Math.floor(val) === 0.5 ? (Math.floor(val) % 2 === 0 ? Math.floor(val) : Math.ceil(val)) : Math.round(val);
  return `${whole} ${units[e]}`;
}

/** A table in etcdctl's (tablewriter) style: +---+ borders, centered headers (extra space on the right), right-aligned cells. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const center = (s: string, w: number): string => {
    const left = Math.floor((w - s.length) / 2);
    return ' '.repeat(left) + s + ' '.repeat(w - s.length - left);
  };
  const head = '|' + headers.map((h, i) => ` ${center(h, widths[i]!)} `).join('|') + '|';
  const body = rows.map((r) => '|' + widths.map((w, i) => ` ${(r[i] ?? '').padStart(w)} `).join('|') + '|');
  return [line, head, line, ...body, line].join('\n');
}

/** "cluster 8576aad9335a146c, version 3.5.30, leader eahost1, quorum 2 of 3, can lose 1 member". */
export function summaryLine(s: ClusterStatus): string {
  const q: QuorumInfo = {
    voters: s.voters,
    healthyVoters: s.healthyVoters,
    learners: s.learners,
    quorum: s.quorum,
    hasQuorum: s.hasQuorum,
    canLose: s.canLose,
    faultTolerance: 0,
  };
  const parts = [
    `cluster ${s.clusterId}`,
    `version ${s.version ?? 'unknown'}${s.mixedVersions ? ' (mixed)' : ''}`,
    `leader ${s.leaderName ?? 'none'}`,
    `quorum ${s.quorum} of ${s.voters}${s.healthyVoters < s.voters ? ` (${s.healthyVoters} healthy)` : ''}`,
  ];
  if (s.learners) parts.push(plural(s.learners, 'learner'));
  parts.push(canLoseText(q));
  return parts.join(', ');
}

const dash = (v: string | number | null): string => (v === null || v === '' ? '-' : String(v));

/** The status as a table (one for the whole cluster plus summary lines), JSON or YAML. */
export function formatStatus(s: ClusterStatus, format: OutputFormat): string {
  return render(s, format, statusTable);
}

function statusTable(s: ClusterStatus): string {
  // the serving certificates' columns when `status` probed them
  const certs = s.members.some((m) => m.servingCert !== undefined);
  const trusts = s.members.some((m) => m.trustedCAs !== undefined);
  const headers = ['NAME', 'ID', 'ROLE', 'HEALTH', 'CLIENT URLS', 'PEER URLS', 'VERSION', 'DB SIZE', 'DB SIZE IN USE', 'FREE', 'RAFT TERM', 'RAFT INDEX', 'ALARMS'];
  const rows = s.members.map((m) => [
    dash(m.name),
    m.id,
    m.role,
    m.health,
    dash(m.clientURLs.join(',')),
    dash(m.peerURLs.join(',')),
    dash(m.version),
    m.dbSize === null ? '-' : humanBytes(m.dbSize),
    m.dbSizeInUse === null ? '-' : humanBytes(m.dbSizeInUse),
    m.dbSize === null || m.dbSizeInUse === null ? '-' : `${(fragmentation(m.dbSize, m.dbSizeInUse) * 100).toFixed(0)}%`,
    dash(m.raftTerm),
    dash(m.raftIndex),
    dash(m.alarms.join(',')),
    ...(certs ? [m.servingCert ? m.servingCert.expires.replace(/\.\d+Z$/, 'Z') : '-', m.servingCert ? m.servingCert.issuer : '-'] : []),
    ...(trusts ? [dash(m.trustedCAs?.join(',') ?? null)] : []),
  ]);
  const lines = [renderTable([...headers, ...(certs ? ['CERT EXPIRES', 'CERT CA'] : []), ...(trusts ? ['TRUSTS'] : [])], rows), summaryLine(s), `status: ${s.health}`];
  for (const p of s.problems) lines.push(`  - ${p}`);
  return lines.join('\n');
}

export interface MemberListView {
  clusterId: string;
  members: { id: string; name: string; status: 'started' | 'unstarted'; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }[];
}

export function memberListView(list: Pick<MemberListResult, 'clusterIdHex' | 'members'>): MemberListView {
  return {
    clusterId: list.clusterIdHex,
    members: list.members.map((m) => ({
      id: m.idHex,
      name: m.name,
      status: m.name === '' ? 'unstarted' : 'started',
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      isLearner: m.isLearner,
    })),
  };
}

/** The member list as etcdctl's table (ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER), JSON or YAML. */
export function formatMemberList(view: MemberListView, format: OutputFormat): string {
  return render(view, format, (v) =>
    renderTable(
      ['ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'IS LEARNER'],
      v.members.map((m) => [m.id, m.status, m.name, m.peerURLs.join(','), m.clientURLs.join(','), String(m.isLearner)]),
    ),
  );
}

export interface MemberInfo {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
  clusterId: string;
}

export function formatInfo(info: MemberInfo, format: OutputFormat): string {
  return render(info, format, (i) =>
    renderPairs([
      ['ID', i.id],
      ['NAME', i.name],
      ['PEER URLS', i.peerURLs.join(',')],
      ['CLIENT URLS', i.clientURLs.join(',')],
      ['IS LEARNER', String(i.isLearner)],
      ['CLUSTER ID', i.clusterId],
    ]),
  );
}
