/**
 * `etcdadm check`: the doctor (src/cluster/check.ts). Reads only: the cluster (status, HashKV, each member's
 * /metrics, serving certificates) and, on this host, its certificate files and its backup schedule's state.
 * One table of named checks (or -o json|yaml), each with its verdict, what it measured and the fix; exit codes as
 * `status`: 0 all ok, 3 a check is not ok, 4 no quorum or no member answers.
 */
import { X509Certificate } from 'node:crypto';
import { Command, Option } from '@commander-js/extra-typings';
import { backupHealth, readBackupState } from '../../backup/state.js';
import { parseInterval } from '../../backup/schedule.js';
import { judge, measureCluster, type CertExpiryInput, type CheckInput, type CheckReport } from '../../cluster/check.js';
import { PATHS } from '../../config/defaults.js';
import type { Host } from '../../host/host.js';
import { LEAF_NAMES, pairPaths } from '../../pki/files.js';
import { action, type Invocation } from '../command.js';
import { stdout } from '../context.js';
import { OUTPUT_FORMATS, render, type OutputFormat } from '../output.js';
import { opsOptions, withCluster } from './ops.js';

/** This host's certificate files (the CA and the leaves), by their expiry; missing ones are left out. */
async function localCertificates(host: Host, certsDir: string): Promise<CertExpiryInput[]> {
  const out: CertExpiryInput[] = [];
  for (const name of ['ca', ...LEAF_NAMES] as const) {
    const path = pairPaths(certsDir, name).certPath;
    const pem = await host.read(path).catch(() => undefined);
    if (pem === undefined) continue;
    try {
      out.push({ what: `${path} on this host`, notAfter: new Date(new X509Certificate(pem).validTo) });
    } catch {
      // not a certificate: `certs check-expiration` says so; the doctor judges what it can read
    }
  }
  return out;
}

async function backupInput(inv: Invocation, now: Date): Promise<CheckInput['backup']> {
  const b = inv.record.facts?.backup;
  const intervalMs = b ? parseInterval(b.every) : undefined;
  if (!b || !intervalMs) return undefined;
  const state = await readBackupState(inv.host, PATHS.backupStateFile);
  const health = backupHealth({ schedule: { intervalMs, installedAt: b.installedAt }, state, now });
  return { state: health.state, every: b.every, ...(health.problem ? { problem: health.problem } : {}), ...(state.lastSuccess ? { lastSuccess: state.lastSuccess.time } : {}) };
}

function table(r: CheckReport): string {
  // left-aligned columns: the measured values are sentences, not numbers
  const rows = [['CHECK', 'VERDICT', 'MEASURED'], ...r.checks.map((c) => [c.name, c.verdict.toUpperCase(), c.value])];
  const width = (i: number) => Math.max(...rows.map((row) => row[i]!.length));
  const head = rows.map((row) => `${row[0]!.padEnd(width(0))}  ${row[1]!.padEnd(width(1))}  ${row[2]}`).join('\n') + '\n\n';
  const fixes = r.checks.filter((c) => c.fix).map((c) => `  ${c.name}: ${c.fix}`);
  const summary = r.verdict === 'ok' ? `All ${r.checks.length} checks ok.` : `${r.checks.filter((c) => c.verdict !== 'ok').length} of ${r.checks.length} checks not ok.`;
  return `${head}${summary}${fixes.length ? `\n\nTo fix:\n${fixes.join('\n')}` : ''}`;
}

export function checkCommand(): Command<any, any, any> {
  const cmd = new Command('check').addOption(new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table'));
  for (const o of opsOptions()) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
Checks: members (every member started and answering), version (one etcd version), hash (HashKV of every voting
member equal at one revision), db-size (warn above 80 % of the quota, fail above 95 %), fragmentation (less than half
of a file over 100 MB in use), alarms, wal-fsync (p99 above 10 ms) and backend-commit (p99 above 25 ms) from each
member's metrics since it started, peer-rtt (p99 above the heartbeat interval), leader-changes (more than 4 per 15
minutes), certificates (this host's files and every member's serving certificates, within pki.renewBeforeDays),
learners (one not promoted), backup (the last backup's age, with a schedule on this host). Reads only.

Exit codes: 0 every check ok, 1 error (the check could not run), 3 a check warns or fails, 4 no quorum or no member
answers.

Example:
  etcdadm check
  etcdadm check -o json
`,
  );
  cmd.action(
    action(
      async (inv) => {
        const format = String(inv.opts.output ?? 'table') as OutputFormat;
        await withCluster(
          inv,
          async (h, ctx) => {
            const now = new Date();
            const [measured, local, backup] = await Promise.all([measureCluster(h, now), localCertificates(inv.host, ctx.plan.pki.certsDir), backupInput(inv, now)]);
            const report = judge({
              ...measured,
              certificates: [...local, ...measured.certificates],
              quotaBytes: ctx.plan.etcd.quotaBackendBytes,
              renewBeforeDays: ctx.plan.pki.renewBeforeDays,
              heartbeatMs: ctx.plan.etcd.heartbeatInterval,
              ...(backup ? { backup } : {}),
              now,
            });
            stdout(render(report, format, table));
            process.exitCode = report.exitCode;
          },
          { requestTimeoutMs: 3000 },
        );
      },
      { record: true },
    ),
  );
  return cmd;
}
