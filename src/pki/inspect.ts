/**
 * What the PKI needs to know about a certificate, read straight from its DER: names, validity, CA flag, key usages,
 * SANs, key identifiers. Parsing with @peculiar/x509 costs milliseconds per certificate (asn1js); this walk costs
 * microseconds, which matters because every run re-checks every certificate. Signatures and key matching are left to
 * node:crypto (OpenSSL).
 */
import { children, readTlv, type Tlv } from './der.js';
import { bytesToIp } from './ip.js';
import type { CertUsage } from './types.js';

/** Key usage bits, numbered like @peculiar/x509's KeyUsageFlags. */
export const KU = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
} as const;

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
  /** KU bits; undefined when the extension is absent. */
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
const EKU_OIDS: Record<string, CertUsage> = { '1.3.6.1.5.5.7.3.1': 'server', '1.3.6.1.5.5.7.3.2': 'client' };

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) return '';
  const first = bytes[0]!;
  const parts: number[] = [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80];
  let n = 0;
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i]!;
    n = n * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}

function decodeString(tag: number, bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (tag) {
    case 0x0c: // UTF8String
      return buf.toString('utf8');
    case 0x1e: // BMPString (UCS-2 big endian)
      return Buffer.from(buf).swap16().toString('utf16le');
    case 0x1c: {
      // UniversalString (UCS-4 big endian)
      let s = '';
      for (let i = 0; i + 3 < buf.length; i += 4) s += String.fromCodePoint(buf.readUInt32BE(i));
      return s;
    }
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x14: // TeletexString (treated as Latin-1)
      return buf.toString('latin1');
    default:
      return `#${buf.toString('hex')}`;
  }
}

export function decodeName(der: Uint8Array, name: Tlv): NameAttribute[] {
  const out: NameAttribute[] = [];
  for (const rdn of children(der, name)) {
    for (const atv of children(der, rdn)) {
      const [oid, value] = children(der, atv);
      if (!oid || !value) continue;
      const id = decodeOid(der.subarray(oid.contentStart, oid.end));
      out.push({ type: OID_SHORT[id] ?? id, value: decodeString(value.tag, der.subarray(value.contentStart, value.end)) });
    }
  }
  return out;
}

/** "O=system:masters, CN=kube-apiserver-etcd-client": attributes in certificate order. */
export function nameToString(attrs: NameAttribute[]): string {
  return attrs.map((a) => `${a.type}=${a.value}`).join(', ');
}

function decodeTime(tag: number, bytes: Uint8Array): Date {
  const s = Buffer.from(bytes).toString('latin1');
  let m: RegExpExecArray | null;
  if (tag === 0x17 && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0)));
  }
  if (tag === 0x18 && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(s))) {
    return new Date(Date.UTC(+m[1]!, Number(m[2]) - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  }
  throw new Error(`unsupported certificate time ${JSON.stringify(s)}`);
}

/** Facts about a DER certificate. Throws on malformed DER. */
export function certFacts(der: Uint8Array): CertFacts {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0];
  if (cert.tag !== 0x30 || !tbs || tbs.tag !== 0x30) throw new Error('not an X.509 certificate');
  const f = children(der, tbs);
  let i = f[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, , issuer, validity, subject, spki] = f.slice(i, i + 6);
  if (!serial || !issuer || !validity || !subject || !spki) throw new Error('not an X.509 certificate');
  i += 6;
  const [nb, na] = children(der, validity);
  if (!nb || !na) throw new Error('bad certificate validity');

  let serialBytes = der.subarray(serial.contentStart, serial.end);
  while (serialBytes.length > 1 && serialBytes[0] === 0) serialBytes = serialBytes.subarray(1);

  const facts: CertFacts = {
    rawSubject: der.subarray(subject.start, subject.end),
    rawIssuer: der.subarray(issuer.start, issuer.end),
    spki: der.subarray(spki.start, spki.end),
    subject: decodeName(der, subject),
    issuer: decodeName(der, issuer),
    serialHex: Buffer.from(serialBytes).toString('hex').toUpperCase(),
    notBefore: decodeTime(nb.tag, der.subarray(nb.contentStart, nb.end)),
    notAfter: decodeTime(na.tag, der.subarray(na.contentStart, na.end)),
    isCA: false,
    keyUsage: undefined,
    usages: [],
    dnsNames: [],
    ipAddresses: [],
    subjectKeyId: undefined,
  };

  const extsWrapper = f.slice(i).find((t) => t.tag === 0xa3);
  if (!extsWrapper) return facts;
  const extsSeq = children(der, extsWrapper)[0];
  if (!extsSeq) return facts;
  for (const ext of children(der, extsSeq)) {
    const parts = children(der, ext);
    const oid = parts[0];
    const valueWrapper = parts[parts.length - 1];
    if (!oid || !valueWrapper || valueWrapper.tag !== 0x04) continue;
    const id = decodeOid(der.subarray(oid.contentStart, oid.end));
    const v = der.subarray(valueWrapper.contentStart, valueWrapper.end);
    if (v.length === 0) continue;
    const top = readTlv(v, 0);
    switch (id) {
      case '2.5.29.19': {
        // basicConstraints: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL }
        const first = children(v, top)[0];
        facts.isCA = first?.tag === 0x01 && v[first.contentStart] !== 0;
        break;
      }
      case '2.5.29.15': {
        // keyUsage: BIT STRING, bit 0 = most significant bit of the first content byte
        let bits = 0;
        const content = v.subarray(top.contentStart + 1, top.end);
        content.forEach((byte, bi) => {
          for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) bits |= 1 << (bi * 8 + b);
        });
        facts.keyUsage = bits;
        break;
      }
      case '2.5.29.37':
        for (const o of children(v, top)) {
          const u = EKU_OIDS[decodeOid(v.subarray(o.contentStart, o.end))];
          if (u && !facts.usages.includes(u)) facts.usages.push(u);
        }
        break;
      case '2.5.29.17':
        for (const gn of children(v, top)) {
          const content = v.subarray(gn.contentStart, gn.end);
          if (gn.tag === 0x82) facts.dnsNames.push(Buffer.from(content).toString('latin1'));
          else if (gn.tag === 0x87) facts.ipAddresses.push(bytesToIp(content));
        }
        break;
      case '2.5.29.14':
        facts.subjectKeyId = Buffer.from(v.subarray(top.contentStart, top.end)).toString('hex');
        break;
      default:
        break;
    }
  }
  return facts;
}

export function nameField(attrs: NameAttribute[], type: string): string[] {
  return attrs.filter((a) => a.type === type).map((a) => a.value);
}
