/**
 * `etcdadm adopt`: take over a member another tool set up (etcdadm v0.1.x) by writing the host record its files
 * imply, so that every command works on it as on a host set up here. Nothing else on the host changes.
 *
 *   preflight   say what was found and what the record will say; refuse a host that is neither ours nor
 *               v0.1.x's, naming what is missing (nothing written); a host that has a record: nothing to do
 *   record      write /etc/etcd/etcdadm.yaml (0600) with the derived settings and facts, marked as adopted
 *
 * A changing command run with --adopt on such a host runs `record` first, as its phase `adopt`.
 */
import type { LegacyVerdict } from '../adopt/index.js';
import type { Plan } from '../config/types.js';
import { phase, type Phase } from '../run/phase.js';
import { refuse } from './preflight.js';

export interface AdoptOptions {
  /** What src/adopt/ found; undefined when the host has a record (not looked for). */
  verdict: LegacyVerdict | undefined;
  /** The tool the record is derived from, when it is. */
  from: string | undefined;
}

export type AdoptDecision = { kind: 'adopt'; found: string[] } | { kind: 'nothing'; why: string };

/** Whether there is something to take over here. Pure. */
export function decideAdopt(recordPath: string, o: AdoptOptions): AdoptDecision {
  const v = o.verdict;
  if (!v) return { kind: 'nothing', why: `${recordPath} exists: this host is managed by etcdadm already` };
  if (v.kind === 'none')
    refuse({
      message: `nothing to adopt here: no etcd set up by etcdadm v0.1.x (no /etc/etcd/etcd.env, etcd.service unit or static Pod)`,
      hint: 'run etcdadm adopt on a member host built by etcdadm v0.1.x; on a new host use etcdadm init or join',
    });
  if (v.kind === 'unknown')
    refuse({
      message: `refusing to adopt: this etcd was not set up the way etcdadm v0.1.x sets one up: missing ${v.missing.join('; ')}`,
      hint: 'etcdadm wrote nothing; adopt takes over only hosts in etcdadm v0.1.x\'s layout (a member set up by hand: add a host built by etcdadm join to its cluster instead)',
    });
  return { kind: 'adopt', found: v.host.found };
}

function describePlan(plan: Plan): string[] {
  return [
    `member ${plan.member.name}: data dir ${plan.member.dataDir}, peer ${plan.member.urls.advertisePeer.join(',')}, client ${plan.member.urls.advertiseClient.join(',')}`,
    `etcd ${plan.release.version} in ${plan.release.installDir}, run by ${plan.service.initSystem === 'systemd' ? plan.service.unitFile : plan.service.podManifestFile}`,
    `certificates in ${plan.pki.certsDir} (${plan.pki.keyAlgorithm}, kept on renewal)`,
  ];
}

export const adoptPreflightPhase: Phase<AdoptOptions> = phase<AdoptOptions, AdoptDecision, AdoptOptions>({
  name: 'preflight',
  short: 'Find what etcdadm v0.1.x set up here and derive the host record from it; refuse anything else',
  async observe(ctx) {
    return ctx.options;
  },
  decide: (plan, o) => decideAdopt(plan.files.record, o),
  async act(ctx, d) {
    if (d.kind === 'nothing') {
      ctx.log.info(`Nothing to adopt: ${d.why}`);
      return;
    }
    for (const line of d.found) ctx.log.info(`Found ${line}`);
    for (const line of describePlan(ctx.plan)) ctx.log.info(`Derived ${line}`);
  },
});

/** The write of the derived record: `etcdadm adopt`'s `record` phase, and the `adopt` phase --adopt puts first. */
function recordPhase(name: string): Phase<any> {
  return phase<{ from: string | undefined }, { from: string | undefined }, unknown>({
    name,
    short: 'Write the host record derived from what etcdadm v0.1.x set up here (/etc/etcd/etcdadm.yaml)',
    async observe(ctx) {
      return { from: ctx.record.derivedFrom };
    },
    async act(ctx, d) {
      if (!d.from) return;
      await ctx.record.update({ complete: true, adopted: { from: d.from, at: new Date().toISOString() }, settings: ctx.plan.settings });
      ctx.log.info(`Wrote ${ctx.record.path}: this member, set up by ${d.from}, is managed by etcdadm from now on`);
    },
    dryRun: (ctx, d) => (d.from ? [`write ${ctx.record.path}: the record derived from what ${d.from} set up here`] : []),
  });
}

export const adoptRecordPhase: Phase<AdoptOptions> = recordPhase('record');
/** First phase of a changing command run with --adopt on a host another tool set up. */
export const adoptFirstPhase: Phase = recordPhase('adopt');

export const ADOPT_PHASES: readonly Phase<AdoptOptions>[] = [adoptPreflightPhase, adoptRecordPhase];
