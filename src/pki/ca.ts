/** The cluster CA: reused when present (whoever made it: etcdadm, kubeadm, openssl), created on init otherwise. */
import type { KeyObject } from 'node:crypto';
import * as x509 from './x509.js';
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { certFactsOf, keyIdentifier, loadNodeCertificate, signCertificate, subjectName } from './cert.js';
import type { CertFacts } from './inspect.js';
import { describeKey, generateKey, importSigningKey, keyObjectMatchesCert, parsePrivateKey, type SigningKey } from './keys.js';
import { CLOCK_SKEW_MS, DAY_MS, validateSpec } from './spec.js';
import { ensureCertsDir, pairPaths, readPem, tightenKeyMode, writePair } from './store.js';
import type { LoadedCA, PkiSpec } from './types.js';

export const CA_COMMON_NAME = 'etcd-ca';

export async function ensureCA(host: Host, spec: PkiSpec, log: Logger, opts: { allowCreate: boolean }): Promise<LoadedCA> {
  validateSpec(spec);
  const prepared = await prepareCA(host, spec, log, opts);
  await prepared.commit();
  return prepared.ca;
}

/** A CA ready in memory; `commit` writes it when it is new (key, then certificate) and logs what was done. */
export interface PreparedCA {
  ca: LoadedCA;
  commit(): Promise<void>;
}

/**
 * The CA in memory without writing it yet, so that ensurePki can sign the leaves while the CA's files are being
 * written (leaf files are only written after the CA's).
 */
export async function prepareCA(host: Host, spec: PkiSpec, log: Logger, opts: { allowCreate: boolean }): Promise<PreparedCA> {
  const dir = spec.certsDir;
  const paths = pairPaths(dir, 'ca');
  const [certPem, keyPem] = await Promise.all([readPem(host, paths.certPath), readPem(host, paths.keyPath)]);
  const copyHint =
    `Copy ca.crt and ca.key from an existing member into ${dir} on this host ` +
    `(e.g. on that member: rsync -avR ${dir}/ca.* <this host>:/) and run the command again`;

  if (certPem === undefined && keyPem === undefined) {
    if (!opts.allowCreate) {
      throw new EtcdadmError(`no CA found: ${paths.certPath} and ${paths.keyPath} do not exist`, { hint: copyHint });
    }
    const [made] = await Promise.all([makeCA(spec), ensureCertsDir(host, dir)]);
    return {
      ca: made.ca,
      async commit() {
        await writePair(host, paths, made.keyPem, made.ca.certPem);
        log.info('Generated ca certificate and key.');
        log.debug(`ca certificate fingerprint is ${made.ca.fingerprint}`);
      },
    };
  }
  if (certPem === undefined || keyPem === undefined) {
    const [missing, present] = certPem === undefined ? [paths.certPath, paths.keyPath] : [paths.keyPath, paths.certPath];
    throw new EtcdadmError(`${missing} is missing while ${present} exists`, {
      hint: 'The CA needs both files: copy ca.crt and ca.key together from an existing member',
    });
  }

  const [ca] = await Promise.all([loadCA(spec, certPem, keyPem), ensureCertsDir(host, dir)]);
  return {
    ca,
    async commit() {
      await tightenKeyMode(host, paths.keyPath, log);
      log.info('Using the existing "ca" certificate and key.');
      log.debug(`ca certificate fingerprint is ${ca.fingerprint}`);
      const now = spec.now ?? new Date();
      if (ca.facts.notAfter.getTime() - now.getTime() < spec.renewBeforeDays * DAY_MS) {
        log.warn(
          `The CA certificate ${paths.certPath} expires on ${ca.facts.notAfter.toISOString()}; ` +
            'certificates it signs stop working then: plan a CA rotation.',
        );
      }
    },
  };
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

/** Make a new self-signed CA and write it (key first). The directory must exist. */
export async function createCA(host: Host, spec: PkiSpec): Promise<LoadedCA> {
  const made = await makeCA(spec);
  await writePair(host, pairPaths(spec.certsDir, 'ca'), made.keyPem, made.ca.certPem);
  return made.ca;
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
