/** `etcdadm download`: fetch an etcd release into the cache and verify its SHA-256; prints the archive path. */
import { Command } from '@commander-js/extra-typings';
import { mergeSettings } from '../../config/settings.js';
import { releasePlan } from '../../config/plan/release.js';
import { checkMerged } from '../../config/settings.js';
import { downloadRelease } from '../../release/index.js';
import { action, layersFor } from '../command.js';
import { stdout } from '../context.js';
import { addOptions, settingOptions } from '../flags.js';

export function downloadCommand(): Command<any, any, any> {
  const cmd = new Command('download').description('Download an etcd release into the cache and verify its SHA-256');
  addOptions(cmd, settingOptions('download'));
  cmd.addHelpText('after', '\nExample:\n  etcdadm download --version 3.5.30\n');
  cmd.action(
    action(async (inv) => {
      const layers = await layersFor(inv, 'download', { useRecord: false });
      const settings = mergeSettings(layers);
      checkMerged(settings, layers);
      const r = await downloadRelease(releasePlan(settings), inv.log.withPhase('download'));
      stdout(r.archivePath);
    }),
  );
  return cmd;
}
