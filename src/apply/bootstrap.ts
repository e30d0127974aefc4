/**
 * How `apply` bootstraps a new cluster on bare hosts, as the etcdadm commands each host runs (pure): every member
 * started together with the full initial cluster and one token (etcd's static bootstrap, `init --initial-cluster`),
 * no join by join. The CA is made on the first CA holder alone (`init phase certificates`); the other CA holders
 * receive ca.crt and ca.key from it (host to host through the operator's memory, never its disk); every other host
 * receives only its own certificates, signed on that holder (`certs bundle`), written 0600 and removed after its init.
 * Then init runs on every host at once.
 */

export interface BootstrapHost {
  name: string;
  /** The peer URLs its member advertises (its plan's), in the initial cluster. */
  peerURLs: string[];
  /** The address its certificates carry (its plan's advertise address). */
  address: string;
  caHolder: boolean;
  /** Its configuration document on the host (apply writes it: the Cluster document's sections for this host). */
  configPath: string;
}

export interface BootstrapStep {
  /** `ca`: the CA on the first holder; `copy-ca`: to the other holders; `bundle`: a host's certificates signed on the
   * first holder; `init`: every host at once. */
  kind: 'ca' | 'copy-ca' | 'bundle' | 'init';
  /** The host the command runs on (copy-ca: the one receiving). */
  host: string;
  /** The etcdadm arguments (without the executable); none for copy-ca. */
  args: string[];
  /** bundle: the host the bundle is for, and where it goes there (0600). */
  for?: string;
  bundlePath?: string;
}

/** Where a host's bundle is written on it during a bootstrap (0600; removed after its init). */
export const bundlePath = (name: string) => `/etc/etcdadm/apply-${name}.bundle`;

/** `name=https://…:2380,…` in the document's order. */
export function initialClusterText(hosts: readonly Pick<BootstrapHost, 'name' | 'peerURLs'>[]): string {
  return hosts.flatMap((h) => h.peerURLs.map((u) => `${h.name}=${u}`)).join(',');
}

/** The steps of a bootstrap, in order (the `init` steps run in parallel). Pure. */
export function bootstrapSteps(hosts: readonly BootstrapHost[], token: string, extra: readonly string[] = []): BootstrapStep[] {
  const holders = hosts.filter((h) => h.caHolder);
  const first = holders[0];
  if (!first) throw new Error('bootstrapSteps: no CA holder');
  const cluster = ['--initial-cluster', initialClusterText(hosts), '--cluster-token', token];
  const steps: BootstrapStep[] = [{ kind: 'ca', host: first.name, args: ['init', 'phase', 'certificates', '--config', first.configPath, ...cluster, ...extra] }];
  for (const h of holders.slice(1)) steps.push({ kind: 'copy-ca', host: h.name, args: [] });
  for (const h of hosts.filter((x) => !x.caHolder))
    steps.push({
      kind: 'bundle',
      host: first.name,
      for: h.name,
      bundlePath: bundlePath(h.name),
      args: ['certs', 'bundle', '--name', h.name, '--address', h.address, '--output', '-'],
    });
  for (const h of hosts)
    steps.push({ kind: 'init', host: h.name, args: ['init', '--config', h.configPath, ...cluster, ...(h.caHolder ? [] : ['--certs-bundle', bundlePath(h.name)]), ...extra] });
  return steps;
}
