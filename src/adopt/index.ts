/**
 * Taking over hosts another tool set up (today: etcdadm v0.1.x, which keeps no record): `detectLegacy` says whether
 * this host is one and derives the host record its files imply (legacy.ts decides, observe.ts reads).
 */
import type { Host } from '../host/host.js';
import { deriveLegacy, type LegacyVerdict } from './legacy.js';
import { observeLegacy } from './observe.js';

export { LEGACY_NAME, type LegacyVerdict } from './legacy.js';

export async function detectLegacy(host: Host, opts: { versionFlag?: string } = {}): Promise<LegacyVerdict> {
  return deriveLegacy(await observeLegacy(host, opts));
}
