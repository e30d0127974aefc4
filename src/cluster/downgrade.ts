/**
 * etcd's downgrade API, the only place that calls it: enable a one-minor downgrade (validated first), or cancel one
 * that has not completed. In a dry run the calls are recorded, not made.
 */
import type { Logger } from '../log/logger.js';
import type { ClusterHandle } from './handle.js';

/** Validate and enable the downgrade of the cluster to `minor` (e.g. "3.5"); the cluster version it reports. */
export async function enableDowngrade(h: ClusterHandle, minor: string, log: Logger): Promise<string> {
  await h.timed(() => h.client.downgrade('validate', minor));
  if (h.dryRun) {
    h.dryRun.note(`enable the downgrade of the cluster to ${minor} through etcd's downgrade API (validated: etcd accepts it)`);
    return `${minor}.0`;
  }
  const cv = await h.timed(() => h.client.downgrade('enable', minor));
  log.info(`Enabled the downgrade of the cluster to ${minor} (cluster version ${cv})`);
  h.journal?.record(`enable the downgrade to ${minor}`, async () => void (await h.timed(() => h.client.downgrade('cancel'))));
  return cv;
}

/** Cancel the downgrade in progress; the cluster version it reports. */
export async function cancelDowngrade(h: ClusterHandle, target: string, log: Logger): Promise<string> {
  if (h.dryRun) {
    h.dryRun.note(`cancel the downgrade to ${target} through etcd's downgrade API`);
    return target;
  }
  const cv = await h.timed(() => h.client.downgrade('cancel'));
  log.info(`Cancelled the downgrade to ${target} (cluster version ${cv})`);
  return cv;
}
