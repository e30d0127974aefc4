/** `etcdadm info`: the local member as etcd sees it. */
import { Command, Option } from '@commander-js/extra-typings';
import { findByPeerURLs } from '../../cluster/membership.js';
import { EtcdadmError } from '../../errors.js';
import { action } from '../command.js';
import { stdout } from '../context.js';
import { formatInfo, OUTPUT_FORMATS, type OutputFormat } from '../output.js';
import { opsOptions, withCluster } from './ops.js';

export function infoCommand(): Command<any, any, any> {
  const cmd = new Command('info')
    .addOption(new Option('-o, --output <format>', 'json, yaml or table').choices([...OUTPUT_FORMATS]).default('json'));
  for (const o of opsOptions()) cmd.addOption(o);
  cmd.addHelpText('after', '\nExample:\n  etcdadm info -o table\n');
  cmd.action(
    action(
      (inv) =>
        withCluster(inv, async (h, ctx) => {
          const list = await h.members({ serializable: true });
          const self = findByPeerURLs(list.members, ctx.plan.member.urls.advertisePeer);
          if (!self)
            throw new EtcdadmError(`this host (${ctx.plan.member.urls.advertisePeer.join(',')}) is not a member of cluster ${list.clusterIdHex}`, {
              hint: 'join it with etcdadm join <endpoint>',
            });
          const info = { id: self.idHex, name: self.name, peerURLs: self.peerURLs, clientURLs: self.clientURLs, isLearner: self.isLearner, clusterId: list.clusterIdHex };
          stdout(formatInfo(info, String(inv.opts.output) as OutputFormat));
        }),
      { record: true },
    ),
  );
  return cmd;
}
