/**
 * What `status` adds to each member from TLS itself: the serving certificates a new connection sees (client and
 * peer port: the earliest expiry and its issuer) and, on a host that holds CA keys, which of those CAs the member
 * trusts. All members at once, each handshake bounded; one TLS context for every connection of one identity.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { EtcdTls } from '../etcd/client.js';
import { acceptsClientCert, servedCertificate, type ServedCertificate } from '../etcd/tls-probe.js';
import type { Member } from '../etcd/client.js';
import type { ClusterStatus } from './status.js';

export interface TrustProbe {
  /**
   * Client certificates of CAs whose keys are here, each probed on every member (a CA rotation: old and new CA).
   * Empty outside a rotation.
   */
  identities: readonly { ca: string; cert: string; key: string }[];
  /**
   * Outside a rotation, on a host that holds the CA key: that CA (its label and certificate). When it signed the
   * client certificate status connects with, a member that answered status over that connection trusts it: no
   * probe is needed.
   */
  clientCA?: { label: string; pem: string };
}

const PROBE_MS = 2000;

/**
 * `st` with each member's serving certificates (and trust). The peer ports (and, during a rotation, the trust probes)
 * are asked as soon as `members` is known, while the status probes run; `opened`: what a connection already open to
 * that URL was shown (the status connection to each client port), so that port needs no handshake of its own.
 */
export async function withServingCerts(
  members: readonly Pick<Member, 'clientURLs' | 'peerURLs'>[],
  st: Promise<ClusterStatus>,
  tls: Pick<EtcdTls, 'cert' | 'key' | 'ca'>,
  trust: TrustProbe = { identities: [] },
  opened: (url: string) => ServedCertificate | undefined = () => undefined,
): Promise<ClusterStatus> {
  const context = createSecureContext({ cert: tls.cert, key: tls.key });
  const clientCA = trust.clientCA && signedBy(tls.cert, trust.clientCA.pem) ? trust.clientCA.label : undefined;
  const probes = trust.identities.map((i) => ({ ca: i.ca, tls: { ...i, ca: tls.ca } }));
  const served = once((u) => servedCertificate(u, { ...tls, secureContext: context }, PROBE_MS).catch(() => undefined));
  const trusted = once(async (u) => (await Promise.all(probes.map(async (p) => ((await acceptsClientCert(u, p.tls, PROBE_MS)) ? p.ca : undefined)))).filter((x): x is string => !!x));
  for (const m of members) {
    if (m.peerURLs[0]) void served(m.peerURLs[0]);
    if (probes.length && m.clientURLs[0]) void trusted(m.clientURLs[0]);
  }
  const status = await st;
  const shown = await Promise.all(
    status.members.map(async (m) => {
      const client = m.clientURLs[0];
      const certs = await Promise.all([client ? (opened(client) ?? served(client)) : undefined, m.peerURLs[0] ? served(m.peerURLs[0]) : undefined]);
      const first = certs.filter((c) => c !== undefined).sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0];
      const probed = probes.length && client ? await trusted(client) : undefined;
      const trustedCAs = probed ?? (clientCA !== undefined ? (m.endpoint !== null ? [clientCA] : []) : undefined);
      return { ...m, servingCert: first ? { expires: first.notAfter.toISOString(), issuer: first.issuerCN } : null, ...(trustedCAs ? { trustedCAs } : {}) };
    }),
  );
  return { ...status, members: shown };
}

/** `fn` memoized by its argument: each URL asked once however many members name it. */
function once<T>(fn: (u: string) => Promise<T>): (u: string) => Promise<T> {
  const asked = new Map<string, Promise<T>>();
  return (u) => {
    let p = asked.get(u);
    if (!p) asked.set(u, (p = fn(u)));
    return p;
  };
}

/** Whether `certPem` was issued and signed by the CA `caPem` (node's own X.509: nothing else to load). */
function signedBy(certPem: string | Buffer, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
