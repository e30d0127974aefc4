/**
 * What `status` adds to each member from TLS itself: the serving certificates a new connection sees (client and
 * peer port: the earliest expiry and its issuer) and, on a host that holds CA keys, which of those CAs the member
 * trusts. All members at once, each handshake bounded; one TLS context for every connection of one identity.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { EtcdTls } from '../etcd/client.js';
import { acceptsClientCert, servedCertificate, type ServedCertificate } from '../etcd/tls-probe.js';
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
 * `opened`: what a connection already open to that URL was shown (the status connection to each client port), so
 * that port needs no handshake of its own.
 */
export async function withServingCerts(
  st: ClusterStatus,
  tls: Pick<EtcdTls, 'cert' | 'key' | 'ca'>,
  trust: TrustProbe = { identities: [] },
  opened: (url: string) => ServedCertificate | undefined = () => undefined,
): Promise<ClusterStatus> {
  const context = createSecureContext({ cert: tls.cert, key: tls.key });
  const clientCA = trust.clientCA && signedBy(tls.cert, trust.clientCA.pem) ? trust.clientCA.label : undefined;
  const probes = trust.identities.map((i) => ({ ca: i.ca, tls: { ...i, ca: tls.ca } }));
  const members = await Promise.all(
    st.members.map(async (m) => {
      const urls = [m.clientURLs[0], m.peerURLs[0]].filter((u): u is string => !!u);
      const url = m.clientURLs[0];
      const [served, trusted] = await Promise.all([
        Promise.all(urls.map((u) => opened(u) ?? servedCertificate(u, { ...tls, secureContext: context }, PROBE_MS).catch(() => undefined))),
        probes.length && url ? Promise.all(probes.map(async (p) => ((await acceptsClientCert(url, p.tls, PROBE_MS)) ? p.ca : undefined))) : undefined,
      ]);
      const first = served.filter((c) => c !== undefined).sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0];
      const trustedCAs = trusted ? trusted.filter((x): x is string => !!x) : clientCA !== undefined ? (m.endpoint !== null ? [clientCA] : []) : undefined;
      return { ...m, servingCert: first ? { expires: first.notAfter.toISOString(), issuer: first.issuerCN } : null, ...(trustedCAs ? { trustedCAs } : {}) };
    }),
  );
  return { ...st, members };
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
