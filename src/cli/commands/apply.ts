/**
 * `etcdadm apply -f cluster.yaml`: a whole cluster from this machine over SSH (src/apply/). It changes the hosts of
 * the file, not this one: no root here, no host lock here (each host's own etcdadm takes its lock there).
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { action } from '../command.js';
import { stdout } from '../context.js';

export function applyCommand(): Command<any, any, any> {
  const cmd = new Command('apply')
    .addOption(new Option('-f, --file <file>', 'the Cluster document (etcdadm config print cluster-defaults)').makeOptionMandatory())
    .addOption(new Option('--dry-run', 'read every host and print the plan; change nothing anywhere (nothing is copied to the hosts either)'))
    .addOption(new Option('--accept-new-host-keys', "record the key of a host seen for the first time in the known_hosts file (OpenSSH's accept-new); a changed key is refused always"))
    .addOption(new Option('--executable <file>', 'the etcdadm executable to put on the hosts (default: this one, when it is the single executable)'));
  cmd.addHelpText(
    'after',
    `
Reads the truth from the hosts (their host records and the cluster's member list), prints the plan (per host, what
changes and why), and acts: bare hosts are bootstrapped together (every member started with the full initial
cluster, no join by join); later edits are carried out one safe step at a time, each by the host's own etcdadm —
hosts added (learner first), removed (reset there), replaced; a new etcd version (upgrade apply, member by member,
the leader last); changed settings (reconfigure, member by member, the leader last); certificates due (renewed, or
signed on a CA holder); timers (backups, defrag, renewal). Removing a majority at once, a host of another cluster,
a changed host key: refused before any change. The hosts need sshd, root or passwordless sudo, and systemd; etcdadm
copies itself to ${'/usr/local/bin/etcdadm'} there (only when its SHA-256 differs) and the etcd release from this
machine's cache (~/.cache/etcdadm). The CA key stays on the CA holders; the other hosts receive only their own
certificates. A failure names the host and the step; the same apply goes on from there.

Example:
  etcdadm config print cluster-defaults > cluster.yaml
  etcdadm apply -f cluster.yaml --dry-run
  etcdadm apply -f cluster.yaml --accept-new-host-keys
`,
  );
  cmd.action(
    action(async (inv) => {
      const { runApply } = await import('../../apply/index.js');
      const { operatorCacheDir } = await import('../../apply/release.js');
      await runApply({
        file: resolve(String(inv.opts.file)),
        dryRun: inv.opts.dryRun === true,
        acceptNewHostKeys: inv.opts.acceptNewHostKeys === true,
        ...(typeof inv.opts.executable === 'string' ? { executable: resolve(inv.opts.executable) } : {}),
        home: homedir(),
        cacheDir: operatorCacheDir(process.env, homedir()),
        log: inv.log,
        out: stdout,
      });
    }),
  );
  return cmd;
}
