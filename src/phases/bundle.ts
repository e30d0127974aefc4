/**
 * Certificate bundles on the host that uses one (join --certs-bundle, certs import): read and check it against this
 * host's member before anything changes, then write its files into the certs dir — ca.crt (when the dir has none),
 * each key before its certificate, atomically, through the run's host (a failed run puts back what was there).
 */
import { dirname } from 'node:path';
import { pkiSpecOf } from '../config/plan/pki.js';
import { readOperatorFile } from '../host/operator.js';
import { checkBundle, parseBundle, type CertBundle } from '../pki/bundle.js';
import { leafRequests } from '../pki/leaf.js';
import { CERT_MODE, CERTS_DIR_MODE, KEY_MODE, LEAF_NAMES, pairPaths } from '../pki/store.js';
import type { PhaseContext } from '../run/context.js';
import { fingerprintOf, pemBlocks, rotationPaths, trustText } from '../pki/rotation.js';

/** The bundle at `path`, checked against this host's member and the CA already in the certs dir (if any). */
export async function readCheckedBundle(ctx: PhaseContext, path: string): Promise<CertBundle> {
  const { plan, host } = ctx;
  // the bundle is the operator's input, named on the command line
  const text = await readOperatorFile(path, 'certificate bundle', "copy the file 'etcdadm certs bundle' wrote on the CA host to this host");
  const bundle = parseBundle(text, path);
  const localCa = await host.read(pairPaths(plan.pki.certsDir, 'ca').certPath);
  checkBundle(bundle, path, {
    name: plan.member.name,
    address: plan.member.advertiseAddress,
    requests: leafRequests(pkiSpecOf(plan)),
    ...(localCa !== undefined ? { localCa } : {}),
  });
  return bundle;
}

/** Write the bundle's files into the certs dir (made 0700 when missing); the paths written. */
export async function writeBundleFiles(ctx: PhaseContext, bundle: CertBundle): Promise<string[]> {
  const { plan, host } = ctx;
  const dir = plan.pki.certsDir;
  await host.mkdir(dirname(dir), 0o755);
  await host.mkdir(dir, CERTS_DIR_MODE);
  const written: string[] = [];
  const caPath = pairPaths(dir, 'ca').certPath;
  const trust = await host.read(caPath);
  const bundleFp = fingerprintOf(bundle.files['ca.crt']);
  if (trust === undefined) {
    await host.write(caPath, bundle.files['ca.crt'], { mode: CERT_MODE });
    written.push(caPath);
  } else if (fingerprintOf(pemBlocks(trust)[0]!) !== bundleFp) {
    // a CA rotation's issue step on a host without ca.key: the bundle's (new) CA signs now, the others stay trusted
    await host.write(caPath, trustText([bundle.files['ca.crt'], ...pemBlocks(trust)]), { mode: CERT_MODE });
    written.push(caPath);
    const p = rotationPaths(dir);
    const pending = await host.read(p.newCert);
    if (pending && fingerprintOf(pending) === bundleFp && (await host.remove(p.newCert))) written.push(`${p.newCert} (removed)`);
  }
  // leaf by leaf, the key before its certificate (a running etcd reads the pair at each new connection)
  for (const n of LEAF_NAMES) {
    const p = pairPaths(dir, n);
    await host.write(p.keyPath, bundle.files[`${n}.key`], { mode: KEY_MODE });
    await host.write(p.certPath, bundle.files[`${n}.crt`], { mode: CERT_MODE });
    written.push(p.keyPath, p.certPath);
  }
  return written;
}
