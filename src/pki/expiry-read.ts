/**
 * A certs dir's expiration report read through a Host: what `certs check-expiration` prints on a host, and what
 * `apply` reads over SSH to decide renewals (with the Cluster document's pki.renewBeforeDays). Reads only.
 */
import { describe } from '../errors.js';
import type { Host } from '../host/host.js';
import { certificateInfo, pairPaths, verifySignedBy, LEAF_NAMES, type CertificateInfo } from './index.js';
import { expiryOf, type ExpirationReport, type ExpiryInput } from './expiry.js';
import { caLabel, pemBlocks, rotationPaths, rotationState } from './rotation.js';

async function readCert(host: Host, path: string): Promise<{ pem?: string; info?: CertificateInfo; problem?: string }> {
  let pem: string | undefined;
  try {
    pem = await host.read(path);
  } catch (err) {
    return { problem: describe(err) };
  }
  if (pem === undefined) return { problem: 'missing' };
  try {
    return { pem, info: certificateInfo(pem) };
  } catch (err) {
    return { problem: `not a certificate: ${describe(err)}` };
  }
}

/** The CA and every leaf of `dir`: when each expires, what signed it; the trusted CAs and where a rotation stands. */
export async function readExpirationReport(host: Host, dir: string, renewBeforeDays: number, now = new Date()): Promise<ExpirationReport> {
  const ca = await readCert(host, pairPaths(dir, 'ca').certPath);
  const trusted = pemBlocks(ca.pem);
  const inputs: ExpiryInput[] = [{ name: 'ca', path: pairPaths(dir, 'ca').certPath, ...(ca.info ? { info: ca.info } : {}), ...(ca.problem ? { problem: ca.problem } : {}) }];
  const signers: string[] = [''];
  for (const name of LEAF_NAMES) {
    const path = pairPaths(dir, name).certPath;
    const c = await readCert(host, path);
    const by = c.pem ? trusted.find((t) => verifySignedBy(c.pem!, t)) : undefined;
    signers.push(by ? caLabel(by) : '');
    inputs.push({ name, path, ...(c.info ? { info: c.info } : {}), ...(c.problem ? { problem: c.problem } : {}), signedByCa: !!by });
  }
  const rows = inputs.map((i, n) => ({ ...expiryOf(i, now, renewBeforeDays), ...(signers[n] ? { authority: signers[n]! } : {}) }));
  const files = { trust: ca.pem, newCert: await host.read(rotationPaths(dir).newCert).catch(() => undefined), oldCert: await host.read(rotationPaths(dir).oldCert).catch(() => undefined) };
  const trustedCAs = trusted.map((t, i) => {
    const info = certificateInfo(t);
    return { ca: caLabel(t), fingerprint: info.sha256Fingerprint, expires: info.notAfter.toISOString(), signing: i === 0 };
  });
  return { certsDir: dir, renewBeforeDays, certificates: rows, trustedCAs, rotation: trusted.length ? rotationState(files) : 'none' };
}
