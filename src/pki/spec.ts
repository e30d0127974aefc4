/** Checks of a PkiSpec and the time constants every PKI module shares. */
import { EtcdadmError, describe } from '../errors.js';
import { normalizeSans } from './cert.js';
import { KEY_ALGORITHMS, type PkiSpec } from './types.js';

export const DAY_MS = 86_400_000;
/** notBefore is set this far in the past so that members with a slightly late clock accept new certificates. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** EtcdadmError when the spec cannot work: unknown algorithm, empty member name, bad numbers, invalid SANs. */
export function validateSpec(spec: PkiSpec): void {
  if (!KEY_ALGORITHMS.includes(spec.keyAlgorithm)) {
    throw new EtcdadmError(`unknown key algorithm ${JSON.stringify(spec.keyAlgorithm)}`, {
      hint: `Use one of ${KEY_ALGORITHMS.join(', ')}`,
    });
  }
  if (!spec.certsDir) throw new EtcdadmError('the certificates directory is empty', { hint: 'Set --certs-dir' });
  if (!spec.memberName) throw new EtcdadmError('the member name is empty', { hint: 'Set the member name' });
  for (const k of ['caValidityDays', 'certValidityDays'] as const) {
    if (!(spec[k] > 0)) throw new EtcdadmError(`${k} must be positive, got ${spec[k]}`);
  }
  if (!(spec.renewBeforeDays >= 0) || spec.renewBeforeDays >= spec.certValidityDays) {
    throw new EtcdadmError(
      `renewBeforeDays (${spec.renewBeforeDays}) must be at least 0 and less than certValidityDays (${spec.certValidityDays})`,
      { hint: 'Otherwise every run would regenerate every certificate' },
    );
  }
  for (const which of ['server', 'peer'] as const) {
    try {
      normalizeSans(spec[which].dnsNames, spec[which].ipAddresses);
    } catch (err) {
      throw new EtcdadmError(`cannot make the ${which} certificate: ${describe(err)}`, {
        hint: 'Fix the SANs (DNS names and IP addresses) in the configuration',
      });
    }
  }
}
