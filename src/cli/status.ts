/**
 * `etcdadm status`: the health of the whole cluster from any member host (one table, or JSON/YAML), with exit codes
 * for scripts and monitoring: 0 healthy, 1 error, 3 degraded, 4 unavailable (see src/cluster/status.ts).
 *
 * Also the shared plumbing of the operations commands (status, member): the endpoints to ask (this host's local
 * client URL plus the other members' client URLs from the host record, or --endpoints) and a client with this
 * host's etcdctl client certificate.
 */
import { Command, Option } from '@commander-js/extra-typings';
import type { Plan } from '../config/types.js';
import { clientTls, memberEndpoints } from '../phases/common.js';
import { clusterStatus, formatStatus, statusExitCode, EXIT_ERROR, type StatusFormat } from '../cluster/status.js';
import { EtcdClient, type EtcdTls } from '../etcd/client.js';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/retry.js';
import { stdout } from './context.js';
import { collectList } from './flags.js';

/** main.ts's `act`: builds the logger, runs the action, turns failures into one line and an exit code. */
export type Act = (
  fn: (log: Logger, opts: Record<string, unknown>, cmd: Command<any, any, any>) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

/** main.ts's `recordedPlan`: the plan of what etcdadm set up on this host (flags fill in without a record). */
export type RecordedPlan = (opts: Record<string, unknown>, log: Logger) => Promise<Plan>;

/** The options every operations command takes. */
export function opsOptions(): Option[] {
  return [
    new Option('--endpoints <urls>', "client URLs to ask (comma-separated or repeated); default: this host's member, then the other members from /etc/etcd/etcdadm.yaml").argParser(collectList),
    new Option('--certs-dir <dir>', 'where the CA and the etcdctl client certificate are, when this host has no record (/etc/etcd/etcdadm.yaml)'),
  ];
}

/** --endpoints when given, else the local client URL plus the other members' client URLs recorded on this host. */
export async function opsEndpoints(plan: Plan, given: unknown): Promise<string[]> {
  return Array.isArray(given) && given.length > 0 ? (given as string[]) : memberEndpoints(plan);
}

/**
 * A client for `endpoints` with this host's etcdctl client certificate, with short timeouts fit for operating a
 * cluster that may be partly down; also the TLS material, for GET /health.
 */
export async function opsClient(plan: Plan, endpoints: string[], timeouts: { dialTimeoutMs?: number; requestTimeoutMs?: number } = {}): Promise<{ client: EtcdClient; tls: EtcdTls }> {
  const tls = await clientTls(plan);
  const client = EtcdClient.create({ endpoints, tls, dialTimeoutMs: timeouts.dialTimeoutMs ?? 2000, requestTimeoutMs: timeouts.requestTimeoutMs ?? 5000 });
  return { client, tls };
}

/** `--watch [seconds]`: undefined without the flag, 2 when given without a value. */
export function watchInterval(value: unknown): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 2;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new EtcdadmError(`invalid --watch "${String(value)}": must be a number of seconds > 0`, { exitCode: 2 });
  }
  return n;
}

const CLEAR = '\x1b[H\x1b[2J';

export function statusCommand(act: Act, recordedPlan: RecordedPlan): Command<any, any, any> {
  const cmd = new Command('status')
    .description('Show the health of the whole cluster: every member\'s role, health, version, DB size and raft state, quorum and how many members it can lose')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml').choices(['table', 'json', 'yaml']).default('table'))
    .addOption(new Option('-w, --watch [seconds]', 'refresh every N seconds (default 2) until interrupted'));
  for (const o of opsOptions()) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 healthy, 1 error (the check could not run), 3 degraded (quorum holds but a member is unhealthy,
unreachable or unstarted, or an alarm is raised), 4 unavailable (no quorum, or no member answers).

Example:
  etcdadm status
  etcdadm status -o json --endpoints https://10.0.0.1:2379,https://10.0.0.2:2379
  etcdadm status --watch 5
`,
  );
  cmd.action(
    act(async (log, opts) => {
      const format = String(opts.output ?? 'table') as StatusFormat;
      const interval = watchInterval(opts.watch);
      const plan = await recordedPlan(opts, log);
      const endpoints = await opsEndpoints(plan, opts.endpoints);
      log.debug(`asking ${endpoints.join(', ')}`);
      const { client, tls } = await opsClient(plan, endpoints, { requestTimeoutMs: 2000 });
      try {
        if (interval === undefined) {
          const st = await clusterStatus(client, undefined, { tls });
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
              const st = await clusterStatus(client, undefined, { tls });
              text = formatStatus(st, format);
              code = statusExitCode(st);
            } catch (err) {
              text = `error: ${err instanceof EtcdadmError ? err.oneLine() : String(err)}`;
              code = err instanceof EtcdadmError ? err.exitCode : EXIT_ERROR;
            }
            if (stop.signal.aborted) break;
            const header = `Every ${interval}s: etcdadm status (${endpoints.join(',')})  ${new Date().toISOString()}`;
            process.stdout.write(tty ? `${CLEAR}${header}\n\n${text}\n` : `${header}\n${text}\n\n`);
            process.exitCode = code;
            await sleep(interval * 1000, stop.signal).catch(() => undefined);
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      } finally {
        client.close();
      }
    }),
  );
  return cmd;
}
