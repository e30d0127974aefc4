/** The pki section of the Plan: where the certificates live, how new keys are made, and the SANs. Pure. */
import { pkiFiles } from '../../pki/files.js';
import type { MemberPlan, PkiPlan, Plan, Settings } from '../types.js';
import type { PkiSpec } from '../../pki/types.js';
import { sanSet } from '../urls.js';

const hostsOf = (list: readonly string[]) => list.map((u) => new URL(u).hostname);
const clean = (list: readonly string[]) => list.map((x) => x.trim()).filter(Boolean);

export function pkiPlan(settings: Settings, member: MemberPlan): PkiPlan {
  const p = settings.pki;
  const u = member.urls;
  return {
    certsDir: p.certsDir,
    files: pkiFiles(p.certsDir),
    keyAlgorithm: p.keyAlgorithm,
    caValidityDays: p.caValidityDays,
    certValidityDays: p.certValidityDays,
    renewBeforeDays: p.renewBeforeDays,
    sans: {
      server: sanSet([member.name, ...hostsOf(u.advertiseClient), ...hostsOf(u.listenClient), '127.0.0.1', 'localhost', ...clean(p.serverCertExtraSANs)]),
      peer: sanSet([member.name, ...hostsOf(u.advertisePeer), ...hostsOf(u.listenPeer), '127.0.0.1', 'localhost', ...clean(p.peerCertExtraSANs)]),
    },
  };
}

/** The PkiSpec the pki module works from, for this plan's member. */
export function pkiSpecOf(plan: Pick<Plan, 'pki' | 'member'>): PkiSpec {
  return { ...plan.pki, memberName: plan.member.name, server: plan.pki.sans.server, peer: plan.pki.sans.peer };
}
