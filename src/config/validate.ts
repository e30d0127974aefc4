/** Checks of single values that the resolver and the config-file schema share. Pure. */

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i;

/** Member names end up in DNS SANs and in ETCD_INITIAL_CLUSTER (name=url,...): DNS-1123 subdomains only. */
export function validateMemberName(name: string): string | undefined {
  if (!name) return 'must not be empty';
  if (name.length > 253) return 'must be at most 253 characters';
  if (!name.split('.').every((l) => LABEL.test(l)))
    return 'must be a DNS name: letters, digits, "-" and ".", each dot-separated part starting and ending with a letter or digit';
  return undefined;
}

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/;

export function parseVersion(v: string): { major: number; minor: number; patch: number; pre?: string } | undefined {
  const m = VERSION.exec(v.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), ...(m[4] ? { pre: m[4].slice(1) } : {}) };
}

export function normalizeVersion(v: string): string {
  return v.trim().replace(/^v/, '');
}


/** A systemd [Service] priority setting etcdadm accepts for --disk-priorities. */
export const DISK_PRIORITY = /^(Nice|IOSchedulingClass|IOSchedulingPriority|CPUSchedulingPolicy|CPUSchedulingPriority|CPUWeight|IOWeight)=\S+$/;
