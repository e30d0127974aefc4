/**
 * SHA256SUMS files and streaming SHA-256 of files.
 */
import { createHash } from 'node:crypto';
import { EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';

export interface SumEntry {
  sha256: string;
  name: string;
}

// GNU coreutils: "<hex>  name" (text mode) or "<hex> *name" (binary mode); tolerate a single space too.
const GNU_LINE = /^\\?([0-9a-fA-F]{64})[ \t]+\*?(.+)$/;
// BSD / `shasum --tag`: "SHA256 (name) = <hex>"
const BSD_LINE = /^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$/;

/** The entries of a SHA256SUMS file (hashes lower-cased, "./" prefixes dropped). Unparseable lines are skipped. */
export function parseSha256Sums(text: string): SumEntry[] {
  const out: SumEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const gnu = GNU_LINE.exec(line);
    const bsd = gnu ? undefined : BSD_LINE.exec(line);
    const hash = gnu?.[1] ?? bsd?.[2];
    const name = gnu?.[2] ?? bsd?.[1];
    if (hash === undefined || name === undefined) continue;
    out.push({ sha256: hash.toLowerCase(), name: name.trim().replace(/^\.\//, '') });
  }
  return out;
}

/**
 * The expected SHA-256 of `name` according to a SHA256SUMS text, or undefined when the file has no line for it.
 * Two different hashes for the same name is an error (a tampered or broken checksum file).
 */
export function expectedSha256(sumsText: string, name: string, source = 'SHA256SUMS'): string | undefined {
  const hashes = new Set(parseSha256Sums(sumsText).filter((e) => e.name === name).map((e) => e.sha256));
  if (hashes.size > 1) {
    throw new EtcdadmError(`${source} lists ${hashes.size} different SHA-256 hashes for ${name}`, {
      hint: 'The checksum file is inconsistent; check --release-url',
    });
  }
  return hashes.values().next().value;
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(host: Host, path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of host.readStream(path)) hash.update(chunk);
  return hash.digest('hex');
}
