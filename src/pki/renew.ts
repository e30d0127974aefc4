/**
 * `certs renew`, the PKI part: which leaves a target names, whether a --validity is acceptable, and the renewal
 * itself — for each leaf a new key and a certificate with the same subject (byte for byte), SANs and usages, signed
 * by the certs dir's CA — prepared entirely in memory after every check has passed, so that a refused renewal writes
 * nothing. Writing is the caller's (through the run's host, so that a failed run puts the old files back).
 *
 * The checks, each one line: the certs dir exists; ca.crt exists; ca.key exists (a host whose certificates came in a
 * bundle holds none: its renewal happens on a CA host); ca.key matches ca.crt; ca.crt signed every leaf in the dir
 * (another CA's ca.crt would hand out certificates the cluster does not trust); the validity is positive and ends
 * before the CA does.
 */
import type { X509Certificate as NodeX509Certificate } from 'node:crypto';
import * as x509 from './x509.js';
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import { parseDuration } from '../util/duration.js';
import { ipToBytes } from './ip.js';
import { loadCA } from './ca.js';
import { certFactsOf, loadNodeCertificate, signCertificate, subjectName, verifySignedByNode } from './cert.js';
import { nameToString } from './inspect.js';
import { generateKey } from './keys.js';
import { CLOCK_SKEW_MS, DAY_MS } from './spec.js';
import { LEAF_NAMES, pairPaths, readPem, type LeafName, type PairPaths } from './store.js';
import type { KeyAlgorithm, LeafRequest, LoadedCA } from './types.js';

export const RENEW_TARGETS = ['all', ...LEAF_NAMES] as const;
export type RenewTarget = (typeof RENEW_TARGETS)[number];

/** The leaves a `certs renew` argument names; exit code 2 for anything else. Pure. */
export function renewNames(target: string): LeafName[] {
  if (target === 'all') return [...LEAF_NAMES];
  if ((LEAF_NAMES as readonly string[]).includes(target)) return [target as LeafName];
  throw new EtcdadmError(`certs renew: unknown certificate ${JSON.stringify(target)}`, { hint: `name one of ${RENEW_TARGETS.join(', ')}`, exitCode: 2 });
}

/**
 * The validity of the renewed certificates in ms, or the one-line reason it cannot be: not a duration, not
 * positive, or ending after the CA (a certificate cannot outlive the CA that signed it). Pure.
 */
export function checkValidity(text: string | undefined, defaultDays: number, caNotAfter: Date, now: Date): { ms: number } | { problem: string } {
  const ms = text === undefined ? defaultDays * DAY_MS : parseDuration(text);
  const shown = text === undefined ? `${defaultDays}d (pki.certValidityDays)` : JSON.stringify(text);
  if (ms === undefined) return { problem: `--validity ${shown} is not a duration such as 365d, 8760h or 90d12h` };
  if (ms <= 0) return { problem: `--validity ${shown} must be positive` };
  if (now.getTime() + ms > caNotAfter.getTime()) {
    const left = Math.floor((caNotAfter.getTime() - now.getTime()) / DAY_MS);
    return { problem: `--validity ${shown} ends after the CA, which expires on ${caNotAfter.toISOString()} (${left} days from now)` };
  }
  return { ms };
}

/** What a leaf was before its renewal, for the log and the checks after it. */
export interface LeafBefore {
  serial: string;
  notAfter: Date;
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
}

export interface LeafRenewal {
  name: LeafName;
  paths: PairPaths;
  /** Undefined when the leaf was missing (it is made from the member's request then). */
  before?: LeafBefore;
  certPem: string;
  /** PKCS#8 PEM. Never log it. */
  keyPem: string;
  serial: string;
  notAfter: Date;
}

export interface RenewalInput {
  /** Where the certs dir is. */
  host: Host;
  certsDir: string;
  names: readonly LeafName[];
  /** --validity as given (undefined: defaultDays). */
  validity?: string;
  defaultDays: number;
  keyAlgorithm: KeyAlgorithm;
  /** What a missing leaf is made from (the member's names and addresses). */
  requests: Record<LeafName, LeafRequest>;
  /** Where to renew when this host holds no ca.key (the CA host's instructions). */
  noCaKeyHint?: string;
  /** Sign with this CA instead of the certs dir's (a CA rotation's issue step); present leaves may be signed by any of `accept`. */
  signer?: { certPem: string; keyPem: string; accept: string[] };
  now?: Date;
}

export interface Renewal {
  ca: LoadedCA;
  leaves: LeafRenewal[];
  validityMs: number;
}

export interface FoundLeaf {
  name: LeafName;
  paths: PairPaths;
  certPem: string | undefined;
}

/** The CA of a certs dir, checked: the dir, both files, the key matching; a bundle host (no ca.key) is told where to go. */
export async function loadRenewingCA(host: Host, certsDir: string, noCaKeyHint: string | undefined, now: Date): Promise<LoadedCA> {
  const st = await host.stat((await host.realpath(certsDir)) ?? certsDir);
  if (st?.kind !== 'dir')
    throw new EtcdadmError(`there is no certificates directory ${certsDir}`, { hint: 'run this on a member host set up by etcdadm init or join, or pass --certs-dir', exitCode: 2 });
  const paths = pairPaths(certsDir, 'ca');
  const [certPem, keyPem] = await Promise.all([readPem(host, paths.certPath), readPem(host, paths.keyPath)]);
  if (certPem === undefined)
    throw new EtcdadmError(`there is no CA certificate ${paths.certPath}`, { hint: `copy ca.crt and ca.key from a member into ${certsDir}`, exitCode: 2 });
  if (keyPem === undefined)
    throw new EtcdadmError(`this host holds no CA key (${paths.keyPath}): its certificates cannot be signed here`, {
      hint: noCaKeyHint ?? `renew on a host that holds ca.key, or copy ca.key (of ${paths.certPath}) into ${certsDir}`,
      exitCode: 2,
    });
  return loadCA({ certsDir, now } as Parameters<typeof loadCA>[0], certPem, keyPem);
}

/** A certs dir that passed every check of a renewal: its CA, the leaves found, the validity. */
export interface CheckedRenewal {
  ca: LoadedCA;
  found: FoundLeaf[];
  /** The parsed certificates of the leaves present. */
  parsed: Map<LeafName, NodeX509Certificate>;
  validityMs: number;
  now: Date;
}

/** Every check of a renewal, reading only. Throws EtcdadmError (one line) when one fails. */
export async function checkRenewal(input: RenewalInput): Promise<CheckedRenewal> {
  const now = input.now ?? new Date();
  const ca = input.signer
    ? await loadCA({ certsDir: input.certsDir, now } as Parameters<typeof loadCA>[0], input.signer.certPem, input.signer.keyPem)
    : await loadRenewingCA(input.host, input.certsDir, input.noCaKeyHint, now);
  const accepted = (input.signer?.accept ?? []).map((pem) => loadNodeCertificate(pem));
  const found: FoundLeaf[] = await Promise.all(
    LEAF_NAMES.map(async (name) => {
      const paths = pairPaths(input.certsDir, name);
      return { name, paths, certPem: await readPem(input.host, paths.certPath) };
    }),
  );
  // ca.crt must be the CA of what is here: every present leaf, renewed or not
  const parsed = new Map<LeafName, NodeX509Certificate>();
  for (const f of found) {
    if (f.certPem === undefined) continue;
    let cert;
    try {
      cert = loadNodeCertificate(f.certPem);
      certFactsOf(cert);
    } catch (err) {
      if (!input.names.includes(f.name)) continue; // an unreadable leaf that is not renewed is check-expiration's to report
      throw new EtcdadmError(`cannot read ${f.paths.certPath}: ${describe(err)}`, { hint: `move it aside and run 'etcdadm certs renew ${f.name}' again to make a new one` });
    }
    const signedHere = verifySignedByNode(cert, ca.nodeCertificate, ca.rawSubject) || accepted.some((a) => verifySignedByNode(cert, a));
    if (!signedHere)
      throw new EtcdadmError(`${ca.certPath} did not sign ${f.paths.certPath} (issuer ${nameToString(certFactsOf(cert).issuer)}): it is not the CA of this member's certificates`, {
        hint: `put back the cluster's ca.crt and ca.key in ${input.certsDir}; nothing was written`,
        exitCode: 2,
      });
    parsed.set(f.name, cert);
  }
  const validity = checkValidity(input.validity, input.defaultDays, ca.facts.notAfter, now);
  if ('problem' in validity) throw new EtcdadmError(validity.problem, { hint: 'pass a shorter --validity, or rotate the CA first (etcdadm certs rotate-ca)', exitCode: 2 });
  return { ca, found, parsed, validityMs: validity.ms, now };
}

/** Every check, then every new key and certificate in memory (nothing is written). */
export async function prepareRenewal(input: RenewalInput): Promise<Renewal> {
  const { ca, found, parsed, validityMs, now } = await checkRenewal(input);
  const validity = { ms: validityMs };
  const leaves = await Promise.all(
    found
      .filter((f) => input.names.includes(f.name))
      .map(async (f): Promise<LeafRenewal> => {
        const cert = parsed.get(f.name);
        const facts = cert ? certFactsOf(cert) : undefined;
        const req = input.requests[f.name];
        const key = await generateKey(input.keyAlgorithm);
        const signed = await signCertificate(
          {
            // the same subject, byte for byte; the same SANs and usages
            subject: facts ? new x509.Name(facts.rawSubject.slice()) : subjectName(req.commonName, req.organization),
            spki: key.spki,
            isCA: false,
            usages: facts ? facts.usages : req.usages,
            dnsNames: facts ? facts.dnsNames : req.dnsNames,
            ipAddresses: (facts ? facts.ipAddresses : req.ipAddresses).map(ipBytes),
            notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
            notAfter: new Date(now.getTime() + validity.ms),
          },
          { name: ca.issuerName, rawName: ca.rawSubject, signingKey: ca.signingKey, signingAlgorithm: ca.signingAlgorithm, keyId: ca.keyId },
        );
        const after = certFactsOf(loadNodeCertificate(signed.pem));
        return {
          name: f.name,
          paths: f.paths,
          ...(facts ? { before: { serial: facts.serialHex, notAfter: facts.notAfter, subject: nameToString(facts.subject), dnsNames: facts.dnsNames, ipAddresses: facts.ipAddresses } } : {}),
          certPem: signed.pem,
          keyPem: key.pem,
          serial: after.serialHex,
          notAfter: after.notAfter,
        };
      }),
  );
  return { ca, leaves, validityMs };
}

function ipBytes(ip: string): Uint8Array {
  const b = ipToBytes(ip);
  if (!b) throw new EtcdadmError(`invalid IP address ${JSON.stringify(ip)} in a certificate`);
  return b;
}

/**
 * The leaves `--if-due` renews: missing, unreadable, expired, or expiring within `renewBeforeDays`. Pure (on what
 * checkRenewal found).
 */
export function dueLeaves(c: Pick<CheckedRenewal, 'found' | 'parsed' | 'now'>, names: readonly LeafName[], renewBeforeDays: number): LeafName[] {
  return names.filter((n) => {
    const cert = c.parsed.get(n);
    if (!cert) return true;
    return certFactsOf(cert).notAfter.getTime() - c.now.getTime() < renewBeforeDays * DAY_MS;
  });
}
