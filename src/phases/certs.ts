/**
 * `etcdadm certs renew` as a phase list on the runner:
 *
 *   preflight     every check before anything is written: the certs dir, ca.crt and ca.key (a host whose
 *                 certificates came in a bundle is told where to renew), the key matching, ca.crt the CA of every
 *                 leaf, --validity positive and within the CA's life; with --if-due, which leaves are due at all
 *   certificates  new keys and certificates (same subject, SANs, usages) made in memory, then written atomically,
 *                 key before certificate; a failed run puts the old files back
 *   reload        what etcd needs to present them (src/cluster/cert-reload.ts): nothing when it serves and already
 *                 presents the new files to new connections (every measured version does); a restart when it is down
 *                 or does not serve (expired certificates); leadership handed over, then a restart, otherwise
 *   verify        a new TLS connection to the peer and the client port presents the certificates on disk, and the
 *                 member answers a quorum read; when no other member is healthy either (a cluster whose
 *                 certificates all expired), the run ends with what to do on the other members
 *
 * The local member is probed with this host's etcdctl client certificate, or — when that one has expired and is
 * not renewed — with a short-lived one signed in memory by the CA (never written).
 */
import { X509Certificate } from 'node:crypto';
import { ClusterHandle } from '../cluster/handle.js';
import { reloadAfterRenewal, type ReloadAction } from '../cluster/cert-reload.js';
import { pkiSpecOf } from '../config/plan/pki.js';
import type { EtcdTls } from '../etcd/client.js';
import { peerMembers, servedCertificate } from '../etcd/tls-probe.js';
import { EtcdadmError, describe } from '../errors.js';
import { certificateInfo, issueCertificate, leafRequests } from '../pki/index.js';
import { checkRenewal, checkValidity, dueLeaves, loadRenewingCA, prepareRenewal, type RenewalInput } from '../pki/renew.js';
import { BUNDLE_MODE, makeBundle, renderBundle } from '../pki/bundle.js';
import { readCheckedBundle, writeBundleFiles } from './bundle.js';
import { basename } from 'node:path';
import { KEY_MODE, CERT_MODE, type LeafName } from '../pki/store.js';
import type { LeafRequest } from '../pki/types.js';
import { installedVersion } from '../release/index.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { sleep } from '../util/retry.js';
import { grantServiceUser, handOverLeadership, recordFacts, waitOptions } from './shared.js';
import { PATHS } from '../config/defaults.js';
import type { CertRenewalRecord } from '../host/record.js';
import { renderOneshotService, renderTimer } from '../service/render.js';
import { enableTimer, removeTimer, timerInstalled, timersOf, type TimerUnits } from './timer.js';
import { waitQuorumRead } from '../cluster/health.js';

/** certs renew's own options: which leaves, --validity as given, and --if-due (only those due for renewal). */
export interface CertsRenewOptions {
  names: LeafName[];
  validity?: string;
  ifDue: boolean;
}

/** certs bundle's own options: the member it is for (its certificates' requests resolved as its own plan would) and where it goes. */
export interface CertsBundleOptions {
  member: { name: string; address: string };
  requests: Record<LeafName, LeafRequest>;
  output: string;
  validity?: string;
}

/** certs import's own option: the bundle file. */
export interface CertsImportOptions {
  certsBundle: string;
}

function certsOptions(ctx: PhaseContext<CertsRenewOptions>): CertsRenewOptions {
  return ctx.options;
}

/** What a host without ca.key is told: its certificates are made on a CA host and imported here. */
export function bundleHint(ctx: PhaseContext): string {
  const { plan } = ctx;
  return `renew on a host that holds the CA: there run 'etcdadm certs bundle --name ${plan.member.name} --address ${plan.member.advertiseAddress} --output ${plan.member.name}.bundle', copy the file here and run 'etcdadm certs import ${plan.member.name}.bundle'`;
}

function renewalInput(ctx: PhaseContext<CertsRenewOptions>, names: readonly LeafName[]): RenewalInput {
  const { plan } = ctx;
  const o = certsOptions(ctx);
  return {
    host: ctx.host,
    certsDir: plan.pki.certsDir,
    names,
    ...(o.validity !== undefined ? { validity: o.validity } : {}),
    defaultDays: plan.pki.certValidityDays,
    keyAlgorithm: plan.pki.keyAlgorithm,
    requests: leafRequests(pkiSpecOf(plan)),
    noCaKeyHint: bundleHint(ctx),
  };
}

/** The leaves this run renews: the named ones, or with --if-due those of them that are due. */
async function namesToRenew(ctx: PhaseContext<CertsRenewOptions>): Promise<LeafName[]> {
  const o = certsOptions(ctx);
  const checked = await checkRenewal(renewalInput(ctx, o.names));
  return o.ifDue ? dueLeaves(checked, o.names, ctx.plan.pki.renewBeforeDays) : [...o.names];
}

const preflight: Phase<CertsRenewOptions> = phase<LeafName[], LeafName[], CertsRenewOptions>({
  name: 'preflight',
  short: 'Check the certs dir, ca.key against ca.crt, ca.crt against every leaf and --validity; nothing is written before',
  observe: namesToRenew,
  async act(ctx, names) {
    const o = certsOptions(ctx);
    if (names.length === 0)
      return { done: `no certificate of ${o.names.join(', ')} expires within ${ctx.plan.pki.renewBeforeDays} days: nothing to renew` };
    ctx.log.info(`Renewing ${names.join(', ')} in ${ctx.plan.pki.certsDir}`);
  },
});

const certificates: Phase<CertsRenewOptions> = phase<LeafName[], LeafName[], CertsRenewOptions>({
  name: 'certificates',
  short: 'Make new keys and certificates (same subject, SANs and usages) signed by the CA; write each atomically, key first',
  observe: namesToRenew,
  async act(ctx, names) {
    const { host, log } = ctx;
    const renewal = await prepareRenewal(renewalInput(ctx, names));
    for (const l of renewal.leaves) {
      await host.write(l.paths.keyPath, l.keyPem, { mode: KEY_MODE });
      await host.write(l.paths.certPath, l.certPem, { mode: CERT_MODE });
      const was = l.before ? `serial ${l.before.serial} (until ${l.before.notAfter.toISOString()})` : 'missing';
      log.info(`Renewed the ${l.name} certificate and key: ${was} → serial ${l.serial}, valid until ${l.notAfter.toISOString()}`);
    }
    await grantServiceUser(ctx, 'certificates');
  },
});

/** This host's etcdctl client pair when it is valid now, else a 10-minute one signed in memory by the CA. */
async function probeIdentity(ctx: PhaseContext): Promise<EtcdTls> {
  const f = ctx.plan.pki.files;
  const [ca, cert, key] = await Promise.all([f.ca.certPath, f['etcdctl-etcd-client'].certPath, f['etcdctl-etcd-client'].keyPath].map((p) => ctx.host.read(p)));
  if (!ca) throw new EtcdadmError(`there is no CA certificate ${f.ca.certPath}`);
  const now = Date.now();
  let valid = false;
  try {
    const c = new X509Certificate(cert ?? '');
    valid = !!key && new Date(c.validFrom).getTime() <= now && new Date(c.validTo).getTime() > now;
  } catch {
    valid = false;
  }
  if (valid) return { ca, cert: cert!, key: key!, caFile: f.ca.certPath, certFile: f['etcdctl-etcd-client'].certPath };
  const signer = await loadRenewingCA(ctx.host, ctx.plan.pki.certsDir, bundleHint(ctx), new Date());
  const issued = await issueCertificate(signer, leafRequests(pkiSpecOf(ctx.plan))['etcdctl-etcd-client'], { keyAlgorithm: 'ecdsa-p256', validityDays: 10 / (24 * 60) });
  ctx.log.debug('the etcdctl client certificate is not valid now: probing with a short-lived one made in memory');
  return { ca, cert: issued.certPem, key: issued.keyPem, caFile: f.ca.certPath };
}

async function withProbe<T>(ctx: PhaseContext, endpoints: string[], fn: (h: ClusterHandle) => Promise<T>): Promise<T> {
  const h = ClusterHandle.open({ endpoints, tls: await probeIdentity(ctx), log: ctx.log, timings: ctx.timings, requestTimeoutMs: 2000, dialTimeoutMs: 2000 });
  try {
    return await fn(h);
  } finally {
    h.close();
  }
}

/** The serial of the certificate file `name` on disk. */
async function fileSerial(ctx: PhaseContext, name: LeafName): Promise<string | undefined> {
  const pem = await ctx.host.read(ctx.plan.pki.files[name].certPath);
  try {
    return pem ? normalSerial(certificateInfo(pem).serialHex) : undefined;
  } catch {
    return undefined;
  }
}

const normalSerial = (s: string | undefined) => s?.toUpperCase().replace(/^0+(?=.)/, '');

interface Presented {
  client?: string;
  peer?: string;
}

/** The serials the member's client and peer ports present to a new connection (undefined: no handshake). */
async function presented(ctx: PhaseContext, tls: EtcdTls): Promise<Presented> {
  const { urls } = ctx.plan.member;
  const [client, peer] = await Promise.all([
    servedCertificate(urls.localClient, tls, 2000).then((c) => c.serial, () => undefined),
    servedCertificate(urls.advertisePeer[0] ?? urls.listenPeer[0]!, tls, 2000).then((c) => c.serial, () => undefined),
  ]);
  return { ...(client ? { client: normalSerial(client)! } : {}), ...(peer ? { peer: normalSerial(peer)! } : {}) };
}

interface ReloadWorldSeen {
  version: string | undefined;
  active: boolean;
  serving: boolean;
  stale: LeafName[];
}

const reload: Phase = phase<ReloadWorldSeen, ReloadAction>({
  name: 'reload',
  short: 'Nothing when etcd already presents the new certificates; else a restart (leadership handed over first when it serves)',
  long: 'Every measured etcd (3.4 to 3.7) reads its server and peer certificate files at each new TLS connection, so a serving member needs no restart. A member that is down or does not serve (expired certificates) is restarted; a serving one that still presents the old files hands leadership over, then restarts.',
  async observe(ctx) {
    const { plan } = ctx;
    const [version, active] = await Promise.all([installedVersion(ctx.host, plan.install.binaries.etcd), ctx.init.isActive(plan)]);
    const tls = await probeIdentity(ctx);
    const serving = active && (await withProbe(ctx, [plan.member.urls.localClient], (h) => h.client.status(plan.member.urls.localClient).then(() => true, () => false)));
    const seen = active ? await presented(ctx, tls) : {};
    const stale: LeafName[] = [];
    if (normalSerial(seen.client) !== (await fileSerial(ctx, 'server'))) stale.push('server');
    if (normalSerial(seen.peer) !== (await fileSerial(ctx, 'peer'))) stale.push('peer');
    return { version, active, serving, stale };
  },
  decide: (_plan, w) => reloadAfterRenewal(w),
  async act(ctx, d) {
    const { plan, log } = ctx;
    if (d.kind === 'none') {
      log.info(`No restart: ${d.why}`);
      return;
    }
    log.info(d.why);
    if (d.kind === 'graceful-restart') await handOverLeadership(ctx);
    log.info(`Restarting ${plan.service.unitName}`);
    if (await ctx.init.isActive(plan)) await ctx.init.restart(plan);
    else await ctx.init.start(plan);
  },
});

/** Whether the other members (as the record last saw them) answer a quorum read: 'none' when there are none. */
async function othersHealth(ctx: PhaseContext): Promise<'none' | 'healthy' | 'unhealthy'> {
  const { urls } = ctx.plan.member;
  const own = new Set([urls.localClient, ...urls.advertiseClient]);
  // the record's view may be old (init records only itself): the peer port knows the members without a quorum
  const tls = await probeIdentity(ctx);
  const known = await peerMembers(urls.advertisePeer[0] ?? urls.listenPeer[0]!, tls).catch(() => []);
  const others = [...new Set([...(ctx.record.facts?.clusterEndpoints ?? []), ...known.flatMap((m) => m.clientURLs)])].filter((u) => !own.has(u));
  if (others.length === 0) return 'none';
  const results = await withProbe(ctx, others, (h) => Promise.all(others.map((u) => h.client.healthCheck(u).then((r) => r.healthy, () => false))));
  return results.some(Boolean) ? 'healthy' : 'unhealthy';
}

export const verify: Phase = phase<undefined, undefined>({
  name: 'verify',
  short: 'A new TLS connection to the peer and client ports presents the renewed certificates; the member answers a quorum read',
  dryRun: (ctx) => [`check that new TLS connections to the peer and client ports of ${ctx.plan.member.name} present the certificates on disk, and wait for a quorum read`],
  async act(ctx) {
    const { plan, log } = ctx;
    const tls = await probeIdentity(ctx);
    const want = { client: await fileSerial(ctx, 'server'), peer: await fileSerial(ctx, 'peer') };
    const deadline = Date.now() + plan.healthTimeoutMs;
    // the peer port serves before the member has joined its cluster: it shows the new certificate first
    let seen: Presented = {};
    for (;;) {
      seen = await presented(ctx, tls);
      if (seen.peer === want.peer) break;
      const down = await ctx.init.down(plan);
      if (down) throw new EtcdadmError(`etcd is not running after the renewal: ${down}`, { hint: ctx.init.logHint(plan) });
      if (Date.now() > deadline)
        throw new EtcdadmError(`the peer port of ${plan.member.name} presents serial ${seen.peer ?? '(no handshake)'}, not the renewed ${want.peer}`, { hint: ctx.init.logHint(plan) });
      await sleep(200);
    }
    log.info(`The peer port presents the peer certificate on disk (serial ${want.peer})`);
    // a cluster whose members all had expired certificates gets its quorum back only once enough of them renewed
    const alone = (await othersHealth(ctx)) === 'unhealthy';
    const wait = waitOptions(ctx);
    try {
      await withProbe(ctx, [plan.member.urls.localClient], (h) => waitQuorumRead(h, plan.member.urls.localClient, { ...wait, timeoutMs: alone ? Math.min(wait.timeoutMs, 15_000) : wait.timeoutMs }));
    } catch (err) {
      if (!alone) throw err;
      log.warn(`Member ${plan.member.name} runs with its renewed certificates, but the cluster has no quorum yet (${describe(err)}): run 'etcdadm certs renew all' on the other members; the cluster is healthy again once a quorum of them has renewed`);
      return;
    }
    seen = await presented(ctx, tls);
    if (seen.client !== want.client)
      throw new EtcdadmError(`the client port of ${plan.member.name} presents serial ${seen.client ?? '(no handshake)'}, not the renewed ${want.client}`, { hint: ctx.init.logHint(plan) });
    log.info(`Member ${plan.member.name} is healthy; its client port presents the server certificate on disk (serial ${want.client})`);
  },
});

export const CERTS_RENEW_PHASES: readonly Phase<CertsRenewOptions>[] = [preflight, certificates, reload, verify];


// ------------------------------------------------------------------ the daily renewal timer

export const CERT_RENEW_UNITS: TimerUnits = {
  service: 'etcdadm-certs-renew.service',
  timer: 'etcdadm-certs-renew.timer',
  serviceFile: `${PATHS.unitDir}/etcdadm-certs-renew.service`,
  timerFile: `${PATHS.unitDir}/etcdadm-certs-renew.timer`,
};

/** Daily at midnight UTC, each host at its own fixed offset within the hour (so members do not restart together). */
export const RENEW_ON_CALENDAR = '*-*-* 00:00:00 UTC';
export const RENEW_RANDOMIZED_DELAY_SEC = 3600;
/** What the service runs after the etcdadm command line. */
export const RENEW_ARGS = ['certs', 'renew', 'all', '--if-due'] as const;

/** The unit files of the renewal timer (pure). */
export function certRenewUnitFiles(command: readonly string[], renewBeforeDays: number, etcdUnit?: string): { path: string; text: string }[] {
  return [
    {
      path: CERT_RENEW_UNITS.serviceFile,
      text: renderOneshotService({ description: `Renew the etcd certificates that expire within ${renewBeforeDays} days (managed by etcdadm)`, argv: [...command, ...RENEW_ARGS], ...(etcdUnit ? { etcdUnit } : {}) }),
    },
    {
      path: CERT_RENEW_UNITS.timerFile,
      text: renderTimer({ description: 'Daily renewal of the etcd certificates that are due (managed by etcdadm)', onCalendar: RENEW_ON_CALENDAR, randomizedDelaySec: RENEW_RANDOMIZED_DELAY_SEC, serviceUnit: CERT_RENEW_UNITS.service }),
    },
  ];
}

/** The record entry; an unchanged one keeps its installedAt. Pure. */
export function certRenewalRecord(command: string[], prev: CertRenewalRecord | undefined, now: Date): CertRenewalRecord {
  const next = { onCalendar: RENEW_ON_CALENDAR, randomizedDelaySec: RENEW_RANDOMIZED_DELAY_SEC, command };
  const same = prev && JSON.stringify({ ...prev, installedAt: '' }) === JSON.stringify({ ...next, installedAt: '' });
  return { ...next, installedAt: same ? prev.installedAt : now.toISOString() };
}

/** init/join preflight and --schedule: the timer needs systemd, and renewal needs the CA key on this host. */
export async function checkRenewalTimer(ctx: PhaseContext, why: string): Promise<void> {
  if (!(await timersOf(ctx).available()))
    throw new EtcdadmError(`${why}, but systemd does not run this host: the renewal is a systemd timer`, { hint: "run 'etcdadm certs renew all --if-due' daily another way (cron), or leave pki.autoRenew off", exitCode: 2 });
}

const schedulePreflight: Phase = phase<undefined, undefined>({
  name: 'preflight',
  short: 'Check that systemd runs this host, that it has a member set up by etcdadm and that it holds the CA key',
  async act(ctx) {
    if (!ctx.record.exists)
      throw new EtcdadmError(`this host has no etcd member set up by etcdadm (no ${ctx.record.path})`, { hint: 'run etcdadm init or join first' });
    await checkRenewalTimer(ctx, 'certs renew --schedule');
    await loadRenewingCA(ctx.host, ctx.plan.pki.certsDir, bundleHint(ctx), new Date());
  },
});

/** Write the units, enable the timer, record it (also init's and join's with pki.autoRenew). */
async function installRenewalTimer(ctx: PhaseContext): Promise<void> {
  const command = await ctx.host.etcdadmCommand();
  const etcdUnit = ctx.plan.service.initSystem === 'systemd' ? ctx.plan.service.unitName : undefined;
  await timersOf(ctx).install(certRenewUnitFiles(command, ctx.plan.pki.renewBeforeDays, etcdUnit));
  ctx.log.info(`Wrote ${CERT_RENEW_UNITS.serviceFile} (${RENEW_ARGS.join(' ')}) and ${CERT_RENEW_UNITS.timerFile} (OnCalendar=${RENEW_ON_CALENDAR}, RandomizedDelaySec=${RENEW_RANDOMIZED_DELAY_SEC})`);
  await enableTimer(ctx, CERT_RENEW_UNITS);
  const certRenewal = certRenewalRecord(command, ctx.record.facts?.certRenewal, new Date());
  await ctx.record.update({ certRenewal, settings: { ...ctx.plan.settings, pki: { ...ctx.plan.settings.pki, autoRenew: true } } });
  ctx.log.info(`Every day the certificates that expire within ${ctx.plan.pki.renewBeforeDays} days are renewed; see 'systemctl list-timers ${CERT_RENEW_UNITS.timer}'`);
}

const scheduleInstall: Phase = phase<undefined, undefined>({
  name: 'timer',
  short: `Write ${CERT_RENEW_UNITS.service} (oneshot: ${RENEW_ARGS.join(' ')}) and ${CERT_RENEW_UNITS.timer} (daily), enable it, record it`,
  act: installRenewalTimer,
});

export const CERTS_SCHEDULE_PHASES: readonly Phase[] = [schedulePreflight, scheduleInstall];

/** Stop, disable and remove the renewal timer and its service; idempotent. Also reset's. */
export function removeRenewalTimer(ctx: PhaseContext): Promise<string[]> {
  return removeTimer(ctx, CERT_RENEW_UNITS);
}

const unscheduleRemove: Phase = phase<undefined, undefined>({
  name: 'timer',
  short: `Stop, disable and remove ${CERT_RENEW_UNITS.timer} and its service; remove it from the record`,
  async act(ctx) {
    if (!(await timerInstalled(ctx, CERT_RENEW_UNITS))) ctx.log.info('No renewal timer is installed here');
    for (const f of await removeRenewalTimer(ctx)) ctx.log.info(`Removed ${f}`);
    if (ctx.record.exists && (ctx.record.facts?.certRenewal || ctx.plan.settings.pki.autoRenew))
      await ctx.record.update({ endCertRenewal: true, settings: { ...ctx.plan.settings, pki: { ...ctx.plan.settings.pki, autoRenew: false } } });
  },
});

export const CERTS_UNSCHEDULE_PHASES: readonly Phase[] = [unscheduleRemove];

/** init and join: with pki.autoRenew in the configuration, the timer is installed as --schedule installs it. */
export const renewalTimerPhase: Phase = phase<undefined, undefined>({
  name: 'cert-renewal',
  short: 'Install the daily certificate renewal timer the configuration asks for (pki.autoRenew), as certs renew --schedule does',
  runIf: (ctx) => (ctx.plan.settings.pki.autoRenew ? true : 'pki.autoRenew is off'),
  act: installRenewalTimer,
});

// ------------------------------------------------------------------ bundles: certs bundle (CA host), certs import

function bundleOptions(ctx: PhaseContext<CertsBundleOptions>) {
  const b = ctx.options;
  if (!b) throw new EtcdadmError('certs bundle: no member given', { exitCode: 2 });
  return b;
}

const bundlePreflight: Phase<CertsBundleOptions> = phase<undefined, undefined, CertsBundleOptions>({
  name: 'preflight',
  short: 'Check that this host holds the CA (ca.key matching ca.crt) and that --validity ends before the CA does',
  async act(ctx) {
    const b = bundleOptions(ctx);
    const ca = await loadRenewingCA(ctx.host, ctx.plan.pki.certsDir, `make the bundle on a host that holds ca.key (a member set up by etcdadm init, or one the CA was copied to)`, new Date());
    const v = checkValidity(b.validity, ctx.plan.pki.certValidityDays, ca.facts.notAfter, new Date());
    if ('problem' in v) throw new EtcdadmError(v.problem, { hint: 'pass a shorter --validity, or rotate the CA first', exitCode: 2 });
  },
});

const bundleWrite: Phase<CertsBundleOptions> = phase<undefined, undefined, CertsBundleOptions>({
  name: 'bundle',
  short: "Sign the member's server, peer and client certificates with the CA; write them with ca.crt (never ca.key), 0600",
  async act(ctx) {
    const b = bundleOptions(ctx);
    const now = new Date();
    const ca = await loadRenewingCA(ctx.host, ctx.plan.pki.certsDir, undefined, now);
    const v = checkValidity(b.validity, ctx.plan.pki.certValidityDays, ca.facts.notAfter, now) as { ms: number };
    const bundle = await makeBundle(ca, b.member, b.requests, { keyAlgorithm: ctx.plan.pki.keyAlgorithm, validityDays: v.ms / 86_400_000, now });
    const text = renderBundle(bundle);
    if (b.output === '-') ctx.out(text.trimEnd());
    else {
      await ctx.host.write(b.output, text, { mode: BUNDLE_MODE });
      ctx.log.info(`Wrote ${b.output} (0600) for member ${b.member.name} (${b.member.address}): server, peer and client certificates with ca.crt, no ca.key`);
    }
    ctx.log.info(`On ${b.member.name}: etcdadm join --certs-bundle ${b.output === '-' ? 'FILE' : basename(b.output)} https://<member>:2379 (or, on a member, etcdadm certs import ${b.output === '-' ? 'FILE' : basename(b.output)}); then delete the file`);
  },
});

export const CERTS_BUNDLE_PHASES: readonly Phase<CertsBundleOptions>[] = [bundlePreflight, bundleWrite];

function importPath(ctx: PhaseContext<CertsImportOptions>): string {
  const p = ctx.options.certsBundle;
  if (!p) throw new EtcdadmError('certs import: no bundle given', { exitCode: 2 });
  return p;
}

const importPreflight: Phase<CertsImportOptions> = phase<undefined, undefined, CertsImportOptions>({
  name: 'preflight',
  short: "Check the bundle: made for this member (name and address), this cluster's CA, keys matching, certificates valid",
  async act(ctx) {
    if (!ctx.record.exists)
      throw new EtcdadmError(`this host has no etcd member set up by etcdadm (no ${ctx.record.path})`, { hint: 'a new host uses its bundle with etcdadm join --certs-bundle FILE', exitCode: 2 });
    await readCheckedBundle(ctx, importPath(ctx));
  },
});

const importWrite: Phase<CertsImportOptions> = phase<undefined, undefined, CertsImportOptions>({
  name: 'certificates',
  short: "Write the bundle's keys and certificates into the certs dir, atomically, each key before its certificate",
  async act(ctx) {
    const bundle = await readCheckedBundle(ctx, importPath(ctx));
    for (const f of await writeBundleFiles(ctx, bundle)) ctx.log.info(`Wrote ${f}`);
    await grantServiceUser(ctx, 'certificates');
    await recordFacts(ctx, {});
  },
});

export const CERTS_IMPORT_PHASES: readonly Phase<CertsImportOptions>[] = [importPreflight, importWrite, reload, verify];
