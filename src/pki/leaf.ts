/**
 * The member's certificates, under etcdadm's file names: server, peer, etcdctl-etcd-client, apiserver-etcd-client.
 * An existing one is kept while it is still right (same CA, valid long enough, right names and usages); otherwise it
 * is regenerated with a new key.
 */
import type { KeyObject, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { CLOCK_SKEW_MS, DAY_MS, validateSpec } from './spec.js';
import { certFactsOf, loadNodeCertificate, normalizeSans, signCertificate, subjectName, verifySignedByNode } from './cert.js';
import { nameField, type CertFacts } from './inspect.js';
import { bytesToIp } from './ip.js';
import { generateKey, keyObjectMatchesCert, parsePrivateKey, type GeneratedKey } from './keys.js';
import { ensureCertsDir, LEAF_NAMES, pairPaths, readPem, tightenKeyMode, writePair, type LeafName, type PairPaths } from './store.js';
import type { KeyAlgorithm, LeafRequest, LoadedCA, PkiOutcome, PkiSpec } from './types.js';

export const CLIENT_ORGANIZATION = 'system:masters';

/** What each leaf must contain, from the spec. */
export function leafRequests(spec: Pick<PkiSpec, 'memberName' | 'server' | 'peer'>): Record<LeafName, LeafRequest> {
  return {
    server: {
      commonName: spec.memberName,
      dnsNames: spec.server.dnsNames,
      ipAddresses: spec.server.ipAddresses,
      usages: ['server', 'client'],
    },
    peer: {
      commonName: spec.memberName,
      dnsNames: spec.peer.dnsNames,
      ipAddresses: spec.peer.ipAddresses,
      usages: ['server', 'client'],
    },
    'etcdctl-etcd-client': {
      commonName: 'etcdctl-etcd-client',
      organization: [CLIENT_ORGANIZATION],
      dnsNames: [],
      ipAddresses: [],
      usages: ['client'],
    },
    'apiserver-etcd-client': {
      commonName: 'kube-apiserver-etcd-client',
      organization: [CLIENT_ORGANIZATION],
      dnsNames: [],
      ipAddresses: [],
      usages: ['client'],
    },
  };
}

export interface IssueOptions {
  keyAlgorithm: KeyAlgorithm;
  validityDays: number;
  now?: Date;
}

export interface IssuedCert {
  certPem: string;
  /** PKCS#8 PEM. Never log it. */
  keyPem: string;
}

/** A new key and a certificate for it signed by the CA (nothing is written). */
export async function issueCertificate(ca: LoadedCA, req: LeafRequest, opts: IssueOptions): Promise<IssuedCert> {
  wantedSans(req); // fail on bad SANs before spending time on a key
  return issueWithKey(ca, req, await generateKey(opts.keyAlgorithm), opts);
}

function wantedSans(req: LeafRequest): ReturnType<typeof normalizeSans> {
  if (!req.commonName) throw new EtcdadmError('a certificate needs a common name');
  try {
    return normalizeSans(req.dnsNames, req.ipAddresses);
  } catch (err) {
    throw new EtcdadmError(`cannot make the certificate for ${req.commonName}: ${describe(err)}`, {
      hint: 'Fix the SANs (DNS names and IP addresses) in the configuration',
    });
  }
}

async function issueWithKey(ca: LoadedCA, req: LeafRequest, key: GeneratedKey, opts: IssueOptions): Promise<IssuedCert> {
  const sans = wantedSans(req);
  const now = opts.now ?? new Date();
  const { pem } = await signCertificate(
    {
      subject: subjectName(req.commonName, req.organization),
      spki: key.spki,
      isCA: false,
      usages: req.usages,
      dnsNames: sans.dnsNames,
      ipAddresses: sans.ips,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + opts.validityDays * DAY_MS),
    },
    {
      name: ca.issuerName,
      rawName: ca.rawSubject,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm,
      keyId: ca.keyId,
    },
  );
  return { certPem: pem, keyPem: key.pem };
}

const USAGE_NAME = { server: 'serverAuth', client: 'clientAuth' } as const;

/**
 * Why an existing leaf must be regenerated, or undefined when it can be kept. Checks, in order: it parses, its key
 * matches, THIS CA signed it, it is valid now and for more than renewBeforeDays, CN and O, usages, SANs ⊇ wanted.
 */
export function leafProblem(
  certPem: string,
  keyPem: string,
  req: LeafRequest,
  ca: Pick<LoadedCA, 'nodeCertificate' | 'rawSubject'>,
  opts: { now?: Date; renewBeforeDays: number },
): string | undefined {
  let nodeCert: NodeX509Certificate;
  let cert: CertFacts;
  try {
    nodeCert = loadNodeCertificate(certPem);
    cert = certFactsOf(nodeCert);
  } catch (err) {
    return `the certificate is unreadable (${describe(err)})`;
  }
  let key: KeyObject;
  try {
    key = parsePrivateKey(keyPem);
  } catch (err) {
    return `the key is unreadable (${describe(err)})`;
  }
  if (!keyObjectMatchesCert(key, nodeCert)) return 'the key does not match the certificate';
  if (!verifySignedByNode(nodeCert, ca.nodeCertificate, ca.rawSubject)) return 'it was not signed by the current CA';

  const now = (opts.now ?? new Date()).getTime();
  if (cert.notAfter.getTime() <= now) return `it expired on ${cert.notAfter.toISOString()}`;
  if (cert.notBefore.getTime() > now) return `it is not valid before ${cert.notBefore.toISOString()}`;
  if (cert.notAfter.getTime() - now < opts.renewBeforeDays * DAY_MS) {
    return `it expires on ${cert.notAfter.toISOString()}, within the ${opts.renewBeforeDays}-day renewal window`;
  }

  const cn = nameField(cert.subject, 'CN')[0] ?? '';
  if (cn !== req.commonName) return `its common name is ${JSON.stringify(cn)}, want ${JSON.stringify(req.commonName)}`;
  const orgs = nameField(cert.subject, 'O');
  const missingOrgs = (req.organization ?? []).filter((o) => !orgs.includes(o));
  if (missingOrgs.length) return `its organization lacks ${missingOrgs.map((o) => JSON.stringify(o)).join(', ')}`;
  if (cert.isCA) return 'it is a CA certificate';

  const missingUsages = req.usages.filter((u) => !cert.usages.includes(u));
  if (missingUsages.length) return `it lacks the ${missingUsages.map((u) => USAGE_NAME[u]).join(' and ')} usage`;

  const haveDns = new Set(cert.dnsNames.map((d) => d.toLowerCase()));
  const haveIps = new Set(cert.ipAddresses);
  let want;
  try {
    want = normalizeSans(req.dnsNames, req.ipAddresses);
  } catch (err) {
    return `the wanted SANs are invalid (${describe(err)})`; // validateSpec rejects these before we get here
  }
  const missing = [
    ...want.dnsNames.filter((d) => !haveDns.has(d.toLowerCase())).map((d) => `DNS:${d}`),
    ...want.ips.map(bytesToIp).filter((ip) => !haveIps.has(ip)).map((ip) => `IP:${ip}`),
  ];
  if (missing.length) return `it lacks the SAN${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  return undefined;
}

/** A leaf's files as found, and (when one is missing, so a new key is needed anyway) its key already being made. */
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
