/**
 * `etcdadm certs check-expiration`: the CA and the leaf certificates of this host's certs dir (from the host record,
 * or --certs-dir), when each expires and what signed it; exit 0, 3 (one within the renewal window) or 4 (one expired
 * or missing), so that monitoring can call it. Only reads.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EtcdadmError, describe } from '../../errors.js';
import { certificateInfo, pairPaths, verifySignedBy, LEAF_NAMES, type CertificateInfo } from '../../pki/index.js';
import { expirationExitCode, expiryOf, residualText, type CertExpiry, type ExpiryInput } from '../../pki/expiry.js';
import { action, planFor } from '../command.js';
import { stdout } from '../context.js';
import { addOptions, settingOptions } from '../flags.js';
import { render, renderTable, type OutputFormat } from '../output.js';

async function readCert(path: string): Promise<{ pem?: string; info?: CertificateInfo; problem?: string }> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    return { problem: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : describe(err) };
  }
  try {
    return { pem, info: certificateInfo(pem) };
  } catch (err) {
    return { problem: `not a certificate: ${describe(err)}` };
  }
}

function checkExpirationSubcommand(): Command<any, any, any> {
  const cmd = new Command('check-expiration')
    .description("When the CA and each leaf certificate expire, and what signed them (exit 3: one is due for renewal, 4: one expired or is missing)")
    .addOption(new Option('-o, --output <format>', 'table, wide (with SANs), json or yaml').choices(['table', 'wide', 'json', 'yaml']).default('table'));
  addOptions(cmd, settingOptions('ops').filter((o) => o.long === '--certs-dir'));
  cmd.addHelpText('after', '\nExit codes: 0 all fine, 3 one expires within the renewal window (30 days), 4 one has expired or is missing.\n\nExample:\n  etcdadm certs check-expiration\n  etcdadm certs check-expiration -o json\n');
  cmd.action(
    action(
      async (inv) => {
        const plan = await planFor(inv, 'ops', { useRecord: true });
        // --certs-dir names the directory to check (on a member host the record's is the default)
        const dir = typeof inv.opts.certsDir === 'string' ? resolve(inv.opts.certsDir) : plan.pki.certsDir;
        const st = await stat(dir).catch(() => undefined);
        if (!st?.isDirectory()) throw new EtcdadmError(`there is no certificates directory ${dir}`, { hint: 'run this on a member host, or pass --certs-dir', exitCode: 2 });
        const ca = await readCert(pairPaths(dir, 'ca').certPath);
        const inputs: ExpiryInput[] = [{ name: 'ca', path: pairPaths(dir, 'ca').certPath, ...(ca.info ? { info: ca.info } : {}), ...(ca.problem ? { problem: ca.problem } : {}) }];
        for (const name of LEAF_NAMES) {
          const path = pairPaths(dir, name).certPath;
          const c = await readCert(path);
          inputs.push({ name, path, ...(c.info ? { info: c.info } : {}), ...(c.problem ? { problem: c.problem } : {}), signedByCa: !!(c.pem && ca.pem && verifySignedBy(c.pem, ca.pem)) });
        }
        const rows = inputs.map((i) => expiryOf(i, new Date(), plan.pki.renewBeforeDays));
        const format = String(inv.opts.output);
        const table = (rs: CertExpiry[], wide: boolean) =>
          renderTable(
            ['CERTIFICATE', 'EXPIRES', 'RESIDUAL TIME', 'CERTIFICATE AUTHORITY', 'STATE', ...(wide ? ['SANS'] : [])],
            rs.map((r) => [r.name, r.expires || '-', r.state === 'missing' ? '-' : residualText(r.residualSeconds), r.authority, r.problem && r.state !== 'missing' ? `${r.state} (${r.problem})` : r.state === 'missing' ? `missing (${r.problem})` : r.state, ...(wide ? [r.sans.join(',')] : [])]),
          );
        const report = { certsDir: dir, renewBeforeDays: plan.pki.renewBeforeDays, certificates: rows };
        stdout(render(report, (format === 'wide' ? 'table' : format) as OutputFormat, (r) => table(r.certificates, format === 'wide')));
        process.exitCode = expirationExitCode(rows);
      },
      { record: true },
    ),
  );
  return cmd;
}

export function certsCommand(): Command<any, any, any> {
  const cmd = new Command('certs').description("The cluster's certificates on this host: expiry");
  cmd.addCommand(checkExpirationSubcommand());
  cmd.addHelpText('after', '\nExample:\n  etcdadm certs check-expiration\n');
  return cmd;
}
