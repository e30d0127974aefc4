/** The join section of the Plan: the cluster to join and how. Pure. */
import { EtcdadmError } from '../../errors.js';
import type { JoinPlan, Settings } from '../types.js';
import { parseEndpoint } from '../urls.js';

export function joinPlan(settings: Settings): JoinPlan {
  const endpoints = settings.join.endpoints
    .flatMap((e) => e.split(','))
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const u = parseEndpoint(e);
      if (!u) throw new EtcdadmError(`invalid endpoint "${e}": not a client URL such as https://10.0.0.1:2379`, { exitCode: 2 });
      return u;
    });
  return { endpoints, learner: settings.join.learner, retry: settings.join.retry };
}
