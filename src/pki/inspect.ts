/**
 * What the PKI needs to know about a certificate: names, validity, CA flag, key usages, SANs, key identifiers, and
 * the exact DER of its subject, issuer and public key. The certificate is decoded once by asn1js, which keeps every
 * element's own encoding (valueBeforeDecodeView), so the raw names are the bytes in the file and never a re-encoding
 * of a parsed Name; extensions are read with the @peculiar/asn1-x509 classes. That is 0.3-0.6 ms per certificate;
 * @peculiar/x509's X509Certificate maps the whole certificate onto its schema classes on top of the same asn1js parse,
 * 1.3-2.5 ms with its extensions, and every run re-checks every certificate. Signatures and key matching are left to
 * node:crypto (OpenSSL).
 */
import * as asn1js from 'asn1js';
import { AsnParser } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  ExtendedKeyUsage,
  KeyUsage,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import type { CertUsage } from './types.js';

export interface NameAttribute {
  /** Short name (CN, O, OU, C, ST, L, ...) or the dotted OID. */
  type: string;
  value: string;
}

export interface CertFacts {
  /** Exact DER of the subject and issuer Names and of the SubjectPublicKeyInfo. */
  rawSubject: Uint8Array;
  rawIssuer: Uint8Array;
  spki: Uint8Array;
  subject: NameAttribute[];
  issuer: NameAttribute[];
  /** Upper-case hex, no leading zero byte. */
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  /** Key usage bits, numbered like KeyUsageFlags; undefined when the extension is absent. */
  keyUsage: number | undefined;
  /** serverAuth/clientAuth found in extendedKeyUsage. */
  usages: CertUsage[];
  dnsNames: string[];
  /** Canonical spelling (dotted IPv4, RFC 5952 IPv6). */
  ipAddresses: string[];
  /** Hex subjectKeyIdentifier, when present. */
  subjectKeyId: string | undefined;
}

const OID_SHORT: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC',
};
const EKU_OIDS: Record<string, CertUsage> = { [id_kp_serverAuth]: 'server', [id_kp_clientAuth]: 'client' };

/** One DER element decoded by asn1js, all of `der` consumed. Throws on malformed or truncated input. */
export function parseDer(der: Uint8Array): asn1js.AsnType {
  const { offset, result } = asn1js.fromBER(der, { parseEmbedded: false });
  if (offset === -1 || result.error) throw new Error(`malformed DER (truncated?): ${result.error || 'no element'}`);
  if (offset !== der.byteLength) throw new Error(`malformed DER: ${der.byteLength - offset} bytes after the element`);
  return result;
}

function items(block: asn1js.AsnType | undefined): asn1js.AsnType[] {
  if (!(block instanceof asn1js.Constructed)) throw new Error('not an X.509 certificate');
  return block.valueBlock.value;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** The content octets of an element (its encoding without tag and length). */
function content(block: asn1js.AsnType): Uint8Array {
  return block.valueBeforeDecodeView.subarray(block.idBlock.blockLength + block.lenBlock.blockLength);
}

function decodeName(name: asn1js.AsnType): NameAttribute[] {
  const out: NameAttribute[] = [];
  for (const rdn of items(name)) {
    for (const atv of items(rdn)) {
      const [oid, value] = items(atv);
      if (!(oid instanceof asn1js.ObjectIdentifier) || !value) continue;
      const id = oid.getValue();
      out.push({
        type: OID_SHORT[id] ?? id,
        value: value instanceof asn1js.BaseStringBlock ? value.getValue() : `#${hex(content(value))}`,
      });
    }
  }
  return out;
}

function decodeTime(t: asn1js.AsnType | undefined): Date {
  if (t instanceof asn1js.UTCTime || t instanceof asn1js.GeneralizedTime) return t.toDate();
  throw new Error('bad certificate validity');
}

/** The DNS names and canonical IP addresses of a subjectAltName extension's value. */
export function decodeSan(extnValue: Uint8Array): { dnsNames: string[]; ipAddresses: string[] } {
  const out = { dnsNames: [] as string[], ipAddresses: [] as string[] };
  for (const gn of AsnParser.fromASN(parseDer(extnValue), SubjectAlternativeName)) {
    if (gn.dNSName !== undefined) out.dnsNames.push(gn.dNSName);
    else if (gn.iPAddress !== undefined) out.ipAddresses.push(gn.iPAddress); // spelled like ip.ts's bytesToIp
  }
  return out;
}

/** Facts about a DER certificate. Throws on malformed DER. */
export function certFacts(der: Uint8Array): CertFacts {
  const tbs = items(items(parseDer(der))[0]);
  const i = tbs[0]?.idBlock.tagClass === 3 ? 1 : 0; // [0] EXPLICIT version, absent in v1
  const [serial, , issuer, validity, subject, spki] = tbs.slice(i, i + 6);
  if (!(serial instanceof asn1js.Integer) || !issuer || !validity || !subject || !spki) {
    throw new Error('not an X.509 certificate');
  }
  const [notBefore, notAfter] = items(validity);
  const serialHex = hex(serial.valueBlock.valueHexView).replace(/^(00)+(?=.)/, '').toUpperCase();

  const facts: CertFacts = {
    rawSubject: subject.valueBeforeDecodeView,
    rawIssuer: issuer.valueBeforeDecodeView,
    spki: spki.valueBeforeDecodeView,
    subject: decodeName(subject),
    issuer: decodeName(issuer),
    serialHex,
    notBefore: decodeTime(notBefore),
    notAfter: decodeTime(notAfter),
    isCA: false,
    keyUsage: undefined,
    usages: [],
    dnsNames: [],
    ipAddresses: [],
    subjectKeyId: undefined,
  };

  // extensions: [3] EXPLICIT SEQUENCE OF SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
  const wrapper = tbs.slice(i + 6).find((t) => t.idBlock.tagClass === 3 && t.idBlock.tagNumber === 3);
  if (!wrapper) return facts;
  for (const ext of items(items(wrapper)[0])) {
    const parts = items(ext);
    const [oid, value] = [parts[0], parts[parts.length - 1]];
    if (!(oid instanceof asn1js.ObjectIdentifier) || !(value instanceof asn1js.OctetString)) continue;
    const v = value.valueBlock.valueHexView;
    switch (oid.getValue()) {
      case id_ce_basicConstraints:
        facts.isCA = AsnParser.fromASN(parseDer(v), BasicConstraints).cA;
        break;
      case id_ce_keyUsage:
        facts.keyUsage = AsnParser.fromASN(parseDer(v), KeyUsage).toNumber();
        break;
      case id_ce_extKeyUsage:
        for (const o of AsnParser.fromASN(parseDer(v), ExtendedKeyUsage)) {
          const u = EKU_OIDS[o];
          if (u && !facts.usages.includes(u)) facts.usages.push(u);
        }
        break;
      case id_ce_subjectAltName:
        Object.assign(facts, decodeSan(v));
        break;
      case id_ce_subjectKeyIdentifier:
        facts.subjectKeyId = hex(new Uint8Array(AsnParser.fromASN(parseDer(v), SubjectKeyIdentifier).buffer));
        break;
      default:
        break;
    }
  }
  return facts;
}

/** "O=system:masters, CN=kube-apiserver-etcd-client": attributes in certificate order. */
export function nameToString(attrs: NameAttribute[]): string {
  return attrs.map((a) => `${a.type}=${a.value}`).join(', ');
}

export function nameField(attrs: NameAttribute[], type: string): string[] {
  return attrs.filter((a) => a.type === type).map((a) => a.value);
}
