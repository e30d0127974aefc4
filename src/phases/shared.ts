/**
 * Phases and steps that init and join share: install, certificates, start, etcdctl; the data dir, the service user
 * and the host record's facts. Defined once; both commands list them.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Plan } from '../config/types.js';
import { pkiSpecOf } from '../config/plan/pki.js';
import { EtcdadmError } from '../errors.js';
import { moveLeadership } from '../cluster/membership.js';
import type { MemberStatus } from '../cluster/status.js';
import type { Account } from '../host/host.js';
import type { RecordUpdate } from '../host/record.js';
import { caFingerprint, ensurePki } from '../pki/index.js';
import { installRelease, installedVersion } from '../release/index.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { readCheckedBundle, writeBundleFiles } from './bundle.js';
import { renderEtcdctlEnv, renderEtcdctlWrapper } from '../service/render.js';

/** With a service user: the certs dir root:<user> 0710, its server and peer keys root:<user> 0640 (grantServiceUser). */
export const SERVICE_CERTS_DIR_MODE = 0o710;
export const SERVICE_KEY_MODE = 0o640;

/** A new random cluster token: a cluster rebuilt from the same names and addresses never gets an earlier one's IDs. */
export function newClusterToken(): string {
  return `etcd-${randomBytes(8).toString('hex')}`;
}

/**
 * Write facts into the host record; when there is none yet (a phase run on its own), the first write records this
 * run (created by this command, not complete, a new cluster token) with the plan's settings.
 */
export async function recordFacts(ctx: PhaseContext, facts: Omit<RecordUpdate, 'settings'>): Promise<void> {
  const caPem = await ctx.host.read(ctx.plan.pki.files.ca.certPath).catch(() => undefined);
  const fp = caPem ? { caFingerprint: caFingerprint(caPem) } : {};
  if (ctx.record.exists) return ctx.record.update({ ...fp, ...facts, settings: ctx.plan.settings, memberName: ctx.plan.member.name });
  await ctx.record.update({
    createdBy: ctx.command === 'join' ? 'join' : 'init',
    complete: false,
    clusterToken: clusterToken(ctx),
    ...fp,
    ...facts,
    memberName: ctx.plan.member.name,
    settings: ctx.plan.settings,
  });
}

/**
 * The cluster token of this run: the one given (init --cluster-token: a cluster bootstrapped together shares it),
 * else the record's (written first by preflight), else a new one.
 */
export function clusterToken(ctx: PhaseContext): string {
  const given = (ctx.options as { clusterToken?: unknown } | undefined)?.clusterToken;
  return typeof given === 'string' ? given : (ctx.record.facts?.clusterToken ?? newClusterToken());
}

/**
 * With a non-root service user (systemd only): create it if missing, and give it what etcd must read or write, and
 * nothing more. The data and WAL dirs are its own. Every file of the certs dir stays root's, and so does the dir —
 * the service user could otherwise replace ca.key, ca.crt or a client pair (and a forged CA would end up in the
 * bundles made on this host): the dir is root:<user> 0710 (it may enter, not list or write), its server and peer
 * keys root:<user> 0640 (it may read them); the certificates are 0644 as always; the CA key and the client keys stay
 * root's 0600.
 */
export async function grantServiceUser(ctx: PhaseContext, what: 'certificates' | 'data'): Promise<Account | undefined> {
  const { plan, host, log } = ctx;
  if (plan.service.user === 'root' || plan.service.initSystem !== 'systemd') return undefined;
  const who = await host.ensureServiceUser(plan.service.user, plan.member.dataDir, log);
  if (what === 'certificates') {
    const f = plan.pki.files;
    const group = { name: `root:${who.name}`, uid: 0, gid: who.gid };
    for (const [p, mode] of [[plan.pki.certsDir, SERVICE_CERTS_DIR_MODE], [f.server.keyPath, SERVICE_KEY_MODE], [f.peer.keyPath, SERVICE_KEY_MODE]] as const) {
      const st = await host.stat(p);
      if (!st) continue;
      if (st.uid !== 0 || st.gid !== who.gid) await host.chown(p, group);
      if (st.mode !== mode) await host.chmod(p, mode);
    }
    for (const p of [f.ca.certPath, f.server.certPath, f.peer.certPath]) {
      const st = await host.stat(p);
      if (st && st.uid !== 0) await host.chown(p, { name: 'root', uid: 0, gid: 0 });
    }
  } else {
    await host.chownTree(plan.member.dataDir, who);
    if (plan.member.walDir) await host.chownTree(plan.member.walDir, who);
  }
  log.debug(`${what === 'certificates' ? 'certificates' : 'data dir'} owned by ${who.name}`);
  return who;
}

/** Create the data dir (and WAL dir) with mode 0700, as etcd insists; the ones it creates are recorded as etcdadm's. */
export async function ensureDataDirs(ctx: PhaseContext): Promise<void> {
  const { plan, host } = ctx;
  const created: string[] = [];
  for (const path of [plan.member.dataDir, ...(plan.member.walDir ? [plan.member.walDir] : [])]) {
    if (await host.mkdir(path, 0o700)) created.push(path);
    const st = await host.stat(path);
    if (st?.kind !== 'dir') throw new EtcdadmError(`${path} exists but is not a directory`, { hint: 'choose another data dir' });
  }
  if (created.length) await recordFacts(ctx, { addCreatedDirs: created });
  await grantServiceUser(ctx, 'data');
}

/** Whether the data dir holds an etcd member (its `member` subdirectory exists). */
export async function dataDirHasMember(ctx: PhaseContext): Promise<boolean> {
  return (await ctx.host.stat(join(ctx.plan.member.dataDir, 'member')))?.kind === 'dir';
}

// ------------------------------------------------------------------ install

export const installPhase: Phase = phase<string | undefined, 'install' | 'keep'>({
  name: 'install',
  short: 'Download etcd, verify its SHA-256 and install it',
  long: "Downloads the etcd release archive (or takes it from the cache), verifies it against the release's SHA256SUMS, and installs etcd, etcdctl and etcdutl into --install-dir.",
  observe: (ctx) => installedVersion(ctx.host, ctx.plan.install.binaries.etcd),
  decide: (plan, have) => (have === plan.release.version ? 'keep' : 'install'),
  async dryRun(ctx, decision) {
    const { plan } = ctx;
    if (decision === 'keep') return [`nothing: etcd v${plan.release.version} is installed in ${plan.release.installDir}`];
    await ctx.download(plan.release, ctx.log);
    return [`install etcd v${plan.release.version} into ${plan.release.installDir}/etcd-v${plan.release.version} (its etcd --version checked) and point ${plan.release.installDir}/etcd, etcdctl and etcdutl at it`];
  },
  async act(ctx, decision) {
    const { plan, log } = ctx;
    const dir = plan.release.installDir;
    if (decision === 'keep') {
      log.info(`etcd v${plan.release.version} is already installed in ${dir}`);
      return;
    }
    const dl = await ctx.download(plan.release, log);
    await installRelease(ctx.host, plan.release, dl.extractedDir, log);
  },
});

// ------------------------------------------------------------------ certificates

export function certificatesPhase(allowCreateCA: boolean): Phase<{ certsBundle?: string }> {
  return phase<undefined, undefined, { certsBundle?: string }>({
    name: 'certificates',
    short: allowCreateCA ? "Generate the CA (unless present) and this member's certificates" : "Generate this member's certificates from the cluster CA",
    long: allowCreateCA
      ? 'Reuses ca.crt/ca.key in --certs-dir when present, else creates a CA; then generates server, peer, etcdctl-etcd-client and apiserver-etcd-client certificates. Valid certificates that already cover the wanted names are kept.'
      : "Uses the cluster CA (ca.crt and ca.key copied from an existing member into --certs-dir) to generate this member's server, peer and client certificates.",
    async act(ctx) {
      const { plan, host, log } = ctx;
      const dir = plan.pki.certsDir;
      const dirExisted = await host.exists(dir);
      const bundle = ctx.options.certsBundle;
      if (bundle) {
        // join --certs-bundle: the bundle's certificates as they are (preflight checked them); no CA key here
        await writeBundleFiles(ctx, await readCheckedBundle(ctx, bundle));
        log.info(`Wrote the certificates of ${bundle} into ${dir} (ca.crt without ca.key: this host cannot sign)`);
      } else await ensurePki(host, pkiSpecOf(plan), log, { allowCreate: allowCreateCA });
      if (!dirExisted) await recordFacts(ctx, { addCreatedDirs: [dir] });
      await grantServiceUser(ctx, 'certificates');
    },
  });
}

// ------------------------------------------------------------------ start, etcdctl

export const startPhase: Phase = phase<boolean, 'start' | 'running'>({
  name: 'start',
  short: 'Start etcd through the init system',
  observe: (ctx) => ctx.init.isActive(ctx.plan),
  decide: (_plan, active) => (active ? 'running' : 'start'),
  async act(ctx, decision) {
    const { plan, log } = ctx;
    const kubelet = plan.service.initSystem === 'kubelet';
    if (decision === 'running' && !kubelet) {
      log.info(`${plan.service.unitName} is already active`);
      return;
    }
    log.info(kubelet ? `Writing the static Pod manifest ${plan.service.podManifestFile}; the kubelet starts etcd from it` : `Starting ${plan.service.unitName}`);
    await ctx.init.start(plan);
  },
});

export const etcdctlPhase: Phase = phase<undefined, undefined>({
  name: 'etcdctl',
  short: 'Install etcdctl.env and the etcdctl.sh wrapper',
  async act(ctx) {
    const { plan, host, log } = ctx;
    await host.write(plan.files.etcdctlEnvFile, renderEtcdctlEnv(plan), { mode: 0o644 });
    await host.write(plan.install.etcdctlWrapper, renderEtcdctlWrapper(plan), { mode: 0o755 });
    log.info(`Wrote ${plan.files.etcdctlEnvFile} and ${plan.install.etcdctlWrapper}; run '${plan.install.etcdctlWrapper} endpoint health' to use etcdctl`);
  },
});

/** How the health waits watch etcd: the init system says when it exited, and where its log is. */
export function waitOptions(ctx: PhaseContext, plan: Plan = ctx.plan) {
  return { timeoutMs: plan.healthTimeoutMs, down: () => ctx.init.down(plan), logHint: ctx.init.logHint(plan) };
}

/** This host's member in the status: by recorded ID, else by name. */
export function selfIn(members: readonly MemberStatus[], id: string | undefined, name: string): MemberStatus | undefined {
  return members.find((m) => id !== undefined && m.id === id) ?? members.find((m) => m.name === name);
}

/** When this host's member leads, leadership moves to another healthy voting member first (before a restart). */
export async function handOverLeadership(ctx: PhaseContext): Promise<void> {
  const h = await ctx.cluster();
  const st = await h.status({ refresh: true });
  const self = selfIn(st.members, ctx.record.facts?.memberId, ctx.plan.member.name);
  if (!self || self.role !== 'leader') {
    ctx.log.info(`${self?.name ?? ctx.plan.member.name} is not the leader: nothing to move`);
    return;
  }
  const list = await h.members({ refresh: true });
  const leader = list.members.find((m) => m.idHex === self.id);
  if (leader && st.voters > 1) await moveLeadership(h, st, list.members, leader, ctx.log);
}

export const leadershipPhase: Phase = phase<undefined, undefined>({
  name: 'leadership',
  short: 'Move leadership to another healthy voting member when this member leads',
  act: (ctx) => handOverLeadership(ctx),
});
