/**
 * A Cluster document (kind Cluster, `etcdadm apply -f`) resolved once into what apply acts on: for each host how to
 * reach it (ssh: its own over the document's over OpenSSH's defaults) and the settings its member is set up with (the
 * document's sections, its own hosts[].member over them, and its address as the member's bind address when the
 * address is an IP). Which hosts hold the CA key: those marked caHolder, else the first host only. Pure.
 */
import { isIP } from 'node:net';
import { SSH_DEFAULTS, type ConfigDocument } from './document.js';
import type { PartialSettings } from './settings.js';

export interface SshTarget {
  /** What ssh connects to: an IP address, a host name or an ~/.ssh/config alias. */
  address: string;
  user: string;
  port: number;
  /** Absolute (~ expanded); undefined: OpenSSH's own choice (agent, ~/.ssh/config, default keys). */
  identityFile?: string;
  knownHostsFile: string;
  proxyJump?: string;
}

export interface ClusterHostSpec {
  /** Position in the document (hosts[i]), for messages. */
  index: number;
  address: string;
  /** The member name when the document gives one; else the host's hostname (learned when apply reads the host). */
  name?: string;
  caHolder: boolean;
  ssh: SshTarget;
  /** This host's settings layer: the document's sections with its own member fields over them. */
  settings: PartialSettings;
}

export interface ClusterSpec {
  hosts: ClusterHostSpec[];
  /** The sections every host shares (the document without ssh and hosts). */
  settings: PartialSettings;
}

function expandHome(path: string, home: string): string {
  return path.startsWith('~/') ? `${home.replace(/\/+$/, '')}/${path.slice(2)}` : path;
}

/** The document as apply acts on it; `home`: the operator's home directory, for `~/` paths. */
export function resolveCluster(doc: ConfigDocument, home: string): ClusterSpec {
  if (doc.kind !== 'Cluster' || !doc.hosts) throw new Error(`resolveCluster: a ${doc.kind} document is not a Cluster document`);
  const { apiVersion: _a, kind: _k, ssh, hosts, ...sections } = doc;
  const settings = sections as PartialSettings;
  const anyHolder = hosts.some((h) => h.caHolder === true);
  return {
    settings,
    hosts: hosts.map((h, index) => {
      const s = { ...SSH_DEFAULTS, ...ssh, ...h.ssh };
      const member = { ...settings.member, ...h.member, ...(h.name ? { name: h.name } : {}) };
      const ip = h.address.replace(/^\[(.*)\]$/, '$1');
      if (isIP(ip) && member.bindAddress === undefined) member.bindAddress = ip;
      return {
        index,
        address: h.address,
        ...(h.name ? { name: h.name } : {}),
        caHolder: anyHolder ? h.caHolder === true : index === 0,
        ssh: {
          address: h.address,
          user: s.user,
          port: s.port,
          ...(s.identityFile ? { identityFile: expandHome(s.identityFile, home) } : {}),
          knownHostsFile: expandHome(s.knownHostsFile || SSH_DEFAULTS.knownHostsFile, home),
          ...(s.proxyJump ? { proxyJump: s.proxyJump } : {}),
        },
        settings: { ...settings, member },
      };
    }),
  };
}
