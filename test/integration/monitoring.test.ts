/**
 * `etcdadm monitoring rules` output, checked by Prometheus's own rule checker (promtool from Debian's prometheus
 * package, extracted by scripts/setup.sh) and by Prometheus's own rule evaluation (`promtool test rules`): the
 * quota alert fires at this cluster's quota and the quorum alert at its quorum, and not before.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { prometheusRules } from '../../src/cluster/monitoring.js';

const PROMTOOL = process.env.PROMTOOL ?? '/var/cache/etcdadm-lab/promtool/x/usr/bin/promtool';
const dir = mkdtempSync(join(tmpdir(), 'etcdadm-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('monitoring rules', () => {
  const text = prometheusRules({ job: 'etcd', voters: 3, quotaBytes: 16 * 1024 * 1024, clusterId: 'abc' });
  const file = join(dir, 'etcd.yml');
  writeFileSync(file, text);

  it("promtool check rules accepts the file: etcd's alerts, with this cluster's quorum and quota", () => {
    const r = spawnSync(PROMTOOL, ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: 11 rules found/);
    const doc = parse(text) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const rules = doc.groups[0]!.rules;
    assert.deepEqual([...new Set(rules.map((x) => x.alert))], [
      'etcdMembersDown',
      'etcdInsufficientMembers',
      'etcdNoLeader',
      'etcdHighNumberOfLeaderChanges',
      'etcdHighNumberOfFailedProposals',
      'etcdHighFsyncDurations',
      'etcdHighCommitDurations',
      'etcdMemberCommunicationSlow',
      'etcdDatabaseQuotaLowSpace',
      'etcdDatabaseHighFragmentationRatio',
    ]);
    assert.match(rules.find((x) => x.alert === 'etcdInsufficientMembers')!.expr, /< 2$/);
    assert.match(parse(prometheusRules({ job: 'etcd', voters: 5, quotaBytes: 1, clusterId: 'x' })).groups[0].rules[1].expr, /< 3$/);
  });

  it('promtool test rules: the quota alert fires above 95 % of 16 MiB, the quorum alert with 1 of 3 up, neither before', () => {
    const MiB = 1024 * 1024;
    const tests = {
      rule_files: [file],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'etcd_mvcc_db_total_size_in_bytes{job="etcd",instance="a"}', values: `${15 * MiB}x12 ${Math.round(15.5 * MiB)}x12` },
            { series: 'up{job="etcd",instance="a"}', values: '1x30' },
            { series: 'up{job="etcd",instance="b"}', values: '1x10 0x20' },
            { series: 'up{job="etcd",instance="c"}', values: '1x30' },
          ],
          alert_rule_test: [
            { eval_time: '11m', alertname: 'etcdDatabaseQuotaLowSpace', exp_alerts: [] },
            { eval_time: '25m', alertname: 'etcdDatabaseQuotaLowSpace', exp_alerts: [{ exp_labels: { severity: 'critical', instance: 'a' }, exp_annotations: { summary: "An etcd member's database is near its quota.", description: `a uses 96.875% of the ${16 * MiB}-byte quota: at 100% every write is refused (NOSPACE); run etcdadm maintain.` } }] },
            { eval_time: '25m', alertname: 'etcdInsufficientMembers', exp_alerts: [] },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: 'up{job="etcd",instance="a"}', values: '1x30' },
            { series: 'up{job="etcd",instance="b"}', values: '1x5 0x25' },
            { series: 'up{job="etcd",instance="c"}', values: '1x5 0x25' },
          ],
          alert_rule_test: [
            { eval_time: '7m', alertname: 'etcdInsufficientMembers', exp_alerts: [] },
            { eval_time: '12m', alertname: 'etcdInsufficientMembers', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: { summary: 'The etcd cluster has fewer members up than its quorum.', description: 'Fewer than 2 of the 3 voting members are up: the cluster has lost quorum and refuses writes (docs/operations.md, "Recovering from quorum loss").' } }] },
          ],
        },
      ],
    };
    const testFile = join(dir, 'tests.yml');
    writeFileSync(testFile, JSON.stringify(tests));
    const r = spawnSync(PROMTOOL, ['test', 'rules', testFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /SUCCESS/);
  });
});
