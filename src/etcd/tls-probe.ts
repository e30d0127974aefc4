/**
 * The certificate a member presents on a new TLS connection — what `certs renew` checks after a renewal and what
 * `status` reports as each member's serving-certificate expiry. Only the handshake: nothing is sent. The server's
 * certificate is not verified here (an expired one must still be reported), only read.
 */
import { request as httpsRequest } from 'node:https';
import { connect, type SecureContext } from 'node:tls';
import { servedBy, type ServedCertificate } from './served.js';
import type { EtcdTls } from './client.js';

export type { ServedCertificate } from './served.js';

/**
 * The certificate `url` (https) presents, with the client pair of `tls` offered (or its `secureContext`, made once
 * for many probes); rejects when no handshake completes.
 */
export function servedCertificate(url: string, tls: Pick<EtcdTls, 'cert' | 'key'> & { secureContext?: SecureContext }, timeoutMs = 3000): Promise<ServedCertificate> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || 443),
      ...(tls.secureContext ? { secureContext: tls.secureContext } : { cert: tls.cert, key: tls.key }),
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      ...(/^[\d.]+$|:/.test(u.hostname) ? {} : { servername: u.hostname }),
    });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake with ${url} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const served = servedBy(socket);
      socket.destroy();
      if (!served) return reject(new Error(`${url} presented no certificate`));
      resolve(served);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface PeerMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

const MAX_MEMBERS_BODY = 1 << 20;

/**
 * The member list as the member at `peerUrl` knows it, from its peer port (`GET /members`, etcd's peer API): it
 * answers from the member's own raft state, so also while the cluster has no quorum — when the client API does not.
 */
export function peerMembers(peerUrl: string, tls: Pick<EtcdTls, 'ca' | 'cert' | 'key'>, timeoutMs = 3000): Promise<PeerMember[]> {
  const u = new URL('/members', peerUrl);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(u, { method: 'GET', ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs, ...(/^[\d.]+$|:/.test(u.hostname) ? {} : { servername: u.hostname }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        // a member list is a few KiB: a peer that sends more is not read further
        if (body.length > MAX_MEMBERS_BODY) req.destroy(new Error(`GET ${u.href}: the answer is larger than ${MAX_MEMBERS_BODY} bytes`));
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${u.href}: HTTP ${res.statusCode}`));
        try {
          const list = JSON.parse(body) as PeerMember[];
          resolve(Array.isArray(list) ? list : []);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${u.href} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Whether the member at `url` (client or peer port) accepts a client certificate: GET /version with it (both ports
 * serve it). With TLS 1.3 a refused client certificate shows only after the handshake, so a request is what tells.
 */
export function acceptsClientCert(url: string, tls: Pick<EtcdTls, 'ca' | 'cert' | 'key'>, timeoutMs = 3000): Promise<boolean> {
  const u = new URL('/version', url);
  return new Promise((resolve) => {
    const req = httpsRequest(u, { method: 'GET', ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs, ...(/^[\d.]+$|:/.test(u.hostname) ? {} : { servername: u.hostname }) }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}
