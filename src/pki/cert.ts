/**
 * Certificates: reading them (pure helpers other modules use) and signing new ones.
 *
 * Signing passes as issuer the CA certificate's own subject, parsed from its exact DER (never a string re-encoded), and
 * then checks that the new certificate's raw issuer is byte-for-byte the CA's raw subject: Go (etcd) matches a
 * certificate to its issuer by those bytes, so a re-encoded issuer (say PrintableString where openssl wrote
 * UTF8String) would make etcd reject a chain that `openssl verify` accepts.
 */
import { createHash, randomBytes, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, SubjectAlternativeName, SubjectPublicKeyInfo, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import * as x509 from './x509.js';
import { certFacts, nameField, nameToString, type CertFacts } from './inspect.js';
import { bytesToIp, ipToBytes } from './ip.js';
import { x509Crypto } from './keys.js';
import type { CertUsage } from './types.js';

const EKU: Record<CertUsage, string> = {
  server: x509.ExtendedKeyUsage.serverAuth,
  client: x509.ExtendedKeyUsage.clientAuth,
};

/** The first PEM block labelled `label` (a file may hold a bundle; the first certificate is the one that counts). */
export function firstPemBlock(text: string, label = 'CERTIFICATE'): string | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`).exec(text);
  return m ? `${m[0]}\n` : undefined;
}

/** Parse a PEM certificate (the first one of a bundle). Throws a plain Error when there is none or it is malformed. */
export function loadCertificate(pem: string): x509.X509Certificate {
  const block = firstPemBlock(pem);
  if (!block) throw new Error('no PEM certificate found (expected BEGIN CERTIFICATE)');
  try {
    return new x509.X509Certificate(block);
  } catch (err) {
    throw new Error(`cannot parse the certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The same certificate parsed by node:crypto (OpenSSL): signature checks, key match, fingerprint. */
export function loadNodeCertificate(pem: string): NodeX509Certificate {
  const block = firstPemBlock(pem);
  if (!block) throw new Error('no PEM certificate found (expected BEGIN CERTIFICATE)');
  try {
    return new NodeX509Certificate(block);
  } catch (err) {
    throw new Error(`cannot parse the certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export interface CertificateInfo {
  /** Attributes in certificate order, e.g. "O=system:masters, CN=kube-apiserver-etcd-client". */
  subject: string;
  issuer: string;
  commonName: string;
  organization: string[];
  notBefore: Date;
  notAfter: Date;
  /** DNS SANs as written. */
  dnsNames: string[];
  /** IP SANs, canonical spelling (dotted IPv4, RFC 5952 IPv6). */
  ipAddresses: string[];
  /** Serial number, upper-case hex as `openssl x509 -serial` prints it. */
  serialHex: string;
  /** `AB:CD:...` as `openssl x509 -fingerprint -sha256` prints it. */
  sha256Fingerprint: string;
  isCA: boolean;
  /** Extended key usages among serverAuth ('server') and clientAuth ('client'). */
  usages: CertUsage[];
}

/** Facts about the (first) certificate of a PEM text. Throws a plain Error when there is none or it is malformed. */
export function certificateInfo(pem: string): CertificateInfo {
  const node = loadNodeCertificate(pem);
  return infoOf(certFactsOf(node), node.fingerprint256);
}

/** Facts already read per certificate object: a leaf check reads its names and then its raw issuer. */
const factsCache = new WeakMap<NodeX509Certificate, CertFacts>();

/** Parsed facts of a node:crypto certificate (see inspect.ts). */
export function certFactsOf(cert: NodeX509Certificate): CertFacts {
  let facts = factsCache.get(cert);
  if (facts) return facts;
  try {
    facts = certFacts(cert.raw);
  } catch (err) {
    throw new Error(`cannot parse the certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
  factsCache.set(cert, facts);
  return facts;
}

export function infoOf(f: CertFacts, fingerprint: string): CertificateInfo {
  return {
    subject: nameToString(f.subject),
    issuer: nameToString(f.issuer),
    commonName: nameField(f.subject, 'CN')[0] ?? '',
    organization: nameField(f.subject, 'O'),
    notBefore: f.notBefore,
    notAfter: f.notAfter,
    dnsNames: f.dnsNames,
    ipAddresses: f.ipAddresses,
    serialHex: f.serialHex,
    sha256Fingerprint: fingerprint,
    isCA: f.isCA,
    usages: (['server', 'client'] as const).filter((u) => f.usages.includes(u)),
  };
}

/** SHA-256 fingerprint of the (first) certificate's DER, `AB:CD:...` like `openssl x509 -fingerprint -sha256`. */
export function caFingerprint(caPem: string): string {
  return loadNodeCertificate(caPem).fingerprint256;
}

/**
 * Whether `certPem` was issued by `caPem` the way Go checks it: its raw issuer equals the CA's raw subject and its
 * signature verifies with the CA's public key.
 */
export function verifySignedBy(certPem: string, caPem: string): boolean {
  try {
    return verifySignedByNode(loadNodeCertificate(certPem), loadNodeCertificate(caPem));
  } catch {
    return false;
  }
}

export function verifySignedByNode(cert: NodeX509Certificate, ca: NodeX509Certificate, caSubject?: Uint8Array): boolean {
  try {
    if (Buffer.compare(certFactsOf(cert).rawIssuer, caSubject ?? certFactsOf(ca).rawSubject) !== 0) return false;
    return cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** RFC 5280 key identifier (method 1): SHA-1 of the subjectPublicKey bits, hex. */
export function keyIdentifier(spki: Uint8Array): string {
  const keyBits = AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey;
  return createHash('sha1').update(new Uint8Array(keyBits)).digest('hex');
}

/** 16 random bytes, a positive DER INTEGER with no leading zero byte. */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f || 0x01;
  return b.toString('hex');
}

/**
 * The DER of a subjectAltName value. asn1-x509 takes IP addresses as text and writes their 4 or 16 bytes; the
 * canonical spelling of ip.ts is one it reads back to the same bytes. (@peculiar/x509's SubjectAlternativeNameExtension
 * makes the same bytes at nearly 4 times the cost: two more ASN.1 round trips per certificate.)
 */
export function encodeSan(dnsNames: string[], ips: Uint8Array[]): ArrayBuffer {
  return AsnConvert.serialize(new SubjectAlternativeName([
    ...dnsNames.map((dNSName) => new GeneralName({ dNSName })),
    ...ips.map((ip) => new GeneralName({ iPAddress: bytesToIp(ip) })),
  ]));
}

export function subjectName(commonName: string, organization: string[] = []): x509.Name {
  const json: x509.JsonName = [...organization.map((o) => ({ O: [o] })), { CN: [commonName] }];
  return new x509.Name(json);
}

export interface Issuer {
  /** The CA certificate's subject parsed from its exact DER, or the subject itself for a self-signed CA. */
  name: x509.Name;
  /** The exact DER the signed certificate's issuer must have; undefined for a self-signed certificate. */
  rawName?: Uint8Array;
  signingKey: CryptoKey;
  signingAlgorithm: Algorithm | EcdsaParams;
  /** Hex authority key identifier. */
  keyId: string;
}

export interface CertTemplate {
  subject: x509.Name;
  spki: Uint8Array;
  isCA: boolean;
  usages: CertUsage[];
  dnsNames: string[];
  /** Raw 4- or 16-byte addresses. */
  ipAddresses: Uint8Array[];
  notBefore: Date;
  notAfter: Date;
}

export interface SignedCert {
  pem: string;
  der: Uint8Array;
  certificate: x509.X509Certificate;
}

/** Extensions that are the same in every certificate of a kind, made once (each costs an ASN.1 round trip). */
const fixedExtensions = new Map<string, x509.Extension[]>();

function fixedExtensionsFor(isCA: boolean, usages: CertUsage[]): x509.Extension[] {
  const key = `${isCA}:${usages.join(',')}`;
  let exts = fixedExtensions.get(key);
  if (!exts) {
    exts = [
      new x509.BasicConstraintsExtension(isCA, undefined, true),
      new x509.KeyUsagesExtension(
        isCA
          ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
          : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
    ];
    if (usages.length > 0) exts.push(new x509.ExtendedKeyUsageExtension(usages.map((u) => EKU[u]), false));
    fixedExtensions.set(key, exts);
  }
  return exts;
}

/**
 * A v3 certificate: basicConstraints (critical), keyUsage (critical; CA: keyCertSign|cRLSign|digitalSignature,
 * leaf: digitalSignature|keyEncipherment), extKeyUsage, subjectKeyIdentifier, authorityKeyIdentifier, SAN; a random
 * positive 16-byte serial; signed SHA-256 with the issuer's key (ECDSA or RSASSA-PKCS1-v1_5).
 */
export async function signCertificate(tpl: CertTemplate, issuer: Issuer): Promise<SignedCert> {
  const extensions: x509.Extension[] = [
    ...fixedExtensionsFor(tpl.isCA, tpl.usages),
    new x509.SubjectKeyIdentifierExtension(keyIdentifier(tpl.spki), false),
    new x509.AuthorityKeyIdentifierExtension(issuer.keyId, false),
  ];
  if (tpl.dnsNames.length + tpl.ipAddresses.length > 0) {
    extensions.push(new x509.Extension(id_ce_subjectAltName, false, encodeSan(tpl.dnsNames, tpl.ipAddresses)));
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: tpl.subject,
      issuer: issuer.name,
      notBefore: tpl.notBefore,
      notAfter: tpl.notAfter,
      publicKey: Uint8Array.from(tpl.spki),
      signingKey: issuer.signingKey,
      signingAlgorithm: issuer.signingAlgorithm,
      extensions,
    },
    x509Crypto,
  );
  const der = new Uint8Array(cert.rawData);
  const facts = certFacts(der);
  if (Buffer.compare(facts.rawIssuer, issuer.rawName ?? facts.rawSubject) !== 0) {
    // never hand out a certificate Go would not chain to its CA
    throw new Error('internal error: the signed certificate\'s issuer does not match the CA subject byte for byte');
  }
  return { pem: toPem(der), der, certificate: cert };
}

export function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/** Parse and de-duplicate wanted SANs. Throws a plain Error naming an invalid IP. */
export function normalizeSans(dnsNames: string[], ipAddresses: string[]): { dnsNames: string[]; ips: Uint8Array[] } {
  const dns: string[] = [];
  const seenDns = new Set<string>();
  for (const raw of dnsNames) {
    const d = raw.trim();
    if (!d) continue;
    // eslint-disable-next-line no-control-regex
    if (!/^[\x21-\x7e]+$/.test(d)) throw new Error(`invalid DNS name ${JSON.stringify(raw)} for a certificate SAN`);
    if (seenDns.has(d.toLowerCase())) continue;
    seenDns.add(d.toLowerCase());
    dns.push(d);
  }
  const ips: Uint8Array[] = [];
  const seenIp = new Set<string>();
  for (const raw of ipAddresses) {
    if (!raw.trim()) continue;
    const b = ipToBytes(raw);
    if (!b) throw new Error(`invalid IP address ${JSON.stringify(raw)} for a certificate SAN`);
    const key = bytesToIp(b);
    if (seenIp.has(key)) continue;
    seenIp.add(key);
    ips.push(b);
  }
  return { dnsNames: dns, ips };
}
