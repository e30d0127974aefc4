/** The etcd and tls sections of the Plan: raft timing, quota, compaction, corruption checks, extra flags, TLS. Pure. */
import { effectiveCipherSuites } from '../document.js';
import type { EtcdPlan, HostFacts, Settings, TlsPlan } from '../types.js';

export function etcdPlan(settings: Settings, host: HostFacts): EtcdPlan {
  const e = settings.etcd;
  return {
    quotaBackendBytes: e.quotaBackendBytes,
    autoCompactionMode: e.autoCompactionMode,
    autoCompactionRetention: e.autoCompactionRetention,
    heartbeatInterval: e.heartbeatInterval,
    electionTimeout: e.electionTimeout,
    corruptCheck: e.corruptCheck,
    extraArgs: { ...e.extraArgs },
    gomaxprocs: Math.max(1, host.cpus),
  };
}

export function tlsPlan(settings: Settings): TlsPlan {
  const t = settings.tls;
  return { minVersion: t.minVersion, cipherSuites: effectiveCipherSuites(t.minVersion, t.cipherSuites), peerCertAllowedCN: t.peerCertAllowedCN };
}
