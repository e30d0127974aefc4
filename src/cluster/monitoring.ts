/**
 * Prometheus alert rules for one cluster: etcd's own alerts (its Prometheus mixin: metric names and thresholds),
 * with this cluster's numbers written in — its quorum and its quota. Pure: `etcdadm monitoring rules` prints them.
 *
 *   etcdMembersDown            a scraped member down (up == 0) for 10 m
 *   etcdInsufficientMembers    fewer members up than the quorum of this cluster's voting members, 3 m (critical)
 *   etcdNoLeader               a member without leader, 1 m (critical)
 *   etcdHighNumberOfLeaderChanges   4 or more leader changes within 15 m
 *   etcdHighNumberOfFailedProposals more than 5 failed proposals within 15 m
 *   etcdHighFsyncDurations     WAL fsync p99 above 0.5 s (warning) / 1 s (critical), 10 m
 *   etcdHighCommitDurations    backend commit p99 above 0.25 s, 10 m
 *   etcdMemberCommunicationSlow     peer round trip p99 above 0.15 s, 10 m
 *   etcdDatabaseQuotaLowSpace  the file above 95 % of this cluster's quota, 10 m (critical)
 *   etcdDatabaseHighFragmentationRatio   under 50 % of the file in use while over 100 MB is in use, 10 m
 */
import { stringify } from 'yaml';

export interface RulesInput {
  /** The Prometheus job label the members are scraped under. */
  job: string;
  /** The cluster's voting members. */
  voters: number;
  /** etcd.quotaBackendBytes. */
  quotaBytes: number;
  /** What the rules were made for, in the file's header. */
  clusterId?: string;
}

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'warning' | 'critical' };
  annotations: { summary: string; description: string };
}

/** The rules file (YAML) for `input`. */
export function prometheusRules(input: RulesInput): string {
  const sel = `job=${JSON.stringify(input.job)}`;
  const quorum = Math.floor(input.voters / 2) + 1;
  const p99 = (metric: string) => `histogram_quantile(0.99, sum by (instance, le) (rate(${metric}{${sel}}[5m])))`;
  const rule = (alert: string, expr: string, forTime: string, severity: Rule['labels']['severity'], summary: string, description: string): Rule => ({
    alert,
    expr,
    for: forTime,
    labels: { severity },
    annotations: { summary, description },
  });
  const rules: Rule[] = [
    rule('etcdMembersDown', `up{${sel}} == 0`, '10m', 'warning', 'An etcd member is down.', 'etcd member {{ $labels.instance }} has not been scraped for 10 minutes (etcdadm status shows which members answer).'),
    rule('etcdInsufficientMembers', `sum(up{${sel}}) < ${quorum}`, '3m', 'critical', 'The etcd cluster has fewer members up than its quorum.', `Fewer than ${quorum} of the ${input.voters} voting members are up: the cluster has lost quorum and refuses writes (docs/operations.md, "Recovering from quorum loss").`),
    rule('etcdNoLeader', `etcd_server_has_leader{${sel}} == 0`, '1m', 'critical', 'An etcd member has no leader.', 'etcd member {{ $labels.instance }} has had no leader for 1 minute.'),
    rule('etcdHighNumberOfLeaderChanges', `increase(etcd_server_leader_changes_seen_total{${sel}}[15m]) >= 4`, '5m', 'warning', 'Frequent etcd leader elections.', '{{ $value }} leader changes within 15 minutes seen by {{ $labels.instance }}: a slow disk, CPU starvation or network trouble (etcdadm check).'),
    rule('etcdHighNumberOfFailedProposals', `rate(etcd_server_proposals_failed_total{${sel}}[15m]) > 5`, '15m', 'warning', 'etcd proposals are failing.', '{{ $value }} proposal failures per second on {{ $labels.instance }} over 15 minutes.'),
    rule('etcdHighFsyncDurations', `${p99('etcd_disk_wal_fsync_duration_seconds_bucket')} > 0.5`, '10m', 'warning', 'etcd WAL fsyncs are slow.', 'The 99th percentile of WAL fsync durations on {{ $labels.instance }} is {{ $value }}s (a healthy disk stays under 10 ms).'),
    rule('etcdHighFsyncDurations', `${p99('etcd_disk_wal_fsync_duration_seconds_bucket')} > 1`, '10m', 'critical', 'etcd WAL fsyncs are very slow.', 'The 99th percentile of WAL fsync durations on {{ $labels.instance }} is {{ $value }}s.'),
    rule('etcdHighCommitDurations', `${p99('etcd_disk_backend_commit_duration_seconds_bucket')} > 0.25`, '10m', 'warning', 'etcd backend commits are slow.', 'The 99th percentile of backend commit durations on {{ $labels.instance }} is {{ $value }}s (a healthy disk stays under 25 ms).'),
    rule('etcdMemberCommunicationSlow', `${p99('etcd_network_peer_round_trip_time_seconds_bucket')} > 0.15`, '10m', 'warning', 'etcd peer round trips are slow.', 'The 99th percentile of peer round trips from {{ $labels.instance }} is {{ $value }}s.'),
    rule(
      'etcdDatabaseQuotaLowSpace',
      `max by (instance) (etcd_mvcc_db_total_size_in_bytes{${sel}}) / ${input.quotaBytes} * 100 > 95`,
      '10m',
      'critical',
      "An etcd member's database is near its quota.",
      `{{ $labels.instance }} uses {{ $value }}% of the ${input.quotaBytes}-byte quota: at 100% every write is refused (NOSPACE); run etcdadm maintain.`,
    ),
    rule(
      'etcdDatabaseHighFragmentationRatio',
      `(etcd_mvcc_db_total_size_in_use_in_bytes{${sel}} / etcd_mvcc_db_total_size_in_bytes{${sel}}) < 0.5 and etcd_mvcc_db_total_size_in_use_in_bytes{${sel}} > 104857600`,
      '10m',
      'warning',
      "An etcd member's database file is mostly free space.",
      'Less than half of the database file of {{ $labels.instance }} is in use: run etcdadm defrag --all.',
    ),
  ];
  const header = `# Prometheus alert rules for the etcd cluster${input.clusterId ? ` ${input.clusterId}` : ''} (${input.voters} voting members, quota ${input.quotaBytes} bytes),\n# etcd's own alerts and thresholds; made by etcdadm monitoring rules. Check with: promtool check rules <file>\n`;
  return header + stringify({ groups: [{ name: 'etcd', rules }] }, { lineWidth: 0 });
}
