/** The shapes shared by the PKI modules. */
import type { KeyObject, X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { CertFacts } from './inspect.js';
import type * as x509 from './x509.js';

import type { KeyAlgorithm } from '../config/defaults.js';

export { KEY_ALGORITHMS, type KeyAlgorithm } from '../config/defaults.js';

export type CertUsage = 'server' | 'client';

export interface LeafRequest {
  commonName: string;
  organization?: string[];
  dnsNames: string[];
  ipAddresses: string[];
  usages: CertUsage[];
}

export interface SanSet {
  dnsNames: string[];
  ipAddresses: string[];
}

export interface PkiSpec {
  /** Default /etc/etcd/pki; created 0700. */
  certsDir: string;
  /** For new keys (CA and leaves). Existing keys of another algorithm are kept. */
  keyAlgorithm: KeyAlgorithm;
  caValidityDays: number;
  certValidityDays: number;
  /** A leaf expiring sooner than this is regenerated. */
  renewBeforeDays: number;
  memberName: string;
  /** SANs already computed by the caller. */
  server: SanSet;
  peer: SanSet;
  /** The current time, for tests. */
  now?: Date;
}

/** One outcome per certificate/key pair; `file` is the certificate's path (the key is the same path with `.key`). */
export interface PkiOutcome {
  file: string;
  action: 'generated' | 'kept' | 'regenerated';
  reason?: string;
}

/** A CA ready to sign. Holds the private key: never log it. */
export interface LoadedCA {
  certPath: string;
  keyPath: string;
  /** The certificate as found on disk (or as written). */
  certPem: string;
  /** Parsed with node:crypto. */
  nodeCertificate: NodeX509Certificate;
  /** Names, validity, extensions. */
  facts: CertFacts;
  /** The CA's subject as @peculiar/x509 parsed it from the exact DER: the issuer given to the signer. */
  issuerName: x509.Name;
  privateKey: KeyObject;
  /** The key imported into WebCrypto for signing (not extractable). */
  signingKey: CryptoKey;
  /** Signature algorithm used for the certificates this CA signs. */
  signingAlgorithm: Algorithm | EcdsaParams;
  /** Exact DER of the CA's subject: the issuer of every certificate it signs. */
  rawSubject: Uint8Array;
  /** Hex key identifier put in the authorityKeyIdentifier of the certificates it signs. */
  keyId: string;
  /** SHA-256 fingerprint, `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  /** 'generated' when ensureCA created it, 'kept' when it was loaded from disk. */
  action: 'generated' | 'kept';
}
