/**
 * The file tree the phases of init, join and reset leave on a host, normalized so that a lab host's (read with
 * find(1), e2e) and a MemoryHost's (unit) compare: paths, kinds, modes, owners, symlink targets, and the contents of
 * the files whose contents are stable (etcd.env with its random cluster token masked, the systemd unit). Keys,
 * certificates, the host record and the binaries differ from run to run, so only their kind, mode and owner count.
 */
export interface TreeEntry {
  path: string;
  kind: string;
  mode: number;
  uid: number;
  gid: number;
  target?: string;
  content?: string;
}

export const TREE_VERSION = '3.6.16';

/** Where the phases write: etcdadm's config dir, the data dir, the unit, the binaries and their links. */
export const TREE_ROOTS = [
  '/etc/etcd',
  '/var/lib/etcd',
  '/etc/systemd/system/etcd.service',
  '/opt/bin/etcd',
  '/opt/bin/etcdctl',
  '/opt/bin/etcdutl',
  `/opt/bin/etcd-v${TREE_VERSION}`,
];

const STABLE = new Set(['/etc/etcd/etcd.env', '/etc/systemd/system/etcd.service']);
const VERSION_DIR = `/opt/bin/etcd-v${TREE_VERSION}`;

export function normalizeTree(entries: readonly TreeEntry[]): TreeEntry[] {
  return entries
    .filter((e) => !e.path.startsWith(`${VERSION_DIR}/`) || /\/(etcd|etcdctl|etcdutl)$/.test(e.path))
    .map((e) => {
      const out: TreeEntry = { path: e.path, kind: e.kind, mode: e.mode, uid: e.uid, gid: e.gid, ...(e.target !== undefined ? { target: e.target } : {}) };
      // the cluster token is random; GOMAXPROCS is the host's CPU count
      if (e.content !== undefined && STABLE.has(e.path))
        out.content = e.content.replace(/^ETCD_INITIAL_CLUSTER_TOKEN=.*$/m, 'ETCD_INITIAL_CLUSTER_TOKEN=<random>').replace(/^GOMAXPROCS=\d+$/m, 'GOMAXPROCS=<cpus>');
      return out;
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A shell command that prints the tree of TREE_ROOTS on a host (find -printf), then each stable file's contents. */
export function treeScript(): string {
  const roots = TREE_ROOTS.join(' ');
  const cat = [...STABLE].map((f) => `if [ -f ${f} ]; then printf '@@ %s\\n' ${f}; cat ${f}; fi`).join('; ');
  return `for r in ${roots}; do if [ -e "$r" ] || [ -L "$r" ]; then find "$r" -printf '%p\\t%y\\t%m\\t%U\\t%G\\t%l\\n'; fi; done; echo '@@@'; ${cat}`;
}

/** The output of treeScript as entries. */
export function parseTreeScript(out: string): TreeEntry[] {
  const [listing = '', files = ''] = out.split('@@@\n');
  const contents = new Map<string, string>();
  for (const part of files.split(/^@@ /m).filter(Boolean)) {
    const nl = part.indexOf('\n');
    contents.set(part.slice(0, nl), part.slice(nl + 1));
  }
  const kinds: Record<string, string> = { f: 'file', d: 'dir', l: 'symlink' };
  return normalizeTree(
    listing
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [path, y, m, u, g, l] = line.split('\t');
        return {
          path: path!,
          kind: kinds[y!] ?? 'other',
          mode: y === 'l' ? 0o777 : parseInt(m!, 8),
          uid: Number(u),
          gid: Number(g),
          ...(y === 'l' ? { target: l! } : {}),
          ...(contents.has(path!) ? { content: contents.get(path!)! } : {}),
        };
      }),
  );
}
