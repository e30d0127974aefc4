/**
 * CA rotation, the files: where a rotation stands on a host is read from its certs dir alone (pure), so that every
 * step can be re-run after a crash and `certs check-expiration` can show it.
 *
 *   ca.crt       the trusted CA file etcd reads (--trusted-ca-file, --peer-trusted-ca-file): the signing CA first
 *                (the one ca.key belongs to), then the other CAs trusted during the overlap
 *   ca.key       the signing CA's key (absent on a host joined with a certs bundle)
 *   ca-new.crt   the new CA, from `rotate-ca prepare` until `issue` makes it the signing CA (ca-new.key with it on
 *   ca-new.key   CA hosts; copied to every host like ca.* at a join)
 *   ca-old.crt   the old CA, from `issue` until `finish` removes it from the trust
 *   ca-old.key
 *
 * States: none (ca.crt holds one CA) → preparing (ca-new.crt here, not trusted yet) → prepared (ca.crt trusts old and
 * new, the old one signs) → issued (the new one signs, the old one is still trusted) → none again after finish.
 */
import { X509Certificate } from 'node:crypto';
import type { Host } from '../host/host.js';
import { join } from 'node:path';
import type { LeafRequest } from './types.js';

export const ROTATION_FILES = { newCert: 'ca-new.crt', newKey: 'ca-new.key', oldCert: 'ca-old.crt', oldKey: 'ca-old.key' } as const;

export function rotationPaths(certsDir: string) {
  return {
    trust: join(certsDir, 'ca.crt'),
    key: join(certsDir, 'ca.key'),
    newCert: join(certsDir, ROTATION_FILES.newCert),
    newKey: join(certsDir, ROTATION_FILES.newKey),
    oldCert: join(certsDir, ROTATION_FILES.oldCert),
    oldKey: join(certsDir, ROTATION_FILES.oldKey),
  };
}

/** Every PEM certificate block of a text, in order, each ending in a newline. */
export function pemBlocks(text: string | undefined): string[] {
  return [...(text ?? '').matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

export interface RotationFilesText {
  trust: string | undefined;
  newCert: string | undefined;
  oldCert: string | undefined;
}

export type RotationState = 'none' | 'preparing' | 'prepared' | 'issued';

/** Where a rotation stands, from the certs dir's texts. Pure. */
export function rotationState(f: RotationFilesText): RotationState {
  const trusted = pemBlocks(f.trust).map(fingerprintOf);
  if (f.newCert) return trusted.includes(fingerprintOf(f.newCert)) ? 'prepared' : 'preparing';
  return trusted.length > 1 ? 'issued' : 'none';
}

/** The trust file's text for these CAs, first the signing one, without duplicates. Pure. */
export function trustText(cas: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of cas) {
    const fp = fingerprintOf(pem);
    if (seen.has(fp)) continue;
    seen.add(fp);
    out.push(pem.endsWith('\n') ? pem : `${pem}\n`);
  }
  return out.join('');
}

/** Whether this host is in a CA rotation: the CA files of one are here (ca-new.*, or ca-old.* until finish). */
export async function rotationFilesPresent(host: Host, certsDir: string): Promise<boolean> {
  const p = rotationPaths(certsDir);
  const found = await Promise.all([p.newCert, p.newKey, p.oldCert, p.oldKey].map((f) => host.exists(f)));
  return found.some(Boolean);
}

/** A CA's short name for humans: `CN (AB:CD:EF:01)`. */
export function caLabel(pem: string): string {
  const c = new X509Certificate(pem);
  const cn = /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject;
  return `${cn} (${c.fingerprint256.slice(0, 11)})`;
}

/**
 * A client certificate (in memory, 10 minutes) of each CA whose key this host holds: ca, ca-new, ca-old. The CA and
 * signing code are loaded here, when a certificate is made: reading a rotation's state needs none of it.
 */
export async function caClientIdentities(host: Host, certsDir: string, request: LeafRequest): Promise<{ ca: string; cert: string; key: string }[]> {
  const [{ loadCA }, { issueCertificate }] = await Promise.all([import('./ca-load.js'), import('./issue.js')]);
  const p = rotationPaths(certsDir);
  const pairs: [string, string][] = [
    [p.trust, p.key],
    [p.newCert, p.newKey],
    [p.oldCert, p.oldKey],
  ];
  const out: { ca: string; cert: string; key: string }[] = [];
  for (const [certPath, keyPath] of pairs) {
    const [certPem, keyPem] = await Promise.all([host.read(certPath).catch(() => undefined), host.read(keyPath).catch(() => undefined)]);
    if (!certPem || !keyPem) continue;
    try {
      const signer = await loadCA({ certsDir, now: new Date() } as Parameters<typeof loadCA>[0], certPem, keyPem);
      const issued = await issueCertificate(signer, request, { keyAlgorithm: 'ecdsa-p256', validityDays: 10 / 1440 });
      out.push({ ca: caLabel(pemBlocks(certPem)[0]!), cert: issued.certPem, key: issued.keyPem });
    } catch {
      // a pair that cannot sign proves nothing about trust: left out
    }
  }
  return out;
}
