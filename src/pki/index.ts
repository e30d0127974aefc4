/**
 * The PKI of an etcd cluster, in etcdadm's layout: one CA (ca.crt/ca.key) and per member server, peer,
 * etcdctl-etcd-client and apiserver-etcd-client certificates. Callers pass a Logger with the phase they want
 * (e.g. `log.withPhase('certs')`).
 */
import { EtcdadmError, describe } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { prepareCA } from './ca.js';
import { planLeaves, runLeaves } from './leaf.js';
import { validateSpec } from './spec.js';
import { pairPaths } from './store.js';
import type { PkiOutcome, PkiSpec } from './types.js';

export { KEY_ALGORITHMS } from './types.js';
export type { KeyAlgorithm, LeafRequest, PkiSpec, PkiOutcome, LoadedCA, SanSet, CertUsage } from './types.js';
export { ensureCA, loadCA, createCA, prepareCA, CA_COMMON_NAME } from './ca.js';
export { ensureLeafCerts, issueCertificate, leafProblem, leafRequests, CLIENT_ORGANIZATION } from './leaf.js';
export { validateSpec, CLOCK_SKEW_MS } from './spec.js';
export type { IssueOptions, IssuedCert } from './leaf.js';
export { loadCertificate, certificateInfo, caFingerprint, verifySignedBy } from './cert.js';
export type { CertificateInfo } from './cert.js';
export { generateKey, keyMatchesCert, parsePrivateKey } from './keys.js';
export type { GeneratedKey } from './keys.js';
export { canonicalIp } from './ip.js';
export { LEAF_NAMES, pairPaths, pkiFiles } from './store.js';
export type { LeafName, PairPaths, PkiFiles } from './store.js';

/** The CA (created when absent and allowCreate), then the four leaves. The CA's outcome comes first. */
export async function ensurePki(host: Host, spec: PkiSpec, log: Logger, opts: { allowCreate: boolean }): Promise<PkiOutcome[]> {
  validateSpec(spec);
  try {
    // Read the leaves' files (and start their keys when new ones are needed) while the CA is loaded or made; sign the
    // leaves while the CA's files are written; write the leaves after the CA.
    const plans = planLeaves(host, spec);
    const { ca, commit } = await prepareCA(host, spec, log, opts);
    const caWritten = commit();
    caWritten.catch(() => undefined); // runLeaves awaits it
    const leaves = await runLeaves(host, spec, plans, ca, caWritten, log);
    return [{ file: pairPaths(spec.certsDir, 'ca').certPath, action: ca.action }, ...leaves];
  } catch (err) {
    if (err instanceof EtcdadmError) throw err;
    throw new EtcdadmError(`cannot set up the certificates in ${spec.certsDir}: ${describe(err)}`, { cause: err });
  }
}
