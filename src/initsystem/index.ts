/**
 * How etcd is run on this host: a systemd unit, or a static Pod that the kubelet runs. The only module that calls
 * systemctl. Both implement the same interface so that phases do not care which one is in use.
 */
import type { Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import { execChecked, execFile } from '../host/exec.js';
import { exists, readIfExists, removeFile, writeFileAtomic } from '../host/files.js';
import { parseEnvFile, renderPodManifest, renderUnit } from '../service/render.js';

export interface InitSystem {
  readonly name: 'systemd' | 'kubelet';
  /** Write the unit (or nothing for kubelet: its manifest is written by start). */
  configure(plan: Plan): Promise<void>;
  /** Enable and start etcd with the settings in plan.envFile; returns when the init system reports it started. */
  start(plan: Plan): Promise<void>;
  /** Stop etcd (and keep it from starting at boot). Idempotent. */
  stop(plan: Plan): Promise<void>;
  isActive(plan: Plan): Promise<boolean>;
  /** Remove what configure/start wrote. Idempotent. */
  remove(plan: Plan): Promise<void>;
}

const SYSTEMCTL = 'systemctl';

export const systemd: InitSystem = {
  name: 'systemd',
  async configure(plan) {
    await writeFileAtomic(plan.unitFile, renderUnit(plan), { mode: 0o644 });
    await execChecked(SYSTEMCTL, ['daemon-reload']);
  },
  async start(plan) {
    if (!(await exists(plan.unitFile)))
      throw new EtcdadmError(`the unit ${plan.unitFile} does not exist`, { hint: "run 'etcdadm init phase configure' first" });
    const r = await execFile(SYSTEMCTL, ['enable', '--now', plan.unitName]);
    if (r.code !== 0) {
      const last = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? '';
      throw new EtcdadmError(`systemctl could not start ${plan.unitName}${last ? `: ${last}` : ''}`, {
        hint: `see 'journalctl -u ${plan.unitName}' for etcd's own error`,
      });
    }
  },
  async stop(plan) {
    if (!(await exists(plan.unitFile))) return;
    // stop before disable: a stopped unit answers is-active reliably everywhere
    await execFile(SYSTEMCTL, ['stop', plan.unitName]);
    await execFile(SYSTEMCTL, ['disable', plan.unitName]);
  },
  async isActive(plan) {
    const r = await execFile(SYSTEMCTL, ['is-active', plan.unitName]);
    return r.code === 0 && r.stdout.trim() === 'active';
  },
  async remove(plan) {
    if (await removeFile(plan.unitFile)) await execFile(SYSTEMCTL, ['daemon-reload']);
  },
};

export const kubelet: InitSystem = {
  name: 'kubelet',
  async configure() {
    /* the manifest is the start signal for the kubelet: written by start */
  },
  async start(plan) {
    const envText = await readIfExists(plan.envFile);
    if (envText === undefined)
      throw new EtcdadmError(`${plan.envFile} does not exist`, { hint: "run 'etcdadm init phase configure' first" });
    const env = [...parseEnvFile(envText).entries()];
    await writeFileAtomic(plan.podManifestFile, renderPodManifest(plan, env), { mode: 0o600, dirMode: 0o755 });
  },
  async stop(plan) {
    await removeFile(plan.podManifestFile);
  },
  async isActive(plan) {
    return exists(plan.podManifestFile);
  },
  async remove(plan) {
    await removeFile(plan.podManifestFile);
  },
};

export function initSystemFor(name: Plan['initSystem']): InitSystem {
  return name === 'kubelet' ? kubelet : systemd;
}
