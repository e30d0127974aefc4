/** The member section of the Plan: name, data dirs, addresses and URLs, from the settings and the host's addresses. Pure. */
import { isIP } from 'node:net';
import { EtcdadmError } from '../../errors.js';
import { chooseAdvertiseAddress, normalizeIp } from '../address.js';
import { validateMemberName } from '../document.js';
import type { HostFacts, MemberPlan, Settings, Urls } from '../types.js';
import { httpsUrl, isLoopbackUrl, isWildcard, urlHost } from '../urls.js';

function noAddress(): EtcdadmError {
  return new EtcdadmError('this host has no global unicast address to advertise', {
    hint: 'configure an address on an interface, or pass --bind-address',
    exitCode: 2,
  });
}

/** The address this member advertises and the one it binds, from the bind address setting and the host's interfaces. */
function addresses(bindAddress: string, host: HostFacts): { advertise: string; bind: string } {
  const local = host.addresses.map((a) => normalizeIp(a.address));
  const detected = chooseAdvertiseAddress(host.addresses, host.defaultRouteIfaces);
  if (!bindAddress) {
    if (!detected) throw noAddress();
    return { advertise: detected, bind: detected };
  }
  const b = normalizeIp(bindAddress);
  if (isWildcard(b)) {
    if (!detected) throw noAddress();
    return { advertise: detected, bind: b };
  }
  if (!local.includes(b))
    throw new EtcdadmError(`--bind-address ${b} is not an address of this host (it has ${local.join(', ')})`, {
      hint: "pass one of this host's addresses, or omit --bind-address to use the default-route address",
      exitCode: 2,
    });
  return { advertise: b, bind: b };
}

/** 127.0.0.1 for local tools, or ::1 on a host without IPv4 loopback. */
function loopbackOf(host: HostFacts): string {
  const has = (family: 4 | 6) => host.addresses.some((a) => a.family === family && a.internal);
  return has(6) && !has(4) ? '::1' : '127.0.0.1';
}

export function memberPlan(settings: Settings, host: HostFacts): MemberPlan {
  const m = settings.member;
  const name = m.name || host.hostname;
  const nameProblem = validateMemberName(name);
  if (nameProblem)
    throw new EtcdadmError(`invalid member name "${name}" (this host's hostname): ${nameProblem}`, { hint: 'pass --name with a DNS name', exitCode: 2 });

  const { clientPort, peerPort } = m;
  // the host's addresses are needed only for URLs the settings do not give
  const explicit = m.advertiseClientURLs.length && m.advertisePeerURLs.length && m.listenClientURLs.length && m.listenPeerURLs.length;
  const { advertise, bind } = explicit ? { advertise: urlHost(m.advertisePeerURLs[0]!), bind: m.bindAddress } : addresses(m.bindAddress, host);
  const listenClient = m.listenClientURLs.length ? [...m.listenClientURLs] : [...new Set([httpsUrl(bind, clientPort), httpsUrl(loopbackOf(host), clientPort)])];
  const advertiseClient = m.advertiseClientURLs.length ? [...m.advertiseClientURLs] : [httpsUrl(advertise, clientPort)];
  const urls: Urls = {
    listenClient,
    advertiseClient,
    listenPeer: m.listenPeerURLs.length ? [...m.listenPeerURLs] : [httpsUrl(bind, peerPort)],
    advertisePeer: m.advertisePeerURLs.length ? [...m.advertisePeerURLs] : [httpsUrl(advertise, peerPort)],
    localClient: listenClient.find(isLoopbackUrl) ?? advertiseClient[0]!,
    listenMetrics: [...m.listenMetricsURLs],
  };
  return {
    name,
    dataDir: m.dataDir,
    walDir: m.walDir || undefined,
    advertiseAddress: isIP(advertise) ? normalizeIp(advertise) : advertise,
    bindAddress: bind,
    clientPort,
    peerPort,
    urls,
  };
}
