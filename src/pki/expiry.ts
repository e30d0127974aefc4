/**
 * How long the certificates in a certs dir stay valid (pure): kubeadm's `certs check-expiration` columns and its
 * exit semantics for monitoring — 0 when every certificate is fine, 3 when one expires within the renewal window
 * (pki.renewBeforeDays), 4 when one has expired or is missing.
 */
import type { CertificateInfo } from './cert.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export type ExpiryState = 'ok' | 'renew' | 'expired' | 'missing';

export interface CertExpiry {
  /** `ca` or the leaf's name (`server`, `peer`, ...). */
  name: string;
  path: string;
  /** ISO 8601, UTC; '' when the file is missing or unreadable. */
  expires: string;
  /** Seconds until it expires (negative once expired). */
  residualSeconds: number;
  /** What signed it: `ca` for a leaf the certs dir's CA signed, '' for the CA itself, `unknown` otherwise. */
  authority: string;
  serial: string;
  subject: string;
  sans: string[];
  state: ExpiryState;
  /** Why the state is not ok (for a missing or foreign certificate). */
  problem?: string;
}

/** What `certs check-expiration -o json` prints for one host's certs dir. */
export interface ExpirationReport {
  certsDir: string;
  renewBeforeDays: number;
  certificates: CertExpiry[];
  /** The CAs ca.crt holds, the one that signs first. */
  trustedCAs: { ca: string; fingerprint: string; expires: string; signing: boolean }[];
  /** Where a CA rotation stands ('none' outside one). */
  rotation: string;
}

export interface ExpiryInput {
  name: string;
  path: string;
  /** The certificate's facts; undefined when the file is missing or unreadable (`problem` says which). */
  info?: CertificateInfo;
  problem?: string;
  /** For a leaf: whether the CA in the certs dir signed it. */
  signedByCa?: boolean;
}

export function expiryOf(c: ExpiryInput, now: Date, renewBeforeDays: number): CertExpiry {
  if (!c.info) return { name: c.name, path: c.path, expires: '', residualSeconds: 0, authority: '', serial: '', subject: '', sans: [], state: 'missing', problem: c.problem ?? 'missing' };
  const left = c.info.notAfter.getTime() - now.getTime();
  const state: ExpiryState = left <= 0 ? 'expired' : left < renewBeforeDays * DAY_MS ? 'renew' : 'ok';
  return {
    name: c.name,
    path: c.path,
    expires: c.info.notAfter.toISOString(),
    residualSeconds: Math.floor(left / 1000),
    authority: c.name === 'ca' ? '' : c.signedByCa ? 'ca' : 'unknown',
    serial: c.info.serialHex,
    subject: c.info.subject,
    sans: [...c.info.dnsNames, ...c.info.ipAddresses],
    state,
    ...(c.name !== 'ca' && !c.signedByCa ? { problem: 'not signed by the ca.crt in this directory' } : {}),
  };
}

/** 4 when one expired or is missing, 3 when one is within the renewal window, else 0. */
export function expirationExitCode(rows: CertExpiry[]): 0 | 3 | 4 {
  if (rows.some((r) => r.state === 'expired' || r.state === 'missing')) return 4;
  if (rows.some((r) => r.state === 'renew')) return 3;
  return 0;
}

/** kubeadm's RESIDUAL TIME: `364d`, `23h`, `59m`; `<invalid>` once expired. */
export function residualText(seconds: number): string {
  if (seconds <= 0) return '<invalid>';
  if (seconds >= 86400) return `${Math.floor(seconds / 86400)}d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.max(1, Math.floor(seconds / 60))}m`;
}
