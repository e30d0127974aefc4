/**
 * Reading a cluster before this host has a client certificate of its own (join decides which etcd version to
 * install before its certificates phase runs): a short-lived client certificate signed in memory by the cluster CA
 * copied to this host. Nothing is written; the key never leaves this process.
 */
import { pkiSpecOf } from '../config/plan/pki.js';
import type { Plan } from '../config/types.js';
import type { Host } from '../host/host.js';
import { readOperatorFile } from '../host/operator.js';
import { parseBundle } from '../pki/bundle.js';
import type { EtcdTls } from '../etcd/client.js';
import type { Logger } from '../log/logger.js';
import { loadCA, readCAFiles } from '../pki/ca-load.js';
import { issueCertificate, leafRequests } from '../pki/issue.js';
import { ClusterHandle } from './handle.js';
import type { ClusterStatus } from './status.js';

/** One hour is plenty for a probe; the certificate exists only in memory. */
const PROBE_VALIDITY_DAYS = 1 / 24;

/** TLS for a probe of the cluster, from the CA in the plan's certs dir (errors as the join's preflight words them). */
export async function probeTls(host: Host, plan: Plan, certsBundle?: string): Promise<EtcdTls> {
  if (certsBundle) {
    // a host joining with a bundle has no CA key: it probes with the bundle's own client certificate
    const text = await readOperatorFile(certsBundle, 'certificate bundle');
    const b = parseBundle(text, certsBundle);
    return { ca: b.files['ca.crt'], cert: b.files['etcdctl-etcd-client.crt'], key: b.files['etcdctl-etcd-client.key'], caFile: `${certsBundle} (ca.crt)`, certFile: `${certsBundle} (etcdctl-etcd-client.crt)` };
  }
  // read only: a probe writes nothing on the host (no certs dir made, no key mode changed)
  const spec = pkiSpecOf(plan);
  const files = (await readCAFiles(host, spec.certsDir, { required: true }))!;
  const ca = await loadCA(spec, files.certPem, files.keyPem);
  const req = leafRequests(spec)['etcdctl-etcd-client'];
  const issued = await issueCertificate(ca, req, { keyAlgorithm: 'ecdsa-p256', validityDays: PROBE_VALIDITY_DAYS });
  return { ca: ca.certPem, cert: issued.certPem, key: issued.keyPem, caFile: ca.certPath, certFile: '(a short-lived certificate signed by that CA)' };
}

/** The server version of every member that answered at `endpoints`, by member name (status of each member). */
export async function memberVersions(endpoints: string[], tls: EtcdTls, log: Logger): Promise<{ versions: Map<string, string>; problems: string[]; status: ClusterStatus }> {
  const handle = ClusterHandle.open({ endpoints, tls, log });
  try {
    const status = await handle.status();
    const versions = new Map<string, string>();
    for (const m of status.members) if (m.version) versions.set(m.name || m.id, m.version);
    return { versions, problems: status.problems, status };
  } finally {
    handle.close();
  }
}
