/**
 * A minimal DER reader: just enough to take the exact bytes of a certificate's issuer and subject names and of a
 * public key, which must be compared byte for byte (Go's crypto/x509, and so etcd, matches a certificate to its issuer
 * by comparing the raw issuer of the child with the raw subject of the parent).
 */

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not supported');
  let pos = offset + 1;
  const first = buf[pos++]!;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    if (pos + n > buf.length) throw new Error('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
  }
  const end = pos + len;
  if (end > buf.length) throw new Error('truncated DER');
  return { tag, start: offset, contentStart: pos, end };
}

/** The children of a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export interface RawCertificateParts {
  /** The DER of the tbsCertificate issuer Name. */
  issuer: Uint8Array;
  /** The DER of the tbsCertificate subject Name. */
  subject: Uint8Array;
  /** The DER of the SubjectPublicKeyInfo. */
  spki: Uint8Array;
}

/** The raw issuer, subject and public key of a DER certificate. */
export function rawCertificateParts(der: Uint8Array): RawCertificateParts {
  const cert = readTlv(der, 0);
  const tbsTlv = children(der, cert)[0];
  if (!tbsTlv || tbsTlv.tag !== 0x30) throw new Error('not an X.509 certificate');
  const fields = children(der, tbsTlv);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // optional explicit version
  i += 2; // serialNumber, signature
  const [issuer, , subject, spki] = [fields[i], fields[i + 1], fields[i + 2], fields[i + 3]];
  if (!issuer || !subject || !spki) throw new Error('not an X.509 certificate');
  return {
    issuer: der.subarray(issuer.start, issuer.end),
    subject: der.subarray(subject.start, subject.end),
    spki: der.subarray(spki.start, spki.end),
  };
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo (what RFC 5280's key identifier method 1 hashes). */
export function spkiKeyBits(spki: Uint8Array): Uint8Array {
  const seq = readTlv(spki, 0);
  const bits = children(spki, seq)[1];
  if (!bits || bits.tag !== 0x03) throw new Error('not a SubjectPublicKeyInfo');
  return spki.subarray(bits.contentStart + 1, bits.end); // skip the unused-bits byte
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** DER encoding of one TLV (short tags only). */
export function encodeTlv(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = content.length;
  let header: number[];
  if (len < 0x80) header = [tag, len];
  else {
    const lenBytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) lenBytes.unshift(n & 0xff);
    header = [tag, 0x80 | lenBytes.length, ...lenBytes];
  }
  const out = new Uint8Array(header.length + len);
  out.set(header, 0);
  out.set(content, header.length);
  return out;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
