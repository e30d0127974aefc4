/** How the PKI's files are written: modes, the certificates directory, pairs written key first. Reading: files.ts. */
import { dirname } from 'node:path';
import { describe, EtcdadmError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import type { PairPaths } from './files.js';

export { LEAF_NAMES, pairPaths, pkiFiles, readPem, type LeafName, type PairPaths, type PkiFiles } from './files.js';

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
export const CERTS_DIR_MODE = 0o700;

/** The certificates directory with mode 0700; missing parents are made 0755 (not 0700: /etc/etcd holds more). */
export async function ensureCertsDir(host: Host, dir: string): Promise<void> {
  try {
    await host.mkdir(dirname(dir), 0o755);
    const made = await host.mkdir(dir, CERTS_DIR_MODE);
    const st = await host.stat(dir);
    // 0700; a service user's 0710 (it may enter the dir: phases/shared.ts) is kept, anything wider is narrowed
    if (!made && st && st.kind === 'dir' && (st.mode & 0o7067) !== 0) await host.chmod(dir, CERTS_DIR_MODE);
  } catch (err) {
    throw new EtcdadmError(`cannot create ${dir}: ${describe(err)}`, { cause: err });
  }
}

/** Write the key (0600) and then the certificate (0644), so a certificate never exists without its key. */
export async function writePair(host: Host, paths: PairPaths, keyPem: string, certPem: string): Promise<void> {
  for (const [path, data, mode] of [
    [paths.keyPath, keyPem, KEY_MODE],
    [paths.certPath, certPem, CERT_MODE],
  ] as const) {
    try {
      await host.write(path, data, { mode, dirMode: CERTS_DIR_MODE });
    } catch (err) {
      throw new EtcdadmError(`cannot write ${path}: ${describe(err)}`, { cause: err });
    }
  }
}

/**
 * An existing private key readable by others (or by its group, unless that is root:<service user> 0640, the server and
 * peer keys of a member that runs etcd as a service user) is narrowed to 0600, with a warning.
 */
export async function tightenKeyMode(host: Host, path: string, log: Logger): Promise<void> {
  try {
    const st = await host.stat(path);
    if (!st || (st.mode & 0o077) === 0 || (st.mode === 0o640 && st.uid === 0 && st.gid !== 0)) return;
    await host.chmod(path, KEY_MODE);
    log.warn(`Tightened the permissions of ${path} from ${(st.mode & 0o777).toString(8).padStart(4, '0')} to 0600.`);
  } catch (err) {
    throw new EtcdadmError(`cannot set the permissions of ${path}: ${describe(err)}`, { cause: err });
  }
}
