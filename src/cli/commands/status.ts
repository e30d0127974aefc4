/**
 * `etcdadm status`: the health of the whole cluster from any member host (one table, or JSON/YAML), with exit codes
 * for scripts and monitoring: 0 healthy, 1 error, 3 degraded, 4 unavailable (see src/cluster/status.ts). It ends
 * within a bounded time when members are unreachable: every probe has a 2 s bound and the handle is closed. With
 * `-f cluster.yaml`, from the operator's machine through a host of the file (src/apply/read.ts), rendered here.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { statusExitCode, EXIT_ERROR, type ClusterStatus } from '../../cluster/status.js';
import { withServingCerts, type TrustProbe } from '../../cluster/serving.js';
import { caLabel, pemBlocks, rotationFilesPresent, rotationPaths } from '../../pki/rotation.js';
import { DEFAULTS } from '../../config/defaults.js';
import { EtcdadmError } from '../../errors.js';
import type { Host } from '../../host/host.js';
import { sleep } from '../../util/retry.js';
import { action, clusterFileOption } from '../command.js';
import { formatStatus, OUTPUT_FORMATS, type OutputFormat } from '../output.js';
import { stdout } from '../context.js';
import { opsOptions, withCluster } from './ops.js';

/** `--watch [seconds]`: undefined without the flag, 2 when given without a value. */
export function watchInterval(value: unknown): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 2;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new EtcdadmError(`invalid --watch "${String(value)}": must be a number of seconds > 0`, { exitCode: 2 });
  return n;
}

const CLEAR = '\x1b[H\x1b[2J';

/** How status learns which CAs each member trusts (cluster/serving.ts), from this host's CA files. */
async function trustProbe(host: Host, certsDir: string): Promise<TrustProbe> {
  const p = rotationPaths(certsDir);
  if (await rotationFilesPresent(host, certsDir)) {
    const [{ caClientIdentities }, { leafRequests }] = await Promise.all([import('../../pki/rotation.js'), import('../../pki/issue.js')]);
    const request = leafRequests({ memberName: 'status', server: { dnsNames: [], ipAddresses: [] }, peer: { dnsNames: [], ipAddresses: [] } })['etcdctl-etcd-client'];
    return { identities: await caClientIdentities(host, certsDir, request).catch(() => []) };
  }
  const [trusted, hasKey] = await Promise.all([host.read(p.trust).catch(() => undefined), host.exists(p.key)]);
  const first = pemBlocks(trusted)[0];
  if (!hasKey || !first) return { identities: [] };
  try {
    return { identities: [], clientCA: { label: caLabel(first), pem: first } };
  } catch {
    return { identities: [] };
  }
}

export function statusCommand(): Command<any, any, any> {
  const cmd = new Command('status')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table'))
    .addOption(new Option('-w, --watch [seconds]', 'refresh every N seconds (default 2) until interrupted'))
    .addOption(clusterFileOption());
  for (const o of opsOptions()) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
CERT EXPIRES is the earliest expiry of the certificates the member's client and peer ports present to a new TLS
connection, CERT CA the CA that issued it; on a host that holds CA keys, TRUSTS lists which of those CAs (during a
CA rotation: the old and the new) each member accepts client certificates of.

With -f, from the operator's machine: the status read through the first host of the Cluster document whose
etcdadm status answers (over SSH, as etcdadm apply reaches them), shown here; hosts that cannot be reached are
named in a warning.

Exit codes: 0 healthy, 1 error (the check could not run), 3 degraded (quorum holds but a member is unhealthy,
unreachable or unstarted, or an alarm is raised), 4 unavailable (no quorum, or no member answers).

Example:
  etcdadm status
  etcdadm status -o json --endpoints https://10.0.0.1:2379,https://10.0.0.2:2379
  etcdadm status --watch 5
  etcdadm status -f cluster.yaml
`,
  );
  cmd.action(
    action(
      async (inv) => {
        const format = String(inv.opts.output ?? 'table') as OutputFormat;
        const interval = watchInterval(inv.opts.watch);
        // the CAs whose keys are here (a CA host): during a rotation (old and new) each member's trust is probed with
        // a client certificate of each; outside one, answering status over the client certificate proves it
        const certsDir = inv.record.layer()?.values.pki?.certsDir ?? DEFAULTS.certsDir;
        const trust = await trustProbe(inv.host, certsDir);
        await withCluster(
          inv,
          async (h) => {
            if (interval === undefined) {
              // connected just now: the client ports were shown their certificates by the status connection
              h.client.prewarm(h.endpoints);
              const st = await withServingCerts((await h.members({ serializable: true })).members, h.status({ serializable: true }), h.tls, trust, (u) => h.client.servedCertificate(u));
              stdout(formatStatus(st, format));
              process.exitCode = statusExitCode(st);
              return;
            }
            const stop = new AbortController();
            const onSignal = (): void => stop.abort();
            process.once('SIGINT', onSignal);
            process.once('SIGTERM', onSignal);
            const tty = process.stdout.isTTY === true;
            try {
              while (!stop.signal.aborted) {
                let text: string;
                let code: number;
                try {
                  // a new handshake each time: renewals show
                  const list = await h.members({ refresh: true, serializable: true });
                  const st = await withServingCerts(list.members, h.status({ serializable: true }), h.tls, trust);
                  text = formatStatus(st, format);
                  code = statusExitCode(st);
                } catch (err) {
                  text = `error: ${err instanceof EtcdadmError ? err.oneLine() : String(err)}`;
                  code = err instanceof EtcdadmError ? err.exitCode : EXIT_ERROR;
                }
                if (stop.signal.aborted) break;
                const header = `Every ${interval}s: etcdadm status (${h.endpoints.join(',')})  ${new Date().toISOString()}`;
                process.stdout.write(tty ? `${CLEAR}${header}\n\n${text}\n` : `${header}\n${text}\n\n`);
                process.exitCode = code;
                await sleep(interval * 1000, stop.signal).catch(() => undefined);
              }
            } finally {
              process.off('SIGINT', onSignal);
              process.off('SIGTERM', onSignal);
            }
          },
          { requestTimeoutMs: 2000 },
        );
      },
      {
        record: true,
        fromFile: {
          options: ['output'],
          run: async (inv, read) => {
            const { readStatus } = await import('../../apply/read.js');
            const st = await readStatus<ClusterStatus>(read);
            stdout(formatStatus(st, String(inv.opts.output ?? 'table') as OutputFormat));
            process.exitCode = statusExitCode(st);
          },
        },
      },
    ),
  );
  return cmd;
}
