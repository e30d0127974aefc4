/**
 * The cluster CA in memory: an existing one read and checked, or a new one made — nothing written (ca.ts writes).
 * What a read-only command (status probing members with a short-lived client certificate) needs of the CA.
 */
import type { KeyObject } from 'node:crypto';
import * as x509 from './x509.js';
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import { certFactsOf, keyIdentifier, loadNodeCertificate, signCertificate, subjectName } from './cert.js';
import type { CertFacts } from './inspect.js';
import { describeKey, generateKey, importSigningKey, keyObjectMatchesCert, parsePrivateKey, type SigningKey } from './keys.js';
import { CLOCK_SKEW_MS, DAY_MS } from './spec.js';
import { pairPaths, readPem } from './files.js';
import type { LoadedCA, PkiSpec } from './types.js';

export const CA_COMMON_NAME = 'etcd-ca';

/**
 * The CA's two files as text; undefined when neither exists (an error instead when `required`). One without the
 * other is an error: they are copied together.
 */
export async function readCAFiles(host: Host, certsDir: string, opts: { required: boolean }): Promise<{ certPem: string; keyPem: string } | undefined> {
  const paths = pairPaths(certsDir, 'ca');
  const [certPem, keyPem] = await Promise.all([readPem(host, paths.certPath), readPem(host, paths.keyPath)]);
  if (certPem === undefined && keyPem === undefined) {
    if (!opts.required) return undefined;
    throw new EtcdadmError(`no CA found: ${paths.certPath} and ${paths.keyPath} do not exist`, {
      hint:
        `Copy ca.crt and ca.key from an existing member into ${certsDir} on this host ` +
        `(e.g. on that member: rsync -avR ${certsDir}/ca.* <this host>:/) and run the command again`,
    });
  }
  if (certPem === undefined || keyPem === undefined) {
    const [missing, present] = certPem === undefined ? [paths.certPath, paths.keyPath] : [paths.keyPath, paths.certPath];
    throw new EtcdadmError(`${missing} is missing while ${present} exists`, {
      hint: 'The CA needs both files: copy ca.crt and ca.key together from an existing member',
    });
  }
  return { certPem, keyPem };
}

/** Check and load an existing CA. Throws EtcdadmError naming the file at fault. */
export async function loadCA(spec: PkiSpec, certPem: string, keyPem: string): Promise<LoadedCA> {
  const paths = pairPaths(spec.certsDir, 'ca');
  const sameMember = 'Copy both ca.crt and ca.key from the same existing member';
  let nodeCertificate: LoadedCA['nodeCertificate'];
  let facts: CertFacts;
  try {
    nodeCertificate = loadNodeCertificate(certPem);
    facts = certFactsOf(nodeCertificate);
  } catch (err) {
    throw new EtcdadmError(`invalid CA certificate ${paths.certPath}: ${describe(err)}`, { cause: err, hint: sameMember });
  }
  let privateKey: KeyObject;
  try {
    privateKey = parsePrivateKey(keyPem);
  } catch (err) {
    throw new EtcdadmError(`invalid CA key ${paths.keyPath}: ${describe(err)}`, { cause: err, hint: sameMember });
  }
  if (!keyObjectMatchesCert(privateKey, nodeCertificate)) {
    throw new EtcdadmError(`the CA key ${paths.keyPath} does not match the CA certificate ${paths.certPath}`, {
      hint: sameMember,
    });
  }
  if (!facts.isCA) {
    throw new EtcdadmError(`${paths.certPath} is not a CA certificate (it lacks basicConstraints CA:TRUE)`, {
      hint: 'Use the cluster CA (ca.crt and ca.key), not a member certificate',
    });
  }
  if (facts.keyUsage !== undefined && (facts.keyUsage & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new EtcdadmError(`the CA certificate ${paths.certPath} may not sign certificates (keyUsage lacks keyCertSign)`, {
      hint: 'Use a CA certificate made for signing (keyUsage keyCertSign)',
    });
  }
  const now = spec.now ?? new Date();
  if (facts.notAfter.getTime() <= now.getTime()) {
    throw new EtcdadmError(`the CA certificate ${paths.certPath} expired on ${facts.notAfter.toISOString()}`, {
      hint: 'Every member needs a new CA and new certificates (a CA rotation); check the clock too',
    });
  }
  if (facts.notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    throw new EtcdadmError(
      `the CA certificate ${paths.certPath} is not valid before ${facts.notBefore.toISOString()}`,
      { hint: "Check this host's clock (timedatectl)" },
    );
  }
  let signing: SigningKey;
  try {
    signing = await importSigningKey(privateKey);
  } catch (err) {
    throw new EtcdadmError(`cannot sign with the CA key ${paths.keyPath} (${describeKey(privateKey)}): ${describe(err)}`, {
      cause: err,
      hint: 'Use an RSA or ECDSA (P-256, P-384, P-521) CA key',
    });
  }
  return assemble(spec, certPem, nodeCertificate, facts, privateKey, signing, 'kept');
}

/** A new self-signed CA in memory: CN "etcd-ca" (or `commonName`), spec.keyAlgorithm, spec.caValidityDays. */
export async function makeCA(spec: Pick<PkiSpec, 'certsDir' | 'keyAlgorithm' | 'caValidityDays' | 'now'>, commonName = CA_COMMON_NAME): Promise<{ ca: LoadedCA; keyPem: string }> {
  const key = await generateKey(spec.keyAlgorithm);
  const signing = await importSigningKey(key.privateKey);
  const now = spec.now ?? new Date();
  const name = subjectName(commonName);
  const signed = await signCertificate(
    {
      subject: name,
      spki: key.spki,
      isCA: true,
      usages: [],
      dnsNames: [],
      ipAddresses: [],
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + spec.caValidityDays * DAY_MS),
    },
    { name, signingKey: signing.signingKey, signingAlgorithm: signing.signingAlgorithm, keyId: keyIdentifier(key.spki) },
  );
  const nodeCertificate = loadNodeCertificate(signed.pem);
  const ca = assemble(spec, signed.pem, nodeCertificate, certFactsOf(nodeCertificate), key.privateKey, signing, 'generated');
  return { ca, keyPem: key.pem };
}

function assemble(
  spec: Pick<PkiSpec, 'certsDir'>,
  certPem: string,
  nodeCertificate: LoadedCA['nodeCertificate'],
  facts: CertFacts,
  privateKey: KeyObject,
  signing: SigningKey,
  action: LoadedCA['action'],
): LoadedCA {
  return {
    ...pairPaths(spec.certsDir, 'ca'),
    certPem,
    nodeCertificate,
    facts,
    issuerName: new x509.Name(facts.rawSubject.slice()),
    privateKey,
    signingKey: signing.signingKey,
    signingAlgorithm: signing.signingAlgorithm,
    rawSubject: facts.rawSubject,
    keyId: facts.subjectKeyId ?? keyIdentifier(facts.spki),
    fingerprint: nodeCertificate.fingerprint256,
    action,
  };
}
