/**
 * `etcdadm snapshot save|list|verify|prune`: snapshots of a member on this host's disk, each with a JSON sidecar,
 * and with the --s3-* options (src/s3/location.ts) in an S3 bucket as well. save is a phase list on the runner
 * (src/phases/snapshot.ts); list and verify only read; prune removes the oldest (on disk, or in the bucket).
 * `save -f cluster.yaml`: taken on a member host of the file and copied to the operator's machine (src/apply/read.ts).
 */
import { Command, Option } from '@commander-js/extra-typings';
import { resolve } from 'node:path';
import { PATHS } from '../../config/defaults.js';
import { EtcdadmError } from '../../errors.js';
import { operatorHost } from '../../host/operator.js';
import { SNAPSHOT_PRUNE_PHASES, SNAPSHOT_SAVE_PHASES, type SnapshotPruneOptions, type SnapshotSaveOptions } from '../../phases/snapshot.js';
import { memberEndpoints } from '../../run/context.js';
import { listSnapshots, type SnapshotEntry } from '../../snapshot/catalog.js';
import { verifySnapshotWithSidecar } from '../../snapshot/verify.js';
import { s3LocationFrom, s3Options, type S3Location } from '../../s3/location.js';
import type { S3Store } from '../../s3/store.js';
import { listStoredSnapshots } from '../../snapshot/remote.js';
import { action, clusterFileOption } from '../command.js';
import { workflowCommand } from '../workflow.js';
import { stdout } from '../context.js';
import { humanBytes, OUTPUT_FORMATS, render, renderTable, type OutputFormat } from '../output.js';

const dirOption = () => new Option('--dir <dir>', `the snapshot directory (default: ${PATHS.backupDir})`);
/** The S3 client is loaded only by the commands given --s3-bucket. */
async function openS3(loc: S3Location): Promise<S3Store> {
  const { openStore } = await import('../../s3/store.js');
  return openStore(loc);
}

/** What `fn` returns on the store of `loc`, closed afterwards. */
async function onStore<T>(loc: S3Location, fn: (store: S3Store) => Promise<T>): Promise<T> {
  const store = await openS3(loc);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

const outputOption = () => new Option('-o, --output <format>', 'table, json or yaml').choices([...OUTPUT_FORMATS]).default('table');

function saveSubcommand(): Command<any, any, any> {
  const cmd = new Command('save').description('Save a snapshot of a member (the local one by default) with a JSON sidecar; prints its path');
  workflowCommand<SnapshotSaveOptions>(cmd, {
    name: 'snapshot save',
    set: 'ops',
    phases: SNAPSHOT_SAVE_PHASES,
    useRecord: true,
    // save commits: a whole snapshot is kept, also when its upload fails (what preflight made goes when save fails)
    rollback: true,
    options: (inv) => {
      const o = inv.opts;
      const s3 = s3LocationFrom(o);
      return {
        ...(typeof o.dir === 'string' ? { dir: o.dir } : {}),
        ...(typeof o.output === 'string' ? { output: o.output } : {}),
        ...(typeof o.endpoint === 'string' ? { endpoint: o.endpoint } : {}),
        ...(s3 ? { s3 } : {}),
      };
    },
    contextEndpoints: memberEndpoints,
    extraOptions: () => [
      dirOption(),
      new Option('--output <file>', 'save to this file instead (never overwritten)'),
      new Option('--endpoint <url>', "the client URL of the member to snapshot (default: this host's member)"),
      ...s3Options(),
    ],
    fromFile: {
      options: ['dir', 'output'],
      run: async (inv, read) => {
        const { saveSnapshotHere } = await import('../../apply/read.js');
        const o = inv.opts;
        stdout(await saveSnapshotHere({ ...read, cwd: process.cwd(), ...(typeof o.dir === 'string' ? { dir: o.dir } : {}), ...(typeof o.output === 'string' ? { output: o.output } : {}) }));
      },
    },
    example: `Snapshots hold every secret in the cluster: the directory is 0700, each file 0600.\n\nWith -f, from the operator's machine: the snapshot is saved on the first host of the Cluster document whose\nmember answers (over SSH, in a private temp directory under ${PATHS.backupDir} there, removed afterwards) and copied\nhere with its sidecar, its SHA-256 checked: into the current directory by default (--dir, --output as above).\n\nExample:\n  etcdadm snapshot save\n  etcdadm snapshot save --dir /srv/etcd-backups\n  etcdadm snapshot save --output /root/before-upgrade.db --endpoint https://10.0.0.2:2379\n  etcdadm snapshot save --s3-bucket backups --s3-prefix etcd/prod/ --s3-credentials-file /etc/etcd/s3.env\n  etcdadm snapshot save -f cluster.yaml --dir ./backups\n\nWith --s3-bucket the snapshot is also uploaded (the local copy stays); credentials come from the 0600 file\n(AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=..., optional AWS_SESSION_TOKEN=... lines) or the AWS_* variables.\n`,
  });
  cmd.addOption(clusterFileOption());
  return cmd;
}

function listSubcommand(): Command<any, any, any> {
  const cmd = new Command('list').description('List the snapshots in a directory (or, with --s3-bucket, in a bucket), newest first').addOption(dirOption()).addOption(outputOption());
  for (const o of s3Options()) cmd.addOption(o);
  cmd.addHelpText('after', '\nExample:\n  etcdadm snapshot list\n  etcdadm snapshot list --dir /srv/etcd-backups -o json\n  etcdadm snapshot list --s3-bucket backups --s3-prefix etcd/prod/ --s3-credentials-file /etc/etcd/s3.env\n');
  cmd.action(
    action(async (inv) => {
      const loc = s3LocationFrom(inv.opts);
      if (loc && inv.opts.dir !== undefined) throw new EtcdadmError('give --dir or --s3-bucket, not both', { exitCode: 2 });
      const entries: SnapshotEntry[] = loc
        ? (await onStore(loc, listStoredSnapshots)).map(({ name, path, size, time, sidecar }) => ({ name, path, size, time, sidecar }))
        : await listSnapshots(inv.host, resolve(String(inv.opts.dir ?? PATHS.backupDir)));
      const table = (es: SnapshotEntry[]) =>
        renderTable(['NAME', 'TIME', 'SIZE', 'REVISION', 'MEMBER', 'ETCD', 'CLUSTER'], es.map((e) => [e.name, e.time, humanBytes(e.size), String(e.sidecar?.revision ?? '-'), e.sidecar?.memberName ?? '-', e.sidecar?.etcdVersion ?? '-', e.sidecar?.clusterId ?? '-']));
      stdout(render({ snapshots: entries }, String(inv.opts.output) as OutputFormat, (d) => table(d.snapshots)));
    }),
  );
  return cmd;
}

function verifySubcommand(): Command<any, any, any> {
  const cmd = new Command('verify').description("Check a snapshot: etcd's SHA-256 inside it, its sidecar, and etcdutl snapshot status where etcdutl is installed").argument('<file>').addOption(outputOption());
  cmd.addHelpText('after', '\nExit codes: 0 intact, 2 not a usable snapshot (one line says why).\n\nExample:\n  etcdadm snapshot verify /var/backups/etcdadm/etcd-snapshot-node-a-20261201T120000.000Z.db\n');
  cmd.action(
    action(async (inv) => {
      // the file is the operator's: verified on the machine etcdadm runs on
      const host = operatorHost();
      const file = resolve(String(inv.cmd.args[0]));
      const facts = await verifySnapshotWithSidecar(host, file);
      const sidecar = facts.sidecar;
      const etcdutl = '/opt/bin/etcdutl';
      let status: Record<string, unknown> | null = null;
      if (await host.exists(etcdutl)) {
        const r = await host.exec(etcdutl, ['snapshot', 'status', file, '-w', 'json']);
        if (r.code !== 0) throw new EtcdadmError(`${file} is not a usable etcd snapshot: etcdutl snapshot status says ${(r.stderr || r.stdout).trim().split('\n').pop()}`, { exitCode: 2 });
        status = JSON.parse(r.stdout) as Record<string, unknown>;
      }
      const report = { path: file, size: facts.size, sha256: facts.sha256, intact: true, sidecar: sidecar ? 'matches' : 'none', ...(sidecar ? { snapshot: sidecar } : {}), etcdutl: status };
      stdout(
        render(report, String(inv.opts.output) as OutputFormat, (r) =>
          [
            `${r.path}: intact (${humanBytes(r.size)}; etcd's SHA-256 inside it matches)`,
            `sidecar: ${r.sidecar}${sidecar ? ` (member ${sidecar.memberName}, revision ${sidecar.revision}, etcd ${sidecar.etcdVersion}, ${sidecar.time})` : ''}`,
            status ? `etcdutl snapshot status: revision ${String(status.revision)}, ${String(status.totalKey)} keys` : 'etcdutl: not installed here',
          ].join('\n'),
        ),
      );
    }),
  );
  return cmd;
}

function pruneSubcommand(): Command<any, any, any> {
  const cmd = new Command('prune').description('Remove the oldest snapshots in a directory (or, with --s3-bucket, in a bucket), keeping the newest N (never the only one)');
  workflowCommand<SnapshotPruneOptions>(cmd, {
    name: 'snapshot prune',
    set: 'ops',
    phases: SNAPSHOT_PRUNE_PHASES,
    useRecord: true,
    // the snapshots removed are only moved aside until every removal succeeded (a bucket's removals are final)
    rollback: true,
    options: (inv) => {
      const keep = Number(inv.opts.keep);
      if (!Number.isInteger(keep) || keep < 1) throw new EtcdadmError(`invalid --keep "${String(inv.opts.keep)}": must be a whole number of at least 1`, { exitCode: 2 });
      const s3 = s3LocationFrom(inv.opts);
      if (s3 && inv.opts.dir !== undefined) throw new EtcdadmError('give --dir or --s3-bucket, not both', { exitCode: 2 });
      return { keep, dir: resolve(String(inv.opts.dir ?? PATHS.backupDir)), ...(s3 ? { s3 } : {}) };
    },
    contextEndpoints: memberEndpoints,
    extraOptions: () => [new Option('--keep <n>', 'how many of the newest snapshots to keep (at least 1)').makeOptionMandatory(), dirOption(), ...s3Options()],
    example: 'Example:\n  etcdadm snapshot prune --keep 24\n  etcdadm snapshot prune --keep 24 --dry-run\n  etcdadm snapshot prune --keep 24 --s3-bucket backups --s3-prefix etcd/prod/ --s3-credentials-file /etc/etcd/s3.env\n',
  });
  return cmd;
}

export function snapshotCommand(): Command<any, any, any> {
  const cmd = new Command('snapshot');
  for (const c of [saveSubcommand(), listSubcommand(), verifySubcommand(), pruneSubcommand()]) cmd.addCommand(c);
  cmd.addHelpText('after', '\nExample:\n  etcdadm snapshot save\n  etcdadm snapshot list\n  etcdadm snapshot prune --keep 24\n');
  return cmd;
}
