/**
 * What each leaf certificate must be (from the spec), how one is issued in memory, and why an existing one must be
 * replaced. Nothing here touches a host: writing is leaf.ts.
 */
import type { KeyObject, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { describe, EtcdadmError } from '../errors.js';
import { CLOCK_SKEW_MS, DAY_MS } from './spec.js';
import { certFactsOf, loadNodeCertificate, normalizeSans, signCertificate, subjectName, verifySignedByNode } from './cert.js';
import { nameField, type CertFacts } from './inspect.js';
import { bytesToIp } from './ip.js';
import { generateKey, keyObjectMatchesCert, parsePrivateKey, type GeneratedKey } from './keys.js';
import type { LeafName } from './files.js';
import type { KeyAlgorithm, LeafRequest, LoadedCA, PkiSpec } from './types.js';

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

export function wantedSans(req: LeafRequest): ReturnType<typeof normalizeSans> {
  if (!req.commonName) throw new EtcdadmError('a certificate needs a common name');
  try {
    return normalizeSans(req.dnsNames, req.ipAddresses);
  } catch (err) {
    throw new EtcdadmError(`cannot make the certificate for ${req.commonName}: ${describe(err)}`, {
      hint: 'Fix the SANs (DNS names and IP addresses) in the configuration',
    });
  }
}

export async function issueWithKey(ca: LoadedCA, req: LeafRequest, key: GeneratedKey, opts: IssueOptions): Promise<IssuedCert> {
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
