/**
 * `etcdadm apply -f cluster.yaml`: make the hosts of a Cluster document match it, from the operator's machine over
 * SSH. Steps, each logged `[step] host: …`:
 *
 * - connect: one OpenSSH master connection per host, all at once (host keys checked strictly; first contact with
 *   --accept-new-host-keys); the etcdadm executable put there when its SHA-256 differs (not in a dry run), then the
 *   SSH Host's agent started (src/host/ssh.ts);
 * - observe: every host read (hostname, host record, another tool's etcd) and the cluster's members through a host
 *   that has a record (`etcdadm status -o json` there) — the operator's machine keeps no state;
 * - plan: cluster/converge.ts decides; the plan is printed per host; a refusal stops here, before any change;
 *   `--dry-run` stops here too;
 * - act: the steps, one at a time: the bootstrap of bare hosts (src/apply/bootstrap.ts: the CA on the first holder,
 *   bundles for the others through the operator's memory, init on every host at once); a join (the host's
 *   certificates signed on a CA holder, then its own `etcdadm join`: learner first, promoted); a removal (`etcdadm
 *   reset` on the leaving host when it answers — it leaves through the quorum guard — else `member remove` from
 *   another member); a replacement is a removal then a join; a new version member by member (`upgrade apply`,
 *   snapshot first, the leader last); new settings member by member (`reconfigure --config`, the leader last);
 *   certificates due renewed (`certs renew`, or a bundle from a CA holder and `certs import`); timers armed or
 *   removed with their own commands. A rolling step reads the leader again before each member.
 *
 * Secrets: the CA key goes from one CA holder to another through this process's memory only, and a bundle (a host's
 * own keys) from the CA holder to its host the same way; nothing is written on the operator's disk but known_hosts.
 */
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { decideConverge, nextInRoll, type ClusterView, type HostView, type Step } from '../cluster/converge.js';
import type { ClusterHostSpec } from '../config/cluster.js';
import { CONFIG_API_VERSION, type ConfigDocument } from '../config/document.js';
import { DEFAULTS } from '../config/defaults.js';
import type { Plan } from '../config/types.js';
import { EtcdadmError, describe } from '../errors.js';
import { SshHost } from '../host/ssh.js';
import type { Logger } from '../log/logger.js';
import { closeAll, connectHost, executableOf, loadClusterFile, NotInstalled, REMOTE_ETCDADM, runRemote, type Connected, type ConnectOptions } from './connect.js';
import { bootstrapSteps, bundlePath, type BootstrapHost } from './bootstrap.js';
import { hostPlan, observeHost } from './observe.js';
import { compareVersions } from '../config/version.js';
import { distributeRelease } from './release.js';
import { testHold } from '../host/testhooks.js';

/** Where apply writes a host's configuration document (0600). */
export const HOST_CONFIG = '/etc/etcdadm/apply.yaml';
export { REMOTE_ETCDADM };

export interface ApplyOptions {
  file: string;
  dryRun: boolean;
  acceptNewHostKeys: boolean;
  /** The etcdadm executable to put on the hosts: this one when it is the single executable. */
  executable?: string;
  /** The operator's home directory (for `~/` in the document). */
  home: string;
  /** The operator's release cache (release.ts operatorCacheDir): the release is downloaded once, there. */
  cacheDir: string;
  log: Logger;
  /** Lines for standard output (the plan). */
  out: (line: string) => void;
}

function connectOptions(o: ApplyOptions, executable: string): ConnectOptions {
  return { acceptNewHostKeys: o.acceptNewHostKeys, log: o.log, install: { mode: o.dryRun ? 'dry-run' : 'copy', executable } };
}

/** The cluster the records name, through the first of their hosts whose `etcdadm status -o json` answers. */
async function clusterView(hosts: readonly Connected[], views: readonly HostView[]): Promise<ClusterView | undefined> {
  for (const c of hosts) {
    const view = views[c.spec.index];
    if (!(c.host instanceof SshHost) || !view?.record?.clusterId) continue;
    const r = await c.host.exec(REMOTE_ETCDADM, ['status', '-o', 'json'], { timeoutMs: 30_000 });
    if (r.code !== 0 && r.code !== 3) continue;
    const st = JSON.parse(r.stdout) as { clusterId: string; version: string | null; members: { id: string; name: string; peerURLs: string[]; isLearner: boolean; health: string }[] };
    return {
      clusterId: st.clusterId,
      version: st.version,
      members: st.members.map((m) => ({
        id: m.id,
        name: m.name,
        isLearner: m.isLearner,
        healthy: m.health === 'healthy',
        peerHosts: m.peerURLs.map((u) => new URL(u).hostname.replace(/^\[(.*)\]$/, '$1')),
      })),
    };
  }
  return undefined;
}


function stepLine(s: Step): string {
  switch (s.kind) {
    case 'bootstrap':
      return `bootstrap ${s.hosts.join(', ')} together on etcd ${s.version} — ${s.why}`;
    case 'remove':
      return `remove member ${s.member}${s.reset && s.host ? ` and reset ${s.host}` : ''} — ${s.why}`;
    case 'join':
      return `join ${s.host} (learner first) — ${s.why}`;
    case 'upgrade':
      return `rolling ${s.from} → ${s.to}, leader last — ${s.why}`;
    case 'reconfigure':
      return `new settings on ${s.hosts.join(', ')}, one at a time, leader last — ${s.why}`;
    case 'renew-certs':
      return `renew the certificates of ${s.host} — ${s.why}`;
    case 'timers':
      return `timers of ${s.host} — ${s.why}`;
  }
}

/** Run etcdadm `args` on a host, its log lines shown as they come under `[step] host:` (connect.ts). */
function remote(o: ApplyOptions, step: string, name: string, host: SshHost, args: string[]): Promise<string> {
  return runRemote(o.log, step, name, host, args);
}

/** This host's part of the Cluster document as its own configuration document (0600), its name among it. */
async function writeHostConfig(o: ApplyOptions, h: SshHost, spec: ClusterHostSpec, name: string, kind: 'InitConfiguration' | 'JoinConfiguration', extra: Record<string, unknown> = {}): Promise<void> {
  const values = { ...spec.settings, member: { ...spec.settings.member, name }, ...extra };
  await h.write(HOST_CONFIG, `# Written by etcdadm apply from ${o.file}: this host's part of the cluster.\n${stringify({ apiVersion: CONFIG_API_VERSION, kind, ...values })}`, { mode: 0o600, dirMode: 0o700 });
}

/** The CA's files from one CA holder to another, through this process's memory only. */
async function copyCA(from: { host: SshHost; plan: Plan; name: string }, to: { host: SshHost; plan: Plan; name: string }, log: Logger): Promise<void> {
  const [crt, key] = [await from.host.read(from.plan.pki.files.ca.certPath), await from.host.read(from.plan.pki.files.ca.keyPath)];
  if (!crt || !key) throw new EtcdadmError(`apply: ${from.name} holds no CA (${from.plan.pki.files.ca.keyPath})`, { hint: 'mark a host that holds ca.key as caHolder in the file' });
  await to.host.mkdir(to.plan.pki.certsDir, 0o700);
  await to.host.write(to.plan.pki.files.ca.certPath, crt, { mode: 0o644 });
  await to.host.write(to.plan.pki.files.ca.keyPath, key, { mode: 0o600 });
  log.info(`${to.name}: the CA copied from ${from.name} (a CA holder)`);
}

/** `etcdadm download` of a plan's release (its flags: download resolves no member, so not the host's document). */
function downloadArgs(plan: Plan): string[] {
  const r = plan.release;
  return ['download', '--version', r.version, '--release-url', r.releaseUrl, '--cache-dir', r.cacheDir, ...(r.insecureReleaseUrl ? ['--insecure-release-url'] : []), ...(r.skipHashCheck ? ['--skip-hash-check'] : [])];
}

async function bootstrap(o: ApplyOptions, doc: ConfigDocument, hosts: readonly Connected[], views: readonly HostView[]): Promise<void> {
  const byName = new Map<string, { c: Connected; plan: Plan }>();
  const members: BootstrapHost[] = [];
  for (const c of hosts) {
    const h = c.host as SshHost;
    const plan = await hostPlan(h, c.spec);
    const name = views[c.spec.index]!.name;
    byName.set(name, { c, plan });
    members.push({ name, peerURLs: [...plan.member.urls.advertisePeer], address: plan.member.advertiseAddress, caHolder: c.spec.caHolder, configPath: HOST_CONFIG });
    await writeHostConfig(o, h, c.spec, name, 'InitConfiguration');
  }
  // the release copied to the hosts while the CA holder makes the certificates (both before any init)
  // (each host verifies and extracts it with its own `download` at once: its init then finds it ready)
  const release = distributeRelease([...byName].map(([name, x]) => ({ name, host: x.c.host as SshHost, plan: x.plan })), o.cacheDir, o.log, (t) =>
    remote(o, 'release', t.name, t.host as SshHost, downloadArgs(t.plan)),
  );
  release.catch(() => undefined); // awaited below; a certificates failure first ends the run without it
  const token = `etcd-${randomBytes(8).toString('hex')}`;
  const steps = bootstrapSteps(members, token);
  const first = steps[0]!;
  const hostOf = (name: string) => byName.get(name)!.c.host as SshHost;
  await remote(o, 'certificates', first.host, hostOf(first.host), first.args);
  const holderPlan = byName.get(first.host)!.plan;
  for (const s of steps.filter((x) => x.kind === 'copy-ca')) {
    const dst = byName.get(s.host)!;
    await copyCA({ host: hostOf(first.host), plan: holderPlan, name: first.host }, { host: dst.c.host as SshHost, plan: dst.plan, name: s.host }, o.log.withPhase('certificates'));
  }
  for (const s of steps.filter((x) => x.kind === 'bundle')) {
    const text = await remote(o, 'certificates', s.host, hostOf(s.host), s.args);
    await hostOf(s.for!).write(s.bundlePath!, text, { mode: 0o600, dirMode: 0o700 });
    o.log.withPhase('certificates').info(`${s.for}: its certificates, signed on ${s.host} (no CA key)`);
  }
  await release;
  const inits = steps.filter((x) => x.kind === 'init');
  o.log.withPhase('bootstrap').info(`Starting ${inits.length} members together: ${inits.map((s) => s.host).join(', ')}`);
  const results = await Promise.allSettled(inits.map((s) => remote(o, 'bootstrap', s.host, hostOf(s.host), s.args)));
  for (const s of steps.filter((x) => x.kind === 'bundle')) await hostOf(s.for!).remove(s.bundlePath!).catch(() => false);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  void doc;
}

/** The members' client URLs, for a join. */
async function memberEndpoints(hosts: readonly Connected[], views: readonly HostView[]): Promise<string[]> {
  const cluster = await clusterView(hosts, views);
  const withRecord = hosts.filter((c) => views[c.spec.index]?.record && c.host instanceof SshHost);
  const urls: string[] = [];
  for (const c of withRecord) {
    const plan = await hostPlan(c.host as SshHost, c.spec);
    if (cluster?.members.some((m) => m.name === views[c.spec.index]!.name && m.healthy)) urls.push(...plan.member.urls.advertiseClient);
  }
  if (urls.length === 0) throw new EtcdadmError('apply: no member of the cluster answers to join through');
  return urls;
}

/** A member host of the file, other than `except`, that holds the CA key (to sign `forName`'s certificates). */
async function caHolder(hosts: readonly Connected[], views: readonly HostView[], except: Connected, forName: string): Promise<{ host: SshHost; plan: Plan; name: string }> {
  for (const c of hosts.filter((x) => x.spec.caHolder && x !== except && x.host instanceof SshHost && views[x.spec.index]?.record)) {
    const p = await hostPlan(c.host as SshHost, c.spec);
    if (await (c.host as SshHost).exists(p.pki.files.ca.keyPath)) return { host: c.host as SshHost, plan: p, name: views[c.spec.index]!.name };
  }
  throw new EtcdadmError(`apply: no host of the file holds the CA key to sign ${forName}'s certificates`, { hint: 'mark a member host that holds ca.key as caHolder in the file' });
}

/** A host's own certificates and keys, signed on a CA holder, written there 0600 (through this process's memory). */
async function sendBundle(o: ApplyOptions, step: string, holder: { host: SshHost; name: string }, to: SshHost, name: string, plan: Plan): Promise<string> {
  const text = await remote(o, step, holder.name, holder.host, ['certs', 'bundle', '--name', name, '--address', plan.member.advertiseAddress, '--validity', `${plan.pki.certValidityDays}d`, '--output', '-']);
  await to.write(bundlePath(name), text, { mode: 0o600, dirMode: 0o700 });
  o.log.withPhase(step).info(`${name}: its certificates, signed on ${holder.name} (no CA key)`);
  return bundlePath(name);
}

/**
 * A member's certificates due for renewal: renewed there when it holds the CA key (`certs renew all`), else a bundle
 * signed on a CA holder imported there (`certs import`, which checks it is this member's and this cluster's); valid
 * for the file's pki.certValidityDays either way.
 */
async function renewCertificates(o: ApplyOptions, name: string, hosts: readonly Connected[], views: readonly HostView[]): Promise<void> {
  const c = hosts.find((x) => views[x.spec.index]?.name === name)!;
  const h = c.host as SshHost;
  const plan = await hostPlan(h, c.spec);
  if (await h.exists(plan.pki.files.ca.keyPath)) {
    await remote(o, 'renew', name, h, ['certs', 'renew', 'all', '--validity', `${plan.pki.certValidityDays}d`]);
    return;
  }
  const file = await sendBundle(o, 'renew', await caHolder(hosts, views, c, name), h, name, plan);
  try {
    await remote(o, 'renew', name, h, ['certs', 'import', file]);
  } finally {
    await h.remove(file).catch(() => false);
  }
}

/** A host joins (learner first, promoted): its certificates from a CA holder (a bundle, or the CA itself for a holder). */
async function joinHost(o: ApplyOptions, name: string, hosts: readonly Connected[], views: readonly HostView[]): Promise<void> {
  const log = o.log.withPhase('join');
  const target = hosts.find((c) => views[c.spec.index]?.name === name)!;
  const th = target.host as SshHost;
  const plan = await hostPlan(th, target.spec);
  const endpoints = await memberEndpoints(hosts, views);
  const holder = await caHolder(hosts, views, target, name);
  // a member joins on the version the cluster runs (join refuses another); an upgrade in the same apply comes after
  const running = (await memberStates(o, hosts, views)).map((m) => m.version).filter((v): v is string => !!v).sort(compareVersions);
  const version = running.at(-1) ?? plan.release.version;
  await distributeRelease([{ name, host: th, plan: { ...plan, release: { ...plan.release, version } } }], o.cacheDir, o.log);
  await writeHostConfig(o, th, target.spec, name, 'JoinConfiguration', { etcd: { ...target.spec.settings.etcd, version }, join: { ...target.spec.settings.join, endpoints } });
  const args = ['join', '--config', HOST_CONFIG];
  if (target.spec.caHolder) await copyCA(holder, { host: th, plan, name }, log);
  else args.push('--certs-bundle', await sendBundle(o, 'join', holder, th, name, plan));
  try {
    await remote(o, 'join', name, th, args);
  } finally {
    if (!target.spec.caHolder) await th.remove(bundlePath(name)).catch(() => false);
  }
}

/** A member leaves: reset on its own host when it answers (it leaves through the quorum guard), else removed from another member. */
async function removeMember(o: ApplyOptions, s: Extract<Step, { kind: 'remove' }>, hosts: readonly Connected[], views: readonly HostView[], executable: string): Promise<void> {
  const log = o.log.withPhase('remove');
  if (s.reset && s.host) {
    const doc = hosts[0]!.spec;
    const spec: ClusterHostSpec = { ...doc, index: -1, address: s.host, name: s.member, caHolder: false, ssh: { ...doc.ssh, address: s.host } };
    const c = await connectHost(connectOptions(o, executable), spec);
    if (c.host instanceof SshHost) {
      try {
        await remote(o, 'remove', s.member, c.host, ['reset']);
        log.info(`${s.member}: left the cluster and reset`);
        return;
      } finally {
        await c.host.close().catch(() => undefined);
      }
    }
    log.warn(`${s.member}: cannot reach its host ${s.host} (${describe(c.host)}); removing the member from another member, the host is not reset`);
  }
  const via = hosts.find((c) => c.host instanceof SshHost && views[c.spec.index]?.record && views[c.spec.index]?.name !== s.member);
  if (!via) throw new EtcdadmError(`apply: no member host to remove ${s.member} through`);
  await remote(o, 'remove', views[via.spec.index]!.name, via.host as SshHost, ['member', 'remove', s.id]);
}

/** What the cluster's status says now, through the first member host that answers (`etcdadm status -o json` there). */
async function memberStates(o: ApplyOptions, hosts: readonly Connected[], views: readonly HostView[]): Promise<{ name: string; version: string | null; role: string; health: string }[]> {
  for (const c of hosts) {
    if (!(c.host instanceof SshHost) || !views[c.spec.index]?.record) continue;
    const r = await c.host.exec(REMOTE_ETCDADM, ['status', '-o', 'json'], { timeoutMs: 30_000 }).catch(() => undefined);
    if (!r || (r.code !== 0 && r.code !== 3)) continue;
    return (JSON.parse(r.stdout) as { members: { name: string; version: string | null; role: string; health: string }[] }).members;
  }
  throw new EtcdadmError('apply: no member host answers `etcdadm status`', { hint: 'check the hosts (etcdadm status there), then run the same apply again' });
}

/**
 * A rolling change: `argsFor(name)` run on the member hosts in `names` one at a time, the next chosen after the one
 * before has finished (cluster/converge.ts nextInRoll: followers by name, the leader last, read again before each).
 */
async function rolling(o: ApplyOptions, step: string, names: readonly string[], hosts: readonly Connected[], views: readonly HostView[], argsFor: (name: string) => Promise<string[]>): Promise<void> {
  const left = [...names];
  const log = o.log.withPhase(step);
  while (left.length) {
    const states = await memberStates(o, hosts, views);
    const leader = states.find((m) => m.role === 'leader')?.name;
    const name = nextInRoll(left, leader)!;
    left.splice(left.indexOf(name), 1);
    const c = hosts.find((x) => views[x.spec.index]?.name === name);
    if (!c || !(c.host instanceof SshHost)) throw new EtcdadmError(`apply: ${step}: the host of member ${name} is not connected`);
    log.info(`${name}: ${name === leader ? 'the leader, last' : `${left.length + 1} of ${names.length} left`}`);
    await testHold(`apply:${step}:${name}`);
    try {
      await remote(o, step, name, c.host, await argsFor(name));
    } catch (err) {
      // runRemote's failures name the step and the host already; a lost connection while preparing them does not
      if (err instanceof EtcdadmError && err.message.startsWith('apply: ')) throw err;
      throw new EtcdadmError(`apply: ${step} on ${name} failed: ${err instanceof EtcdadmError ? err.message : describe(err)}`, { hint: 'bring the host back, then run the same apply again (every step checks the host first)', cause: err });
    }
  }
}

/** The version of the file, member by member (upgrade apply on each: snapshot first, leadership handed away, leader last). */
async function upgradeCluster(o: ApplyOptions, doc: ConfigDocument, s: Extract<Step, { kind: 'upgrade' }>, hosts: readonly Connected[], views: readonly HostView[]): Promise<void> {
  const states = await memberStates(o, hosts, views);
  const names = states.filter((m) => m.version !== s.to).map((m) => m.name);
  const targets = await Promise.all(
    names.map(async (name) => {
      const c = hosts.find((x) => views[x.spec.index]?.name === name);
      if (!c || !(c.host instanceof SshHost)) throw new EtcdadmError(`apply: upgrade: the host of member ${name} is not connected`);
      return { name, host: c.host, plan: await hostPlan(c.host, c.spec) };
    }),
  );
  await distributeRelease(targets, o.cacheDir, o.log);
  const release = [...(doc.etcd?.releaseURL ? ['--release-url', doc.etcd.releaseURL] : []), ...(doc.etcd?.insecureReleaseURL ? ['--insecure-release-url'] : [])];
  await rolling(o, 'upgrade', names, hosts, views, async () => ['upgrade', 'apply', '--version', s.to, ...release]);
}

/**
 * New settings, member by member (etcdadm reconfigure on each: leadership handed away, the new etcd.env, restart,
 * caught up; rolled back there when it does not come back), followers first and the leader last.
 */
async function reconfigureHosts(o: ApplyOptions, s: Extract<Step, { kind: 'reconfigure' }>, hosts: readonly Connected[], views: readonly HostView[]): Promise<void> {
  await rolling(o, 'reconfigure', s.hosts, hosts, views, async (name) => {
    const c = hosts.find((x) => views[x.spec.index]?.name === name)!;
    await writeHostConfig(o, c.host as SshHost, c.spec, name, 'InitConfiguration');
    return ['reconfigure', '--config', HOST_CONFIG];
  });
}

/**
 * A member host's timers as the file says, each through its own host command (which records its settings): backups
 * (`backup schedule --config`, the file's backup section), the rolling defrag (`defrag --schedule`), the daily
 * certificate renewal (`certs renew --schedule`); or removed (`--unschedule`).
 */
async function setTimers(o: ApplyOptions, name: string, hosts: readonly Connected[], views: readonly HostView[]): Promise<void> {
  const c = hosts.find((x) => views[x.spec.index]?.name === name)!;
  const h = c.host as SshHost;
  const plan = await hostPlan(h, c.spec);
  for (const t of views[c.spec.index]!.timersDiffer ?? []) {
    let args: string[];
    if (t.timer === 'backup') {
      if (t.on) await writeHostConfig(o, h, c.spec, name, 'InitConfiguration');
      args = t.on ? ['backup', 'schedule', '--config', HOST_CONFIG] : ['backup', 'unschedule'];
    } else if (t.timer === 'defrag') args = t.on ? ['defrag', '--schedule', plan.settings.defrag.every, '--threshold', plan.settings.defrag.threshold] : ['defrag', '--unschedule'];
    else args = ['certs', 'renew', t.on ? '--schedule' : '--unschedule'];
    await remote(o, 'timers', name, h, args);
  }
}

/** `etcdadm apply`: connect, observe, plan, act. */
export async function runApply(o: ApplyOptions): Promise<void> {
  const spec = await loadClusterFile(o.file, o.home, 'apply');
  const doc = spec.doc;
  const executable = executableOf(o.executable);
  const hosts = await Promise.all(spec.hosts.map((h) => connectHost(connectOptions(o, executable), h)));
  try {
    const views = await Promise.all(
      hosts.map(async (c) => {
        if (c.host instanceof NotInstalled) {
          // a dry run on a host without this etcdadm: read without it, copy nothing
          const name = c.spec.name ?? (c.host.hostname || c.spec.address);
          if (c.host.hasRecord)
            return { index: c.spec.index, address: c.spec.address, name, unreachable: `${c.host.message}, and it has a host record: a dry run cannot read it without this etcdadm (apply without --dry-run puts it there)` } satisfies HostView;
          o.log.withPhase('observe').info(`${name}: ${c.host.message} (a dry run copies nothing): a bare host`);
          return { index: c.spec.index, address: c.spec.address, name } satisfies HostView;
        }
        return observeHost(c.spec, c.host);
      }),
    );
    const cluster = await clusterView(hosts, views);
    const plan = decideConverge({ hosts: views, ...(cluster ? { cluster } : {}), version: doc.etcd?.version ?? DEFAULTS.etcdVersion });
    const log = o.log.withPhase('plan');
    if (plan.kind === 'refuse') throw new EtcdadmError(`apply refused before any change: ${plan.message}`, { hint: plan.hint, exitCode: 2 });
    if (plan.kind === 'nothing') {
      log.info(plan.why);
      o.out('nothing to do');
      return;
    }
    for (const s of plan.steps) {
      log.info(stepLine(s));
      o.out(stepLine(s));
    }
    if (o.dryRun) {
      log.info(`--dry-run: nothing changed on any host (${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'} above)`);
      return;
    }
    const started = Date.now();
    const done: string[] = [];
    for (const s of plan.steps) {
      const t0 = Date.now();
      if (s.kind === 'bootstrap') await bootstrap(o, doc, hosts, views);
      else if (s.kind === 'join') {
        await joinHost(o, s.host, hosts, views);
        // it is a member now: later steps read it as one
        const i = views.findIndex((v) => v.name === s.host);
        views[i] = await observeHost(hosts.find((c) => c.spec.index === views[i]!.index)!.spec, hosts.find((c) => c.spec.index === views[i]!.index)!.host as SshHost);
      } else if (s.kind === 'remove') await removeMember(o, s, hosts, views, executable);
      else if (s.kind === 'upgrade') await upgradeCluster(o, doc, s, hosts, views);
      else if (s.kind === 'renew-certs') await renewCertificates(o, s.host, hosts, views);
      else if (s.kind === 'reconfigure') await reconfigureHosts(o, s, hosts, views);
      else await setTimers(o, s.host, hosts, views);
      done.push(`${stepLine(s).split(' — ')[0]} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    const slog = o.log.withPhase('summary');
    for (const [i, d] of done.entries()) slog.info(`${i + 1}/${done.length} done: ${d}`);
    const first = hosts.find((c) => c.host instanceof SshHost);
    if (first) {
      const st = JSON.parse(await remote(o, 'summary', first.spec.name ?? first.spec.address, first.host as SshHost, ['status', '-o', 'json'])) as { clusterId: string; health: string; members: unknown[] };
      slog.info(`cluster ${st.clusterId}: ${st.members.length} members, ${st.health}; ${done.length} step${done.length === 1 ? '' : 's'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    await closeAll(hosts, o.log);
  }
}
