/**
 * `etcdadm certs rotate-ca prepare|issue|finish`: a new cluster CA with overlap, host by host, without downtime.
 * Each step runs on every member before the next step starts on any; each refuses while the cluster is not ready
 * for it, proven over TLS (src/pki/rotation.ts has the files and the states):
 *
 *   prepare  the new CA made (on the first CA host; copied to the others like ca.* at a join) or found; ca.crt
 *            trusts old and new; etcd restarted gracefully (leadership handed over first: etcd reads its trusted CA
 *            file only at start); the member healthy and accepting a client certificate of the new CA
 *   issue    refused until every member accepts a client certificate of the new CA on its client and peer ports;
 *            the four leaves re-issued by the new CA (same subject and SANs); the new CA becomes the signing one
 *            (ca.crt: new, old; ca.key: new; the old pair kept as ca-old.*); no restart (renewed leaves are read at
 *            each handshake); verified like certs renew
 *   finish   refused until every member presents certificates of the new CA on its client and peer ports; ca.crt
 *            trusts only the new CA; a graceful restart; the member healthy and refusing the old CA; ca-old.* removed
 *
 * A host without ca.key (joined with a bundle) takes part with ca-new.crt copied for prepare, a new bundle imported
 * for issue (`certs import`), and finish as any other.
 */
import { loadCA, issueCertificate, leafRequests } from '../pki/index.js';
import type { LoadedCA } from '../pki/types.js';
import { makeCA } from '../pki/ca.js';
import { pkiSpecOf } from '../config/plan/pki.js';
import { acceptsClientCert, servedCertificate } from '../etcd/tls-probe.js';
import type { EtcdTls } from '../etcd/client.js';
import { EtcdadmError, describe } from '../errors.js';
import { prepareRenewal } from '../pki/renew.js';
import { caLabel, fingerprintOf, pemBlocks, rotationPaths, rotationState, trustText, type RotationState } from '../pki/rotation.js';
import { CERT_MODE, KEY_MODE } from '../pki/store.js';
import type { PhaseContext } from '../run/context.js';
import { phase, type Phase } from '../run/phase.js';
import { X509Certificate } from 'node:crypto';
import { bundleHint, verify } from './certs.js';
import { grantServiceUser, handOverLeadership, recordFacts, waitOptions } from './shared.js';
import { waitQuorumRead } from '../cluster/health.js';

interface Files {
  trust: string | undefined;
  key: string | undefined;
  newCert: string | undefined;
  newKey: string | undefined;
  oldCert: string | undefined;
  oldKey: string | undefined;
  state: RotationState;
}

async function readFiles(ctx: PhaseContext): Promise<Files> {
  const p = rotationPaths(ctx.plan.pki.certsDir);
  const st = await ctx.host.stat(ctx.plan.pki.certsDir);
  if (st?.kind !== 'dir') throw new EtcdadmError(`there is no certificates directory ${ctx.plan.pki.certsDir}`, { hint: 'run this on a member host set up by etcdadm init or join', exitCode: 2 });
  const [trust, key, newCert, newKey, oldCert, oldKey] = await Promise.all([p.trust, p.key, p.newCert, p.newKey, p.oldCert, p.oldKey].map((f) => ctx.host.read(f)));
  if (!trust) throw new EtcdadmError(`there is no CA certificate ${p.trust}`, { exitCode: 2 });
  return { trust, key, newCert, newKey, oldCert, oldKey, state: rotationState({ trust, newCert, oldCert }) };
}

const spec = (ctx: PhaseContext) => ({ ...pkiSpecOf(ctx.plan), now: new Date() });

/** A CA pair loaded for signing; the message names the files. */
async function pair(ctx: PhaseContext, certPem: string, keyPem: string, what: string): Promise<LoadedCA> {
  try {
    return await loadCA(spec(ctx), certPem, keyPem);
  } catch (err) {
    throw new EtcdadmError(`the ${what} cannot sign: ${describe(err)}`, { hint: 'copy the CA files of this rotation from the host where prepare ran first', exitCode: 2 });
  }
}

/** A 10-minute client certificate of `ca` (in memory), with the trust file to verify servers. */
async function clientOf(ctx: PhaseContext, ca: LoadedCA, trust: string): Promise<EtcdTls> {
  const issued = await issueCertificate(ca, leafRequests(pkiSpecOf(ctx.plan))['etcdctl-etcd-client'], { keyAlgorithm: 'ecdsa-p256', validityDays: 10 / 1440 });
  return { ca: trust, cert: issued.certPem, key: issued.keyPem };
}

/** Every member's client and peer URL (the cluster must answer). */
async function memberUrls(ctx: PhaseContext): Promise<{ name: string; urls: string[] }[]> {
  const h = await ctx.cluster();
  const list = await h.members({ refresh: true });
  return list.members.map((m) => ({ name: m.name || m.idHex, urls: [...m.clientURLs.slice(0, 1), ...m.peerURLs.slice(0, 1)] }));
}

async function writeTrust(ctx: PhaseContext, cas: string[]): Promise<void> {
  await ctx.host.write(rotationPaths(ctx.plan.pki.certsDir).trust, trustText(cas), { mode: CERT_MODE });
  await grantServiceUser(ctx, 'certificates');
  ctx.log.info(`${rotationPaths(ctx.plan.pki.certsDir).trust} trusts ${cas.map(caLabel).join(' and ')}`);
}

/** Hand leadership over, restart, wait for a quorum read: how a member starts trusting other CAs. */
async function gracefulRestart(ctx: PhaseContext): Promise<void> {
  const { plan, log } = ctx;
  await handOverLeadership(ctx);
  log.info(`Restarting ${plan.service.unitName}: etcd reads its trusted CA file only at start`);
  await ctx.init.restart(plan);
  const h = await ctx.cluster();
  await waitQuorumRead(h, plan.member.urls.localClient, waitOptions(ctx));
  log.info(`Member ${plan.member.name} is healthy again`);
}

function needState(files: Files, allowed: RotationState[], step: string, hint: string): void {
  if (!allowed.includes(files.state))
    throw new EtcdadmError(`rotate-ca ${step}: the certs dir is in state "${files.state}" of the rotation, not ${allowed.map((s) => `"${s}"`).join(' or ')}`, { hint, exitCode: 2 });
}

// ------------------------------------------------------------------ prepare

const preparePreflight: Phase = phase<Files, Files>({
  name: 'preflight',
  short: 'Check the certs dir: no rotation past prepare; the new CA here or this host able to make it; the cluster healthy',
  observe: readFiles,
  async act(ctx, f) {
    needState(f, ['none', 'preparing', 'prepared'], 'prepare', "run 'etcdadm certs rotate-ca issue' (or finish) to go on with the rotation under way");
    if (f.state === 'none' && !f.newCert && !f.key) throw new EtcdadmError(`this host holds no CA key and no new CA (${rotationPaths(ctx.plan.pki.certsDir).newCert})`, { hint: 'run prepare on a CA host first, then copy its ca-new.crt here', exitCode: 2 });
    await memberUrls(ctx); // the cluster answers
  },
});

const prepareNewCA: Phase = phase<Files, 'make' | 'found'>({
  name: 'new-ca',
  short: 'Make the new CA (ca-new.crt, ca-new.key) unless it was copied here from the host where prepare ran first',
  observe: readFiles,
  decide: (_plan, f) => (f.newCert ? 'found' : 'make'),
  async act(ctx, d) {
    const p = rotationPaths(ctx.plan.pki.certsDir);
    const f = await readFiles(ctx);
    if (d === 'found') {
      if (f.newKey) await pair(ctx, f.newCert!, f.newKey, 'new CA (ca-new.crt, ca-new.key)');
      ctx.log.info(`Using the new CA ${caLabel(f.newCert!)} found in ${p.newCert}`);
      return;
    }
    const stamp = new Date().toISOString().slice(0, 10);
    const made = await makeCA({ certsDir: ctx.plan.pki.certsDir, keyAlgorithm: ctx.plan.pki.keyAlgorithm, caValidityDays: ctx.plan.pki.caValidityDays }, `etcd-ca-${stamp}`);
    await ctx.host.write(p.newKey, made.keyPem, { mode: KEY_MODE });
    await ctx.host.write(p.newCert, made.ca.certPem, { mode: CERT_MODE });
    ctx.log.info(`Generated the new CA ${caLabel(made.ca.certPem)}: copy it to every other member before running prepare there (rsync -avR ${p.newCert} ${p.newKey} <host>:/; to a host joined with a bundle, ${p.newCert} only)`);
  },
});

const prepareTrust: Phase = phase<Files, Files>({
  name: 'trust',
  short: 'Write ca.crt with the current CA first (it still signs) and the new CA after it',
  observe: readFiles,
  async act(ctx, f) {
    const current = pemBlocks(f.trust)[0]!;
    await writeTrust(ctx, [current, f.newCert!]);
  },
});

/** Whether the running member accepts a client certificate of `ca` (undefined: cannot tell, no key for it here). */
async function localAccepts(ctx: PhaseContext, ca: LoadedCA | undefined, trust: string): Promise<boolean | undefined> {
  if (!ca) return undefined;
  const tls = await clientOf(ctx, ca, trust);
  const u = ctx.plan.member.urls;
  const results = await Promise.all([u.localClient, u.advertisePeer[0]!].map((url) => acceptsClientCert(url, tls)));
  return results.every(Boolean);
}

const prepareRestart: Phase = phase<boolean | undefined, 'restart' | 'keep'>({
  name: 'restart',
  short: 'Restart etcd gracefully (leadership handed over first) unless it accepts the new CA already',
  async observe(ctx) {
    const f = await readFiles(ctx);
    const ca = f.newKey ? await pair(ctx, f.newCert!, f.newKey, 'new CA') : undefined;
    return localAccepts(ctx, ca, f.trust!);
  },
  decide: (_plan, accepts) => (accepts === true ? 'keep' : 'restart'),
  async act(ctx, d) {
    if (d === 'keep') ctx.log.info('etcd accepts client certificates of the new CA already: no restart');
    else await gracefulRestart(ctx);
  },
});

const prepareVerify: Phase = phase<undefined, undefined>({
  name: 'verify',
  short: 'The member is healthy and accepts a client certificate of the new CA on its client and peer ports',
  dryRun: (ctx) => [`check that ${ctx.plan.member.name} is healthy and accepts a client certificate of the new CA on its client and peer ports`],
  async act(ctx) {
    const f = await readFiles(ctx);
    const h = await ctx.cluster();
    await waitQuorumRead(h, ctx.plan.member.urls.localClient, waitOptions(ctx));
    const ca = f.newKey ? await pair(ctx, f.newCert!, f.newKey, 'new CA') : undefined;
    const accepts = await localAccepts(ctx, ca, f.trust!);
    if (accepts === false) throw new EtcdadmError(`member ${ctx.plan.member.name} does not accept a client certificate of the new CA after its restart`, { hint: ctx.init.logHint(ctx.plan) });
    const trust = rotationPaths(ctx.plan.pki.certsDir).trust;
    ctx.log.info(`Member ${ctx.plan.member.name} trusts the old and the new CA.`);
    ctx.log.info(`Next, before any member runs issue: give every client of the cluster (kube-apiserver's --etcd-cafile, your own) ${trust} as it is now — it trusts the old and the new CA — so that they still trust the members once those present certificates of the new CA; then, once prepare ran on every member: etcdadm certs rotate-ca issue --clients-trust-new-ca, member by member`);
    ctx.out(trust);
  },
});

export const ROTATE_PREPARE_PHASES: readonly Phase[] = [preparePreflight, prepareNewCA, prepareTrust, prepareRestart, prepareVerify];

// ------------------------------------------------------------------ issue

/** rotate-ca issue's own option: the operator's word that every client trusts the new CA (the file prepare wrote). */
export interface RotateIssueOptions {
  clientsTrustNewCa: boolean;
}

const issuePreflight: Phase<RotateIssueOptions> = phase<Files, Files, RotateIssueOptions>({
  name: 'preflight',
  short: 'Check that prepare ran here, that every member accepts a client certificate of the new CA, and that the clients trust it (--clients-trust-new-ca)',
  observe: readFiles,
  async act(ctx, f) {
    if (!ctx.options.clientsTrustNewCa)
      throw new EtcdadmError('rotate-ca issue makes this member present certificates of the new CA: a client that does not trust it yet fails at its next connection (x509: certificate signed by unknown authority)', {
        hint: `first give every client of the cluster ${rotationPaths(ctx.plan.pki.certsDir).trust} as prepare wrote it (it trusts the old and the new CA), then run issue with --clients-trust-new-ca`,
        exitCode: 2,
      });
    needState(f, ['prepared'], 'issue', f.state === 'issued' ? 'issue ran here already: when it ran on every member, run finish' : "run 'etcdadm certs rotate-ca prepare' on every member first");
    if (!f.newKey) throw new EtcdadmError(`this host holds no key of the new CA (${rotationPaths(ctx.plan.pki.certsDir).newKey}): its certificates cannot be signed here`, { hint: `${bundleHint(ctx).replace(/^renew on/, 'after issue ran on')}`, exitCode: 2 });
    const ca = await pair(ctx, f.newCert!, f.newKey, 'new CA (ca-new.crt, ca-new.key)');
    const tls = await clientOf(ctx, ca, f.trust!);
    const refusing: string[] = [];
    for (const m of await memberUrls(ctx)) for (const url of m.urls) if (!(await acceptsClientCert(url, tls))) refusing.push(`${m.name} (${url})`);
    if (refusing.length)
      throw new EtcdadmError(`not every member trusts the new CA ${caLabel(f.newCert!)} yet: ${refusing.join(', ')}`, { hint: "run 'etcdadm certs rotate-ca prepare' there (with this ca-new.crt and ca-new.key copied), then issue again", exitCode: 2 });
    ctx.log.info(`Every member accepts client certificates of the new CA ${caLabel(f.newCert!)}`);
  },
});

const issueCertificates: Phase = phase<Files, Files>({
  name: 'certificates',
  short: 'Re-issue the four leaves with the new CA; make it the signing CA (ca.crt: new, old; ca.key: new; old pair kept as ca-old.*)',
  observe: readFiles,
  async act(ctx, f) {
    const p = rotationPaths(ctx.plan.pki.certsDir);
    const newFp = fingerprintOf(f.newCert!);
    // the old pair, kept first (a re-run after a crash finds it there)
    let oldCert = f.oldCert;
    let oldKey = f.oldKey;
    if (!oldCert || !oldKey) {
      oldCert = pemBlocks(f.trust).find((b) => fingerprintOf(b) !== newFp)!;
      oldKey = f.key;
      if (!oldKey) throw new EtcdadmError(`there is no ${p.key}`, { exitCode: 2 });
      await ctx.host.write(p.oldKey, oldKey, { mode: KEY_MODE });
      await ctx.host.write(p.oldCert, oldCert, { mode: CERT_MODE });
    }
    // the leaves, signed in memory by the new CA (in a scratch view of the certs dir where it is ca.crt/ca.key)
    const renewal = await prepareRenewal({
      host: ctx.host,
      certsDir: ctx.plan.pki.certsDir,
      names: ['server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client'],
      defaultDays: ctx.plan.pki.certValidityDays,
      keyAlgorithm: ctx.plan.pki.keyAlgorithm,
      requests: leafRequests(pkiSpecOf(ctx.plan)),
      signer: { certPem: f.newCert!, keyPem: f.newKey!, accept: [oldCert, f.newCert!] },
    });
    for (const l of renewal.leaves) {
      await ctx.host.write(l.paths.keyPath, l.keyPem, { mode: KEY_MODE });
      await ctx.host.write(l.paths.certPath, l.certPem, { mode: CERT_MODE });
      ctx.log.info(`Issued the ${l.name} certificate from the new CA: serial ${l.serial}, valid until ${l.notAfter.toISOString()}`);
    }
    await ctx.host.write(p.trust, trustText([f.newCert!, oldCert]), { mode: CERT_MODE });
    await ctx.host.write(p.key, f.newKey!, { mode: KEY_MODE });
    await ctx.host.remove(p.newCert);
    await ctx.host.remove(p.newKey);
    await grantServiceUser(ctx, 'certificates');
    await recordFacts(ctx, {}); // the record's caFingerprint: the signing CA's
    ctx.log.info(`The new CA ${caLabel(f.newCert!)} signs now; the old one ${caLabel(oldCert)} is still trusted (kept as ${p.oldCert})`);
  },
});

const issueDone: Phase = phase<undefined, undefined>({
  name: 'next',
  short: 'Say what comes next',
  async act(ctx) {
    ctx.log.info(`Next, once issue ran on every member: move every client's certificate to one the new CA signed (this host's ${ctx.plan.pki.files['apiserver-etcd-client'].certPath} is one, for kube-apiserver) — after finish the members trust the new CA only; then: etcdadm certs rotate-ca finish, member by member`);
  },
});

export const ROTATE_ISSUE_PHASES: readonly Phase<RotateIssueOptions>[] = [issuePreflight, issueCertificates, verify, issueDone];

// ------------------------------------------------------------------ finish

/** Whether `pem` was signed by `caPem`. */
function signedBy(pem: string, caPem: string): boolean {
  try {
    const c = new X509Certificate(pem);
    const ca = new X509Certificate(caPem);
    return c.checkIssued(ca) && c.verify(ca.publicKey);
  } catch {
    return false;
  }
}

const finishPreflight: Phase = phase<Files, Files>({
  name: 'preflight',
  short: "Check that issue ran here and that every member presents certificates of the new CA on its client and peer ports",
  observe: readFiles,
  async act(ctx, f) {
    if (f.state === 'none' && !f.oldCert) throw new EtcdadmError('rotate-ca finish: no rotation is under way here (ca.crt trusts one CA)', { hint: "start one with 'etcdadm certs rotate-ca prepare'", exitCode: 2 });
    needState(f, ['issued', 'none'], 'finish', "run 'etcdadm certs rotate-ca issue' on every member first");
    const signing = pemBlocks(f.trust)[0]!;
    const tls = { cert: await ctx.host.read(ctx.plan.pki.files['etcdctl-etcd-client'].certPath) ?? '', key: await ctx.host.read(ctx.plan.pki.files['etcdctl-etcd-client'].keyPath) ?? '' };
    const stale: string[] = [];
    for (const m of await memberUrls(ctx))
      for (const url of m.urls) {
        const served = await servedCertificate(url, tls).catch(() => undefined);
        if (!served || !signedBy(served.pem, signing)) stale.push(`${m.name} (${url}${served ? `: issued by ${served.issuerCN}` : ': no handshake'})`);
      }
    if (stale.length)
      throw new EtcdadmError(`not every member presents certificates of the new CA ${caLabel(signing)}: ${stale.join(', ')}`, { hint: "run 'etcdadm certs rotate-ca issue' there (or import a new bundle), then finish again", exitCode: 2 });
    ctx.log.info(`Every member presents certificates of the new CA ${caLabel(signing)}`);
  },
});

const finishTrust: Phase = phase<Files, Files>({
  name: 'trust',
  short: 'Write ca.crt with the new CA only',
  observe: readFiles,
  async act(ctx, f) {
    await writeTrust(ctx, [pemBlocks(f.trust)[0]!]);
  },
});

const finishRestart: Phase = phase<undefined, undefined>({
  name: 'restart',
  short: 'Restart etcd gracefully (leadership handed over first), so that it stops trusting the old CA',
  act: gracefulRestart,
});

const finishVerify: Phase = phase<Files, Files>({
  name: 'verify',
  short: 'The member is healthy and refuses a client certificate of the old CA; ca-old.* are removed',
  observe: readFiles,
  dryRun: (ctx) => {
    const p = rotationPaths(ctx.plan.pki.certsDir);
    return [`check that ${ctx.plan.member.name} refuses a client certificate of the old CA`, `remove ${p.oldCert} and ${p.oldKey}`];
  },
  async act(ctx, f) {
    const p = rotationPaths(ctx.plan.pki.certsDir);
    if (f.oldCert && f.oldKey) {
      const old = await pair(ctx, f.oldCert, f.oldKey, 'old CA (ca-old.crt, ca-old.key)').catch(() => undefined);
      if (old && (await localAccepts(ctx, old, f.trust!)) !== false)
        throw new EtcdadmError(`member ${ctx.plan.member.name} still accepts a client certificate of the old CA after its restart`, { hint: ctx.init.logHint(ctx.plan) });
      ctx.log.info(`Member ${ctx.plan.member.name} refuses client certificates of the old CA ${caLabel(f.oldCert)}`);
    }
    for (const path of [p.oldCert, p.oldKey]) if (await ctx.host.remove(path)) ctx.log.info(`Removed ${path}`);
    ctx.log.info(`The rotation is finished on ${ctx.plan.member.name}: ca.crt trusts ${caLabel(pemBlocks(f.trust)[0]!)} only; a client certificate of the old CA is refused here from now on`);
  },
});

export const ROTATE_FINISH_PHASES: readonly Phase[] = [finishPreflight, finishTrust, finishRestart, finishVerify];
