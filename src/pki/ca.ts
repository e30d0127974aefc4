/** The cluster CA: reused when present (whoever made it: etcdadm, kubeadm, openssl), created on init otherwise. */
import type { Host } from '../host/host.js';
import type { Logger } from '../log/logger.js';
import { loadCA, makeCA, readCAFiles } from './ca-load.js';
import { DAY_MS, validateSpec } from './spec.js';
import { ensureCertsDir, pairPaths, tightenKeyMode, writePair } from './store.js';
import type { LoadedCA, PkiSpec } from './types.js';

export { CA_COMMON_NAME, loadCA, makeCA, readCAFiles } from './ca-load.js';

export async function ensureCA(host: Host, spec: PkiSpec, log: Logger, opts: { allowCreate: boolean }): Promise<LoadedCA> {
  validateSpec(spec);
  const prepared = await prepareCA(host, spec, log, opts);
  await prepared.commit();
  return prepared.ca;
}

/** A CA ready in memory; `commit` writes it when it is new (key, then certificate) and logs what was done. */
export interface PreparedCA {
  ca: LoadedCA;
  commit(): Promise<void>;
}

/**
 * The CA in memory without writing it yet, so that ensurePki can sign the leaves while the CA's files are being
 * written (leaf files are only written after the CA's).
 */
export async function prepareCA(host: Host, spec: PkiSpec, log: Logger, opts: { allowCreate: boolean }): Promise<PreparedCA> {
  const dir = spec.certsDir;
  const paths = pairPaths(dir, 'ca');
  const files = await readCAFiles(host, dir, { required: !opts.allowCreate });
  if (!files) {
    const [made] = await Promise.all([makeCA(spec), ensureCertsDir(host, dir)]);
    return {
      ca: made.ca,
      async commit() {
        await writePair(host, paths, made.keyPem, made.ca.certPem);
        log.info('Generated ca certificate and key.');
        log.debug(`ca certificate fingerprint is ${made.ca.fingerprint}`);
      },
    };
  }
  const [ca] = await Promise.all([loadCA(spec, files.certPem, files.keyPem), ensureCertsDir(host, dir)]);
  return {
    ca,
    async commit() {
      await tightenKeyMode(host, paths.keyPath, log);
      log.info('Using the existing "ca" certificate and key.');
      log.debug(`ca certificate fingerprint is ${ca.fingerprint}`);
      const now = spec.now ?? new Date();
      if (ca.facts.notAfter.getTime() - now.getTime() < spec.renewBeforeDays * DAY_MS) {
        log.warn(
          `The CA certificate ${paths.certPath} expires on ${ca.facts.notAfter.toISOString()}; ` +
            'certificates it signs stop working then: plan a CA rotation.',
        );
      }
    },
  };
}

/** Make a new self-signed CA and write it (key first). The directory must exist. */
export async function createCA(host: Host, spec: PkiSpec): Promise<LoadedCA> {
  const made = await makeCA(spec);
  await writePair(host, pairPaths(spec.certsDir, 'ca'), made.keyPem, made.ca.certPem);
  return made.ca;
}

