/**
 * Resolution: settings layers (defaults ← config file or host record ← flags) + host facts → one frozen Plan. Each
 * section is derived by its own module; this file only composes them. Pure: every fact about the host comes in as
 * `HostFacts`, so the whole derivation is unit-tested without touching the machine.
 */
import { DEFAULTS } from '../defaults.js';
import { parseDuration } from '../duration.js';
import { checkMerged, mergeSettings, type SettingsLayer } from '../settings.js';
import type { HostFacts, Plan, Settings } from '../types.js';
import { etcdPlan, tlsPlan } from './etcd.js';
import { joinPlan } from './join.js';
import { memberPlan } from './member.js';
import { pkiPlan } from './pki.js';
import { installPlan, releasePlan } from './release.js';
import { filesPlan, servicePlan } from './service.js';

export function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const value of Object.values(x)) deepFreeze(value);
  }
  return x;
}

/** The Plan of `layers` (lowest precedence first) on a host with `host`'s facts. */
export function resolvePlan(layers: readonly SettingsLayer[], host: HostFacts): Plan {
  const merged = mergeSettings(layers);
  checkMerged(merged, layers);
  const member = memberPlan(merged, host);
  // what the record keeps: the derived name and URLs written out, so that a later command resolves the same member
  const settings: Settings = {
    ...merged,
    member: {
      ...merged.member,
      name: member.name,
      bindAddress: member.bindAddress,
      listenClientURLs: member.urls.listenClient,
      advertiseClientURLs: member.urls.advertiseClient,
      listenPeerURLs: member.urls.listenPeer,
      advertisePeerURLs: member.urls.advertisePeer,
    },
  };
  return deepFreeze({
    settings,
    member,
    release: releasePlan(settings),
    install: installPlan(settings),
    pki: pkiPlan(settings, member),
    etcd: etcdPlan(settings, host),
    tls: tlsPlan(settings),
    service: servicePlan(settings),
    files: filesPlan(),
    join: joinPlan(settings),
    healthTimeoutMs: parseDuration(DEFAULTS.healthTimeout)!,
  });
}
