/**
 * What a running etcd does with certificate files that change under it, and so what `certs renew` must do after it
 * wrote new ones. Pure.
 *
 * Measured on the lab's binaries (test/integration/cert-reload.test.ts, 3.4.23, 3.5.30, 3.6.16, 3.7.3): etcd reads
 * --cert-file/--key-file and --peer-cert-file/--peer-key-file again for every new TLS handshake, on the client and
 * the peer port alike (and for its own outgoing peer connections), so a renewed server or peer certificate is what
 * the next connection sees — no restart. Connections open before the renewal keep the certificate they started with
 * (TLS checks validity only at the handshake), so nothing breaks while they drain. The trusted CA files
 * (--trusted-ca-file, --peer-trusted-ca-file) are read once, at start: a change of the trusted CAs needs a restart.
 */
import { compareVersions } from '../config/version.js';
import type { LeafName } from '../pki/store.js';

/** The oldest etcd measured to read its serving certificates per handshake (all of the lab's: 3.4.23 and later). */
export const RELOADS_LEAF_CERTS_SINCE = '3.4.0';

/** Whether etcd `version` serves a renewed server/peer certificate to new connections without a restart. */
export function reloadsLeafCerts(version: string | undefined): boolean {
  return !!version && /^\d+\.\d+\.\d+/.test(version) && compareVersions(version, RELOADS_LEAF_CERTS_SINCE) >= 0;
}

/** Whether etcd `version` trusts a CA added to its trusted CA file without a restart: none measured does. */
export function reloadsTrustedCA(_version: string | undefined): boolean {
  return false;
}

export type ReloadAction =
  | { kind: 'none'; why: string }
  /** etcd is down or does not serve: (re)start it; there is no leader here to hand over. */
  | { kind: 'restart'; why: string }
  /** etcd serves but will not pick the files up: hand leadership over, then restart. */
  | { kind: 'graceful-restart'; why: string };

export interface ReloadWorld {
  /** The etcd version installed here (undefined: unknown). */
  version: string | undefined;
  /** Whether the init system runs etcd at all. */
  active: boolean;
  /** Whether the local member answers (TLS and a status request) now that the new files are in place. */
  serving: boolean;
  /** The serving leaves whose file on disk is not what a new connection is presented. */
  stale: readonly LeafName[];
  /** Whether the trusted CA file changed (a CA rotation step). */
  trustChanged?: boolean;
}

/** What to do after new certificate files were written. */
export function reloadAfterRenewal(w: ReloadWorld): ReloadAction {
  const v = w.version ? `etcd ${w.version}` : 'etcd';
  if (!w.active) return { kind: 'restart', why: 'etcd is not running: it is started with the new certificates' };
  if (!w.serving) return { kind: 'restart', why: 'etcd runs but does not serve (its certificates may have expired): it is restarted with the new ones' };
  if (w.trustChanged && !reloadsTrustedCA(w.version)) return { kind: 'graceful-restart', why: `${v} reads its trusted CA file only at start` };
  if (w.stale.length) return { kind: 'graceful-restart', why: `${v} still presents the old ${w.stale.join(' and ')} certificate to new connections` };
  return {
    kind: 'none',
    why: reloadsLeafCerts(w.version) ? `${v} reads its certificate files at every new TLS connection: it presents the renewed ones already` : `${v} presents the certificates on disk already`,
  };
}
