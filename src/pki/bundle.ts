/**
 * Certificate bundles: a joining host's server, peer and client certificates and keys, made on a host that holds
 * the CA, with ca.crt — and never ca.key — so that the CA's private key stays on the CA hosts. One YAML document,
 * 0600 (it holds private keys):
 *
 *   apiVersion: etcdadm.io/v1alpha1
 *   kind: CertificateBundle
 *   member: { name: host2, address: 10.0.0.2 }
 *   createdAt: ...
 *   caFingerprint: AB:CD:...
 *   files: { ca.crt: PEM, server.crt: PEM, server.key: PEM, ... }
 *
 * `checkBundle` is every check a host makes before it uses one (join --certs-bundle, certs import): the member it
 * was made for, no ca.key, every key matching its certificate, every leaf signed by the bundle's CA, valid now, with
 * the names and addresses this host's member needs, and the same CA as the one already here, if any.
 */
import { parse, stringify } from 'yaml';
import { EtcdadmError, describe } from '../errors.js';
import { canonicalIp } from './ip.js';
import { issueCertificate, leafProblem } from './issue.js';
import { certFactsOf, loadNodeCertificate, caFingerprint } from './cert.js';
import { LEAF_NAMES, type LeafName } from './files.js';
import type { KeyAlgorithm, LeafRequest, LoadedCA } from './types.js';

export const BUNDLE_API_VERSION = 'etcdadm.io/v1alpha1';
export const BUNDLE_KIND = 'CertificateBundle';
export const BUNDLE_MODE = 0o600;

export type BundleFile = 'ca.crt' | `${LeafName}.crt` | `${LeafName}.key`;
export const BUNDLE_FILES: readonly BundleFile[] = ['ca.crt', ...LEAF_NAMES.flatMap((n) => [`${n}.crt`, `${n}.key`] as BundleFile[])];

export interface CertBundle {
  member: { name: string; address: string };
  createdAt: string;
  caFingerprint: string;
  files: Record<BundleFile, string>;
}

/** The four leaves of member `requests` signed by `ca`, with ca.crt: a bundle in memory. */
export async function makeBundle(ca: LoadedCA, member: { name: string; address: string }, requests: Record<LeafName, LeafRequest>, opts: { keyAlgorithm: KeyAlgorithm; validityDays: number; now?: Date }): Promise<CertBundle> {
  const files = { 'ca.crt': ca.certPem } as Record<BundleFile, string>;
  const issued = await Promise.all(LEAF_NAMES.map((n) => issueCertificate(ca, requests[n], opts)));
  LEAF_NAMES.forEach((n, i) => {
    files[`${n}.crt`] = issued[i]!.certPem;
    files[`${n}.key`] = issued[i]!.keyPem;
  });
  return { member, createdAt: (opts.now ?? new Date()).toISOString(), caFingerprint: ca.fingerprint, files };
}

export function renderBundle(b: CertBundle): string {
  return `# etcdadm certificate bundle for member ${b.member.name} (${b.member.address}): private keys, keep it 0600 and delete it once imported\n${stringify({ apiVersion: BUNDLE_API_VERSION, kind: BUNDLE_KIND, ...b }, { lineWidth: 0 })}`;
}

/** A bundle file's text, parsed and shape-checked; one line naming `path` when it is not a bundle. */
export function parseBundle(text: string, path: string): CertBundle {
  const bad = (why: string) => new EtcdadmError(`${path} is not an etcdadm certificate bundle: ${why}`, { hint: "make one with 'etcdadm certs bundle --name NAME --address ADDRESS' on a host that holds the CA", exitCode: 2 });
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false });
  } catch (err) {
    // the message only: yaml's code frame would quote the file, private keys included
    const e = err as { message?: string; linePos?: { line: number; col: number }[] };
    const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw bad(`not valid YAML${at} (${String(e.message ?? err).split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')})`);
  }
  const d = doc as Partial<CertBundle> & { apiVersion?: unknown; kind?: unknown };
  if (!d || typeof d !== 'object' || d.kind !== BUNDLE_KIND) throw bad(`kind is not ${BUNDLE_KIND}`);
  if (d.apiVersion !== BUNDLE_API_VERSION) throw bad(`apiVersion is ${JSON.stringify(d.apiVersion)}, want ${BUNDLE_API_VERSION}`);
  if (typeof d.member?.name !== 'string' || typeof d.member?.address !== 'string') throw bad('member.name and member.address are missing');
  const files = (d.files ?? {}) as Record<string, unknown>;
  if ('ca.key' in files) throw bad('it holds ca.key (a bundle never carries the CA key)');
  for (const f of BUNDLE_FILES) if (typeof files[f] !== 'string') throw bad(`files.${f} is missing`);
  const extra = Object.keys(files).filter((f) => !(BUNDLE_FILES as readonly string[]).includes(f));
  if (extra.length) throw bad(`unknown files ${extra.join(', ')}`);
  return { member: { name: d.member.name, address: d.member.address }, createdAt: String(d.createdAt ?? ''), caFingerprint: String(d.caFingerprint ?? ''), files: files as Record<BundleFile, string> };
}

const sameAddress = (a: string, b: string) => (canonicalIp(a) ?? a.toLowerCase()) === (canonicalIp(b) ?? b.toLowerCase());

/**
 * Every check before a bundle is used on this host: made for this member (name and address), same CA as the one
 * already here (`localCa`), each leaf's key matching, signed by the bundle's CA, valid, with the wanted names.
 */
export function checkBundle(b: CertBundle, path: string, want: { name: string; address: string; requests: Record<LeafName, LeafRequest>; localCa?: string; now?: Date }): void {
  if (b.member.name !== want.name || !sameAddress(b.member.address, want.address))
    throw new EtcdadmError(`${path} was made for member ${b.member.name} (${b.member.address}), but this host's member is ${want.name} (${want.address})`, {
      hint: `on the CA host run 'etcdadm certs bundle --name ${want.name} --address ${want.address}' for this host; nothing was changed`,
      exitCode: 2,
    });
  let caCert;
  try {
    caCert = loadNodeCertificate(b.files['ca.crt']);
  } catch (err) {
    throw new EtcdadmError(`the ca.crt in ${path} is unreadable: ${describe(err)}`, { exitCode: 2 });
  }
  if (want.localCa !== undefined) {
    // the CA already here, or (during a CA rotation) one of the CAs this host trusts
    const local = [...want.localCa.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => {
      try {
        return caFingerprint(m[0]);
      } catch {
        return '';
      }
    });
    if (!local.includes(caCert.fingerprint256))
      throw new EtcdadmError(`the CA of ${path} is not the CA this host already has (ca.crt fingerprints ${caCert.fingerprint256.slice(0, 23)}... and ${local[0]?.slice(0, 23) || 'unreadable'}...)`, {
        hint: 'make the bundle on a host of this cluster, or remove the foreign ca.crt from the certs dir; nothing was changed',
        exitCode: 2,
      });
  }
  const ca = { nodeCertificate: caCert, rawSubject: certFactsOf(caCert).rawSubject };
  for (const n of LEAF_NAMES) {
    const problem = leafProblem(b.files[`${n}.crt`], b.files[`${n}.key`], want.requests[n], ca, { renewBeforeDays: 0, ...(want.now ? { now: want.now } : {}) });
    if (problem)
      throw new EtcdadmError(`the ${n} certificate in ${path} cannot serve this member: ${problem.replace('the current CA', "the bundle's ca.crt")}`, {
        hint: `make a new bundle on the CA host ('etcdadm certs bundle --name ${want.name} --address ${want.address}', with this host's --config when it sets extra SANs or URLs); nothing was changed`,
        exitCode: 2,
      });
  }
}
