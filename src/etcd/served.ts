/** A server's certificate as a TLS handshake showed it (tls-probe.ts makes one; the etcd client reads its own). */
import type { TLSSocket } from 'node:tls';

export interface ServedCertificate {
  /** Upper-case hex, as `openssl x509 -serial` prints it. */
  serial: string;
  notAfter: Date;
  /** The issuer's and subject's common names. */
  issuerCN: string;
  subjectCN: string;
  /** SHA-256 fingerprint of the certificate (`AB:CD:...`). */
  fingerprint: string;
  /** The certificate itself (PEM), to check what signed it. */
  pem: string;
}

/** The certificate the other end of a TLS socket presented in its handshake; undefined when none. */
export function servedBy(socket: TLSSocket): ServedCertificate | undefined {
  const c = socket.getPeerCertificate();
  if (!c || !c.serialNumber) return undefined;
  return {
    serial: c.serialNumber.toUpperCase(),
    notAfter: new Date(c.valid_to),
    issuerCN: String(c.issuer?.CN ?? ''),
    subjectCN: String(c.subject?.CN ?? ''),
    fingerprint: c.fingerprint256,
    pem: `-----BEGIN CERTIFICATE-----\n${c.raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`,
  };
}

