/** A PkiSpec with etcdadm's default validity and ECDSA keys, for tests and benchmarks; override what matters. */
import type { PkiSpec } from '../../src/pki/index.js';

export function pkiSpec(certsDir: string, over: Partial<PkiSpec> = {}): PkiSpec {
  return {
    certsDir,
    keyAlgorithm: 'ecdsa-p256',
    caValidityDays: 3650,
    certValidityDays: 365,
    renewBeforeDays: 30,
    memberName: 'node1',
    server: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    peer: { dnsNames: [], ipAddresses: ['127.0.0.1'] },
    ...over,
  };
}
