/**
 * The plumbing of the commands that operate a cluster from any member host (status, member, info): --endpoints (or
 * this host's member first, then the other members from the host record), the host's certificates, short timeouts
 * fit for a cluster that may be partly down, and a run context closed when the command ends.
 */
import { Option } from '@commander-js/extra-typings';
import type { ClusterHandle } from '../../cluster/handle.js';
import { memberEndpoints, type RunContext } from '../../run/context.js';
import { planFor, withContext, type Invocation } from '../command.js';
import { collectList, settingOptions } from '../flags.js';

export function opsOptions(): Option[] {
  return [
    new Option('--endpoints <urls>', "client URLs to ask (comma-separated or repeated); default: this host's member, then the other members from /etc/etcd/etcdadm.yaml").argParser(collectList),
    ...settingOptions('ops'),
  ];
}

/** Run `fn` with the cluster handle of an operations command. */
export async function withCluster<T>(inv: Invocation, fn: (h: ClusterHandle, ctx: RunContext) => Promise<T>, opts: { requestTimeoutMs?: number } = {}): Promise<T> {
  const plan = await planFor(inv, 'ops', { useRecord: true });
  const given = Array.isArray(inv.opts.endpoints) && inv.opts.endpoints.length > 0 ? (inv.opts.endpoints as string[]) : undefined;
  return withContext(
    inv,
    plan,
    { command: inv.cmd.name(), endpoints: (p, r) => given ?? memberEndpoints(p, r), requestTimeoutMs: opts.requestTimeoutMs ?? 5000 },
    async (ctx) => {
      const h = await ctx.cluster();
      inv.log.debug(`asking ${h.endpoints.join(', ')}`);
      return fn(h, ctx);
    },
  );
}
