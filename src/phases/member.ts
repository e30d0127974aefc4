/**
 * Phases that init and join share: install, certificates, start, etcdctl, health. They are defined once here and
 * appear in both commands' phase lists.
 */
import { mkdir, stat } from 'node:fs/promises';
import type { Plan } from '../config/types.js';
import { EtcdadmError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { writeFileAtomic } from '../host/files.js';
import { initSystemFor } from '../initsystem/index.js';
import { downloadRelease, installRelease, installedVersion } from '../release/index.js';
import { ensurePki } from '../pki/index.js';
import { renderEtcdctlEnv, renderEtcdctlWrapper } from '../service/render.js';
import { waitFor } from '../util/retry.js';
import { clientFor, grantServiceUser, recordState } from './common.js';
import type { Phase, PhaseContext } from './types.js';

export const installPhase: Phase = {
  name: 'install',
  short: 'Download etcd, verify its SHA-256 and install it',
  long: 'Downloads the etcd release archive (or takes it from the cache), verifies it against the release\'s SHA256SUMS, and installs etcd, etcdctl and etcdutl into --install-dir.',
  async run({ plan, log, timings }) {
    const have = await installedVersion(plan.binaries.etcd);
    if (have === plan.etcdVersion) {
      log.info(`etcd v${have} is already installed in ${plan.installDir}`);
      return;
    }
    const dl = await timings.wait('download', () => downloadRelease(plan.release, log));
    await installRelease(plan.release, dl.archivePath, log);
  },
};

export function certificatesPhase(allowCreateCA: boolean): Phase {
  return {
    name: 'certificates',
    short: allowCreateCA ? 'Generate the CA (unless present) and this member\'s certificates' : 'Generate this member\'s certificates from the cluster CA',
    long: allowCreateCA
      ? 'Reuses ca.crt/ca.key in --certs-dir when present, else creates a CA; then generates server, peer, etcdctl-etcd-client and apiserver-etcd-client certificates. Valid certificates that already cover the wanted names are kept.'
      : 'Uses the cluster CA (ca.crt and ca.key copied from an existing member into --certs-dir) to generate this member\'s server, peer and client certificates.',
    async run({ plan, log }) {
      await ensurePki(
        {
          certsDir: plan.certsDir,
          keyAlgorithm: plan.keyAlgorithm,
          caValidityDays: plan.caValidityDays,
          certValidityDays: plan.certValidityDays,
          renewBeforeDays: plan.renewBeforeDays,
          memberName: plan.name,
          server: plan.sans.server,
          peer: plan.sans.peer,
        },
        log,
        { allowCreate: allowCreateCA },
      );
      await grantServiceUser(plan, log, 'certificates');
    },
  };
}

export const startPhase: Phase = {
  name: 'start',
  short: 'Start etcd through the init system',
  async run({ plan, log, timings }) {
    const init = initSystemFor(plan.initSystem);
    if (plan.initSystem === 'systemd') {
      if (await timings.wait('systemctl', () => init.isActive(plan))) {
        log.info(`${plan.unitName} is already active`);
        return;
      }
      log.info(`Starting ${plan.unitName}`);
    } else {
      log.info(`Writing the static Pod manifest ${plan.podManifestFile}; the kubelet starts etcd from it`);
    }
    await timings.wait('systemctl', () => init.start(plan));
  },
};

export const etcdctlPhase: Phase = {
  name: 'etcdctl',
  short: 'Install etcdctl.env and the etcdctl.sh wrapper',
  async run({ plan, log }) {
    await writeFileAtomic(plan.etcdctlEnvFile, renderEtcdctlEnv(plan), { mode: 0o644 });
    await writeFileAtomic(plan.etcdctlWrapper, renderEtcdctlWrapper(plan), { mode: 0o755 });
    log.info(`Wrote ${plan.etcdctlEnvFile} and ${plan.etcdctlWrapper}; run '${plan.etcdctlWrapper} endpoint health' to use etcdctl`);
  },
};

/** Wait until a quorum read through the local client URL succeeds (permission denied counts as healthy). */
export async function waitHealthy(ctx: PhaseContext, endpoint: string): Promise<void> {
  const { plan, log, timings } = ctx;
  log.info(`Waiting for etcd at ${endpoint} to answer a quorum read (up to ${Math.round(plan.healthTimeoutMs / 1000)}s)`);
  const client = await clientFor(plan, [endpoint]);
  let last = '';
  try {
    const ok = await timings.wait('etcd', () =>
      waitFor(
        async () => {
          const h = await client.healthCheck();
          if (!h.healthy) last = h.error ?? 'unhealthy';
          return h.healthy;
        },
        { timeoutMs: plan.healthTimeoutMs, intervalMs: 100 },
      ),
    );
    if (!ok)
      throw new EtcdadmError(`etcd at ${endpoint} did not become healthy within ${Math.round(plan.healthTimeoutMs / 1000)}s${last ? `: ${last}` : ''}`, {
        hint: plan.initSystem === 'systemd' ? `see 'journalctl -u ${plan.unitName}' for etcd's own error` : 'see the kubelet and container logs',
      });
    // record who this member is, now that etcd can tell: later commands (reset, info) rely on it
    const list = await timings.wait('etcd', () => client.memberList(false));
    const self = list.members.find((m) => m.id === list.memberId);
    await recordState(plan, {
      memberId: list.memberIdHex,
      clusterId: list.clusterIdHex,
      clusterEndpoints: list.members.flatMap((m) => m.clientURLs),
    });
    log.info(`etcd is healthy: member ${self?.name ?? plan.name} (${list.memberIdHex}) of cluster ${list.clusterIdHex}`);
  } finally {
    client.close();
  }
}

export const healthPhase: Phase = {
  name: 'health',
  short: 'Wait until etcd answers a quorum read',
  async run(ctx) {
    await waitHealthy(ctx, ctx.plan.urls.localClient);
  },
};

/** Create the data dir (and WAL dir) with mode 0700, as etcd insists, owned by the service user. */
export async function ensureDataDir(plan: Plan, log: Logger): Promise<void> {
  for (const path of [plan.dataDir, ...(plan.walDir ? [plan.walDir] : [])]) {
    await mkdir(path, { recursive: true, mode: 0o700 });
    const st = await stat(path);
    if (!st.isDirectory()) throw new EtcdadmError(`${path} exists but is not a directory`, { hint: 'choose another data dir' });
  }
  await grantServiceUser(plan, log, 'data');
}
