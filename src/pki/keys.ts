/**
 * Private keys: made with node:crypto, read in every PEM form openssl, kubeadm and Go write (PKCS#1 "RSA PRIVATE KEY",
 * SEC1 "EC PRIVATE KEY", PKCS#8 "PRIVATE KEY"), written as PKCS#8.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  sign as nodeSign,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import type { KeyAlgorithm } from './types.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** node:crypto's WebCrypto. */
export const webCrypto = webcrypto as unknown as Crypto;

/** The node:crypto KeyObject behind each signing CryptoKey made by importSigningKey. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

const NODE_HASH: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * `subtle.sign` for keys made by importSigningKey, done synchronously by node:crypto on the calling thread: WebCrypto's
 * sign is a libuv threadpool job and queues behind the fsyncs of the files being written, which made signing the
 * dominant latency of a fresh PKI. Same algorithms and output format as WebCrypto (ECDSA signatures as r||s).
 */
async function signNow(alg: AlgorithmIdentifier | EcdsaParams, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
  const keyObject = keyObjects.get(key);
  const a = (typeof alg === 'string' ? { name: alg } : alg) as Partial<EcdsaParams> & Algorithm;
  const keyHash = (key.algorithm as Partial<RsaHashedKeyAlgorithm>).hash;
  const hashId = a.hash ?? keyHash;
  const hash = NODE_HASH[typeof hashId === 'string' ? hashId : (hashId?.name ?? '')];
  if (!keyObject || !hash || (a.name !== 'ECDSA' && a.name !== 'RSASSA-PKCS1-v1_5')) {
    return webCrypto.subtle.sign(alg, key, data);
  }
  const bytes = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  const sig = nodeSign(hash, bytes, a.name === 'ECDSA' ? { key: keyObject, dsaEncoding: 'ieee-p1363' } : keyObject);
  return sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer;
}

const subtleProxy = new Proxy(webCrypto.subtle, {
  get(target, prop) {
    if (prop === 'sign') return signNow;
    const v: unknown = Reflect.get(target, prop, target);
    return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
  },
});

/** The crypto provider given to @peculiar/x509: node's WebCrypto with the fast `subtle.sign` above. */
export const x509Crypto = new Proxy(webCrypto, {
  get(target, prop) {
    if (prop === 'subtle') return subtleProxy;
    const v: unknown = Reflect.get(target, prop, target);
    return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
  },
});

export interface GeneratedKey {
  algorithm: KeyAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"). */
  pem: string;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
}

export async function generateKey(alg: KeyAlgorithm): Promise<GeneratedKey> {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  switch (alg) {
    case 'ecdsa-p256':
      pair = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
      break;
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      pair = await generateKeyPairAsync('rsa', { modulusLength: Number(alg.slice(4)), publicExponent: 0x10001 });
      break;
    default:
      throw new Error(`unknown key algorithm ${String(alg)}`);
  }
  return {
    algorithm: alg,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spki: pair.publicKey.export({ type: 'spki', format: 'der' }),
  };
}

/** A private key from PEM (PKCS#1, SEC1 or PKCS#8). Throws a plain Error saying what is wrong. */
export function parsePrivateKey(pem: string): KeyObject {
  if (!/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem)) {
    throw new Error('no PEM private key found (expected BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)');
  }
  if (pem.includes('BEGIN ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    throw new Error('the private key is encrypted; etcd needs an unencrypted key');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`cannot parse the private key: ${err instanceof Error ? err.message : String(err)}`);
  }
  return key;
}

const EC_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** "ECDSA P-256", "RSA 2048", ... for messages. */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${EC_CURVES[d.namedCurve ?? ''] ?? d.namedCurve ?? '?'}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength ?? '?'}`;
  return String(key.asymmetricKeyType);
}

export interface SigningKey {
  signingKey: CryptoKey;
  signingAlgorithm: Algorithm | EcdsaParams;
}

/**
 * The key imported into WebCrypto for signing certificates: RSASSA-PKCS1-v1_5 with SHA-256 for RSA, ECDSA with SHA-256
 * for EC (P-256, P-384, P-521). Other key types (Ed25519, RSA-PSS) throw.
 */
export async function importSigningKey(key: KeyObject): Promise<SigningKey> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    const algorithm: RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const signingKey = await webCrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
    keyObjects.set(signingKey, key);
    return { signingKey, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  if (key.asymmetricKeyType === 'ec') {
    const namedCurve = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!namedCurve) throw new Error(`unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'}`);
    const algorithm: EcKeyImportParams = { name: 'ECDSA', namedCurve };
    const signingKey = await webCrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
    keyObjects.set(signingKey, key);
    const signingAlgorithm: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
    return { signingKey, signingAlgorithm };
  }
  throw new Error(`unsupported key type ${String(key.asymmetricKeyType)} (RSA or ECDSA keys are supported)`);
}

/** DER SubjectPublicKeyInfo of a private key's public half. */
export function publicSpki(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** Whether the private key (any PEM form) belongs to the certificate. False when either does not parse. */
export function keyMatchesCert(keyPem: string, certPem: string): boolean {
  let key: KeyObject;
  let cert: X509Certificate;
  try {
    key = parsePrivateKey(keyPem);
    cert = new X509Certificate(certPem);
  } catch {
    return false;
  }
  return keyObjectMatchesCert(key, cert);
}

export function keyObjectMatchesCert(key: KeyObject, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}
