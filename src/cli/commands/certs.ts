/**
 * `etcdadm certs ...`, the cluster's certificates on this host:
 * - check-expiration: the CA and the leaves of the certs dir (from the host record, or --certs-dir), when each
 *   expires, which CA signed it, the trusted CAs and where a CA rotation stands; exit 0, 3 (one within
 *   pki.renewBeforeDays) or 4 (one expired or missing), so that monitoring can call it. Only reads. With
 *   `-f cluster.yaml`, every host of the file from the operator's machine (src/apply/read.ts), one table.
 * - renew (and --schedule/--unschedule), bundle, import, rotate-ca prepare|issue|finish: phase lists on the runner
 *   (src/phases/certs.ts, src/phases/rotate-ca.ts); the options are checked and resolved here, before the runner.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { resolve } from 'node:path';
import { EtcdadmError } from '../../errors.js';
import { pairPaths } from '../../pki/index.js';
import { expirationExitCode, residualText, type ExpirationReport } from '../../pki/expiry.js';
import { readExpirationReport } from '../../pki/expiry-read.js';
import { action, clusterFileOption, planFor, type Invocation } from '../command.js';
import { workflowCommand } from '../workflow.js';
import { RENEW_TARGETS, renewNames } from '../../pki/renew.js';
import {
  CERTS_BUNDLE_PHASES,
  CERTS_IMPORT_PHASES,
  CERTS_RENEW_PHASES,
  CERTS_SCHEDULE_PHASES,
  CERTS_UNSCHEDULE_PHASES,
  CERT_RENEW_UNITS,
  RENEW_ARGS,
  type CertsBundleOptions,
  type CertsImportOptions,
  type CertsRenewOptions,
} from '../../phases/certs.js';
import type { RotateIssueOptions } from '../../phases/rotate-ca.js';
import { memberEndpoints } from '../../run/context.js';
import { ROTATE_FINISH_PHASES, ROTATE_ISSUE_PHASES, ROTATE_PREPARE_PHASES } from '../../phases/rotate-ca.js';
import { stdout } from '../context.js';
import { addOptions, flagsLayer, settingOptions } from '../flags.js';
import { loadConfigLayer } from '../../config/file.js';
import { resolvePlan } from '../../config/plan/index.js';
import { pkiSpecOf } from '../../config/plan/pki.js';
import { validateMemberName } from '../../config/document.js';
import type { HostFacts } from '../../config/types.js';
import { canonicalIp, leafRequests } from '../../pki/index.js';
import { render, renderTable, type OutputFormat } from '../output.js';

/**
 * check-expiration's table: one host's certificates, or several hosts' (`-f`: a HOST column first), then each
 * one's trusted CAs and where a CA rotation stands.
 */
export function expirationTable(reports: readonly { host?: string; report: ExpirationReport }[], wide: boolean): string {
  const many = reports.some((r) => r.host !== undefined);
  const rows = reports.flatMap(({ host, report }) =>
    report.certificates.map((r) => [
      ...(many ? [host ?? ''] : []),
      r.name,
      r.expires || '-',
      r.state === 'missing' ? '-' : residualText(r.residualSeconds),
      r.authority,
      r.problem && r.state !== 'missing' ? `${r.state} (${r.problem})` : r.state === 'missing' ? `missing (${r.problem})` : r.state,
      ...(wide ? [r.sans.join(',')] : []),
    ]),
  );
  const trailer = reports.flatMap(({ host, report: r }) =>
    [
      `Trusted CAs (${pairPaths(r.certsDir, 'ca').certPath}): ${r.trustedCAs.map((t) => `${t.ca}${t.signing ? ' [signs]' : ''}`).join(', ') || 'none'}`,
      `CA rotation: ${r.rotation === 'none' ? 'none under way' : r.rotation}`,
    ].map((l) => (many ? `${host}: ${l}` : l)),
  );
  return [renderTable([...(many ? ['HOST'] : []), 'CERTIFICATE', 'EXPIRES', 'RESIDUAL TIME', 'CERTIFICATE AUTHORITY', 'STATE', ...(wide ? ['SANS'] : [])], rows), ...trailer].join('\n');
}

function checkExpirationSubcommand(): Command<any, any, any> {
  const cmd = new Command('check-expiration')
    .description("When the CA and each leaf certificate expire, and what signed them (exit 3: one is due for renewal, 4: one expired or is missing)")
    .addOption(new Option('-o, --output <format>', 'table, wide (with SANs), json or yaml').choices(['table', 'wide', 'json', 'yaml']).default('table'));
  addOptions(cmd, settingOptions('ops').filter((o) => o.long === '--certs-dir'));
  cmd.addOption(clusterFileOption());
  cmd.addHelpText(
    'after',
    `
With -f, from the operator's machine: every host of the Cluster document checked over SSH at once (each has its own
certificates), one table with a HOST column first; -o json is an object keyed by host, each value what the command
prints on that host. A host that cannot be checked is named in a warning.

Exit codes: 0 all fine, 3 one expires within the renewal window (30 days), 4 one has expired or is missing; with -f,
across the hosts, and 1 when a host could not be checked (unless one has expired or is missing: 4).

Example:
  etcdadm certs check-expiration
  etcdadm certs check-expiration -o json
  etcdadm certs check-expiration -f cluster.yaml
`,
  );
  cmd.action(
    action(
      async (inv) => {
        const plan = await planFor(inv, 'ops', { useRecord: true });
        // --certs-dir names the directory to check (on a member host the record's is the default)
        const dir = typeof inv.opts.certsDir === 'string' ? resolve(inv.opts.certsDir) : plan.pki.certsDir;
        const real = await inv.host.realpath(dir);
        if ((real ? await inv.host.stat(real) : undefined)?.kind !== 'dir') throw new EtcdadmError(`there is no certificates directory ${dir}`, { hint: 'run this on a member host, or pass --certs-dir', exitCode: 2 });
        const report = await readExpirationReport(inv.host, dir, plan.pki.renewBeforeDays);
        const format = String(inv.opts.output);
        stdout(render(report, (format === 'wide' ? 'table' : format) as OutputFormat, (r) => expirationTable([{ report: r }], format === 'wide')));
        process.exitCode = expirationExitCode(report.certificates);
      },
      {
        record: true,
        fromFile: {
          options: ['output'],
          run: async (inv, read) => {
            const { readExpirations } = await import('../../apply/read.js');
            const r = await readExpirations(read);
            const format = String(inv.opts.output);
            const entries = Object.entries(r.hosts).map(([host, report]) => ({ host, report }));
            stdout(render(r.hosts, (format === 'wide' ? 'table' : format) as OutputFormat, () => expirationTable(entries, format === 'wide')));
            process.exitCode = r.exitCode;
          },
        },
      },
    ),
  );
  return cmd;
}

/** certs renew's options: the certificate argument (none with --schedule/--unschedule), --validity and --if-due. */
function renewOptions(inv: Invocation): CertsRenewOptions {
  const target = (inv.cmd.args as string[])[0];
  const validity = typeof inv.opts.validity === 'string' ? inv.opts.validity : undefined;
  if (inv.opts.schedule || inv.opts.unschedule) {
    if (target !== undefined && target !== 'all') throw new EtcdadmError(`certs renew ${inv.opts.schedule ? '--schedule' : '--unschedule'} takes no certificate (the timer renews every one that is due)`, { exitCode: 2 });
    return { names: [], ifDue: true };
  }
  if (target === undefined) throw new EtcdadmError('certs renew: name the certificate to renew', { hint: `one of ${RENEW_TARGETS.join(', ')}, or --schedule`, exitCode: 2 });
  return { names: renewNames(target), ...(validity !== undefined ? { validity } : {}), ifDue: inv.opts.ifDue === true };
}

function renewSubcommand(): Command<any, any, any> {
  const cmd = new Command('renew')
    .description('New keys and certificates (same subject and SANs) signed by the cluster CA, without downtime; or schedule that daily')
    .argument('[certificate]', `${RENEW_TARGETS.join(', ')}`);
  workflowCommand<CertsRenewOptions>(cmd, {
    name: 'certs renew',
    set: 'ops',
    phases: CERTS_RENEW_PHASES,
    variants: [
      { flag: 'schedule', name: 'certs renew --schedule', phases: CERTS_SCHEDULE_PHASES },
      { flag: 'unschedule', name: 'certs renew --unschedule', phases: CERTS_UNSCHEDULE_PHASES },
    ],
    useRecord: true,
    rollback: true,
    options: renewOptions,
    contextEndpoints: memberEndpoints,
    args: [{ spec: '[certificate]', description: RENEW_TARGETS.join(', ') }],
    extraOptions: () => [
      new Option('--validity <duration>', 'how long the new certificates are valid, e.g. 365d or 8760h (default: pki.certValidityDays); at most until the CA expires'),
      new Option('--if-due', 'renew only those that expire within pki.renewBeforeDays (what the daily timer runs)'),
      new Option('--schedule', `install ${CERT_RENEW_UNITS.timer}: daily, ${RENEW_ARGS.join(' ')} (phases: ${CERTS_SCHEDULE_PHASES.map((p) => p.name).join(', ')})`).conflicts(['unschedule', 'validity']),
      new Option('--unschedule', `remove ${CERT_RENEW_UNITS.timer} (phases: ${CERTS_UNSCHEDULE_PHASES.map((p) => p.name).join(', ')})`).conflicts(['validity', 'ifDue']),
    ],
    example: `etcd 3.4 to 3.7 read their server and peer certificate files at every new TLS connection, so a serving member
is not restarted; one that is down or does not serve (its certificates expired) is restarted, and one that would
not pick the files up hands leadership over first. Every check (the CA key matching ca.crt, ca.crt the CA of every
leaf, --validity) passes before anything is written; a failed run puts the old files back. On a host without
ca.key (its certificates came in a bundle) renew on a CA host.

Example:
  etcdadm certs renew all
  etcdadm certs renew server --validity 90d
  etcdadm certs renew all --dry-run
  etcdadm certs renew --schedule          # daily: renew what expires within pki.renewBeforeDays
  etcdadm certs renew --unschedule
`,
  });
  return cmd;
}

/** The facts of the host a bundle is for: its name and address (resolution derives its URLs and SANs from them). */
function targetFacts(name: string, address: string): HostFacts {
  const family = address.includes(':') ? 6 : 4;
  return {
    hostname: name,
    addresses: [
      { iface: 'eth0', address, family, internal: false },
      { iface: 'lo', address: family === 6 ? '::1' : '127.0.0.1', family, internal: true },
    ],
    defaultRouteIfaces: ['eth0'],
    cpus: 1,
  };
}

/** certs bundle's options: the joining member (its own plan resolved from its name, address and configuration) and where the bundle goes. */
async function bundleOptions(inv: Invocation): Promise<CertsBundleOptions> {
  const name = String(inv.opts.name);
  const address = canonicalIp(String(inv.opts.address));
  const nameProblem = validateMemberName(name);
  if (nameProblem) throw new EtcdadmError(`--name ${JSON.stringify(name)} ${nameProblem}`, { exitCode: 2 });
  if (!address) throw new EtcdadmError(`--address ${JSON.stringify(inv.opts.address)} is not an IP address`, { hint: 'pass the IP address the joining member advertises', exitCode: 2 });
  const file = typeof inv.opts.config === 'string' ? await loadConfigLayer(inv.opts.config, { onWarning: (w) => inv.log.warn(w) }) : undefined;
  const target = resolvePlan([...(file ? [file] : []), flagsLayer({}, 'join', { member: { name } })], targetFacts(name, address));
  if (canonicalIp(target.member.advertiseAddress) !== address)
    throw new EtcdadmError(`the configuration makes ${name} advertise ${target.member.advertiseAddress}, not --address ${address}`, { hint: 'pass the address its configuration advertises', exitCode: 2 });
  const output = typeof inv.opts.output === 'string' ? (inv.opts.output === '-' ? '-' : resolve(inv.opts.output)) : resolve(`${name}.bundle`);
  return { member: { name, address }, requests: leafRequests(pkiSpecOf(target)), output, ...(typeof inv.opts.validity === 'string' ? { validity: inv.opts.validity } : {}) };
}

function bundleSubcommand(): Command<any, any, any> {
  const cmd = new Command('bundle').description("On a host that holds the CA: a joining host's server, peer and client certificates with ca.crt (no ca.key), in one 0600 file");
  workflowCommand<CertsBundleOptions>(cmd, {
    name: 'certs bundle',
    set: 'ops',
    phases: CERTS_BUNDLE_PHASES,
    useRecord: true,
    rollback: true,
    options: bundleOptions,
    contextEndpoints: memberEndpoints,
    extraOptions: () => [
      new Option('--name <name>', "the joining member's name (its hostname unless its join sets --name)").makeOptionMandatory(),
      new Option('--address <ip>', 'the address the joining member advertises (its default-route address unless set)').makeOptionMandatory(),
      new Option('--output <file>', "where to write the bundle ('-': standard output); default <name>.bundle"),
      new Option('--validity <duration>', 'how long its certificates are valid, e.g. 365d (default: pki.certValidityDays)'),
      new Option('--config <file>', "the joining host's configuration (its extra SANs, ports and URLs go into the certificates)"),
    ],
    example: `The bundle holds private keys: copy it to the joining host only, and delete it after use.

Example:
  etcdadm certs bundle --name host2 --address 10.0.0.2 --output host2.bundle
  scp host2.bundle host2:/root/ && ssh host2 etcdadm join --certs-bundle /root/host2.bundle https://10.0.0.1:2379
`,
  });
  return cmd;
}

function importSubcommand(): Command<any, any, any> {
  const cmd = new Command('import')
    .description("Replace this member's certificates with those of a bundle made on a CA host (how a host without ca.key renews)")
    .argument('<file>', "the bundle 'etcdadm certs bundle' wrote for this member");
  workflowCommand<CertsImportOptions>(cmd, {
    name: 'certs import',
    set: 'ops',
    phases: CERTS_IMPORT_PHASES,
    useRecord: true,
    rollback: true,
    options: (inv) => ({ certsBundle: resolve(String((inv.cmd.args as string[])[0])) }),
    contextEndpoints: memberEndpoints,
    args: [{ spec: '<file>', description: "the bundle 'etcdadm certs bundle' wrote for this member" }],
    example: `The bundle is checked (this member's name and address, this cluster's CA, valid certificates with the names
this member needs) before anything is written; etcd picks the new certificates up as after 'certs renew'.

On the CA host: etcdadm certs bundle --name host2 --address 10.0.0.2 --output host2.bundle; copy it here.

Example:
  etcdadm certs import host2.bundle
`,
  });
  return cmd;
}

function rotateCaSubcommand(): Command<any, any, any> {
  const cmd = new Command('rotate-ca').description('Replace the cluster CA with overlap, member by member, without downtime: prepare, issue, finish');
  const steps = [
    ['prepare', ROTATE_PREPARE_PHASES, 'Make (or take the copied) new CA; trust old and new; restart gracefully'],
    ['issue', ROTATE_ISSUE_PHASES, 'Once every member trusts both: re-issue this member\'s certificates from the new CA, which signs from now on'],
    ['finish', ROTATE_FINISH_PHASES, 'Once every member presents new certificates: trust the new CA only; restart gracefully'],
  ] as const;
  for (const [name, phases, description] of steps) {
    const sub = new Command(name).description(description);
    workflowCommand<RotateIssueOptions>(sub, {
      name: `certs rotate-ca ${name}`,
      set: 'ops',
      phases,
      useRecord: true,
      rollback: true,
      options: (inv) => ({ clientsTrustNewCa: inv.opts.clientsTrustNewCa === true }),
      contextEndpoints: memberEndpoints,
      extraOptions: () => (name === 'issue' ? [new Option('--clients-trust-new-ca', 'every client of the cluster was given the ca.crt prepare wrote (old and new CA): they will trust the members once these present certificates of the new CA')] : []),
      example: `Run each step on every member before the next step starts anywhere.\n\nExample:\n  etcdadm certs rotate-ca ${name}${name === 'issue' ? ' --clients-trust-new-ca' : ''}\n  etcdadm certs rotate-ca ${name} --dry-run\n`,
    });
    cmd.addCommand(sub);
  }
  cmd.addHelpText('after', `
The runbook (docs/operations.md, "Rotating the CA"): prepare on one CA host, copy ${'/etc/etcd/pki/ca-new.*'} to every other member
(ca-new.crt only to a host joined with a bundle), prepare there; give every client the ca.crt prepare wrote (old and
new CA); then issue --clients-trust-new-ca on every member (a bundle host imports a bundle made after issue on a CA
host); move every client's certificate to one of the new CA; then finish on every member.
'certs check-expiration' shows where this host stands.

Example:
  etcdadm certs rotate-ca prepare
  rsync -avR /etc/etcd/pki/ca-new.* host2:/ && ssh host2 etcdadm certs rotate-ca prepare
`);
  return cmd;
}

export function certsCommand(): Command<any, any, any> {
  const cmd = new Command('certs');
  cmd.addCommand(checkExpirationSubcommand());
  cmd.addCommand(renewSubcommand());
  cmd.addCommand(bundleSubcommand());
  cmd.addCommand(importSubcommand());
  cmd.addCommand(rotateCaSubcommand());
  cmd.addHelpText('after', '\nExample:\n  etcdadm certs check-expiration\n  etcdadm certs renew all\n');
  return cmd;
}
