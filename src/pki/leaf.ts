/**
 * The member's certificates, under etcdadm's file names: server, peer, etcdctl-etcd-client, apiserver-etcd-client.
 * An existing one is kept while it is still right (same CA, valid long enough, right names and usages); otherwise it
 * is regenerated with a new key.
 */
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { validateSpec } from './spec.js';
import { generateKey, type GeneratedKey } from './keys.js';
import { issueWithKey, leafProblem, leafRequests, wantedSans, type IssuedCert } from './issue.js';
import { bytesToIp } from './ip.js';
import { ensureCertsDir, LEAF_NAMES, pairPaths, readPem, tightenKeyMode, writePair, type LeafName, type PairPaths } from './store.js';
import type { LeafRequest, LoadedCA, PkiOutcome, PkiSpec } from './types.js';

export { CLIENT_ORGANIZATION, issueCertificate, leafProblem, leafRequests, type IssueOptions, type IssuedCert } from './issue.js';

export interface LeafPlan {
  name: LeafName;
  req: LeafRequest;
  paths: PairPaths;
  certPem: string | undefined;
  keyPem: string | undefined;
  key?: Promise<GeneratedKey>;
}

export async function planLeaf(host: Host, name: LeafName, req: LeafRequest, spec: PkiSpec): Promise<LeafPlan> {
  const paths = pairPaths(spec.certsDir, name);
  const [certPem, keyPem] = await Promise.all([readPem(host, paths.certPath), readPem(host, paths.keyPath)]);
  const plan: LeafPlan = { name, req, paths, certPem, keyPem };
  if (certPem === undefined || keyPem === undefined) {
    // start on the key now: it does not depend on the CA (RSA keys take long; this overlaps them with the CA's)
    plan.key = generateKey(spec.keyAlgorithm);
    plan.key.catch(() => undefined); // awaited later; do not report it as unhandled if we fail before that
  }
  return plan;
}

interface PreparedLeaf {
  plan: LeafPlan;
  outcome: PkiOutcome;
  issued?: IssuedCert;
}

async function prepareLeaf(plan: LeafPlan, spec: PkiSpec, ca: LoadedCA): Promise<PreparedLeaf> {
  const { certPem, keyPem, paths } = plan;
  let reason: string | undefined;
  if (certPem !== undefined && keyPem !== undefined) {
    reason = leafProblem(certPem, keyPem, plan.req, ca, spec);
    if (reason === undefined) return { plan, outcome: { file: paths.certPath, action: 'kept' } };
  } else if (certPem !== undefined) {
    reason = `${paths.keyPath} is missing`;
  } else if (keyPem !== undefined) {
    reason = `${paths.certPath} is missing`;
  }
  wantedSans(plan.req);
  const key = await (plan.key ?? generateKey(spec.keyAlgorithm));
  const issued = await issueWithKey(ca, plan.req, key, {
    keyAlgorithm: spec.keyAlgorithm,
    validityDays: spec.certValidityDays,
    now: spec.now,
  });
  const outcome: PkiOutcome =
    reason === undefined
      ? { file: paths.certPath, action: 'generated' }
      : { file: paths.certPath, action: 'regenerated', reason };
  return { plan, outcome, issued };
}

async function commitLeaf(host: Host, p: PreparedLeaf, log: Logger): Promise<void> {
  if (p.issued) await writePair(host, p.plan.paths, p.issued.keyPem, p.issued.certPem);
  else await tightenKeyMode(host, p.plan.paths.keyPath, log);
}

function logLeaf(p: PreparedLeaf, log: Logger): void {
  const { outcome, plan: { name, req } } = p;
  if (outcome.action === 'kept') {
    log.info(`Using the existing "${name}" certificate and key.`);
    return;
  }
  if (outcome.action === 'generated') log.info(`Generated ${name} certificate and key.`);
  else log.info(`Regenerated ${name} certificate and key: ${outcome.reason}.`);
  if (req.usages.includes('server')) {
    const sans = wantedSans(req);
    log.debug(
      `${name} serving cert is signed for DNS names [${sans.dnsNames.join(' ')}] and IPs [${sans.ips.map(bytesToIp).join(' ')}]`,
    );
  }
}

/**
 * The leaves, concurrently: each is checked and, when needed, signed in memory; it is written only once `caWritten`
 * resolves (so a leaf never lands on disk before its CA). Logs in a fixed order at the end.
 */
export async function runLeaves(
  host: Host,
  spec: PkiSpec,
  plans: Promise<LeafPlan>[],
  ca: LoadedCA,
  caWritten: Promise<void>,
  log: Logger,
): Promise<PkiOutcome[]> {
  const settled = await Promise.allSettled(
    plans.map(async (planP) => {
      const prepared = await prepareLeaf(await planP, spec, ca);
      await caWritten;
      await commitLeaf(host, prepared, log);
      return prepared;
    }),
  );
  await caWritten; // its error first: nothing was written after it
  const out: PkiOutcome[] = [];
  let firstError: unknown;
  for (const s of settled) {
    if (s.status === 'fulfilled') {
      logLeaf(s.value, log);
      out.push(s.value.outcome);
    } else {
      firstError ??= s.reason;
    }
  }
  if (firstError !== undefined) {
    if (firstError instanceof EtcdadmError) throw firstError;
    throw new EtcdadmError(`cannot make the member certificates: ${describe(firstError)}`, { cause: firstError });
  }
  return out;
}

/** Plans for the four leaves; their promises never reject unobserved. */
export function planLeaves(host: Host, spec: PkiSpec): Promise<LeafPlan>[] {
  const reqs = leafRequests(spec);
  return LEAF_NAMES.map((n) => {
    const p = planLeaf(host, n, reqs[n], spec);
    p.catch(() => undefined);
    return p;
  });
}

export async function ensureLeafCerts(host: Host, spec: PkiSpec, ca: LoadedCA, log: Logger): Promise<PkiOutcome[]> {
  validateSpec(spec);
  const dirReady = ensureCertsDir(host, spec.certsDir);
  dirReady.catch(() => undefined);
  return runLeaves(host, spec, planLeaves(host, spec), ca, dirReady, log);
}
