/**
 * init's phases up to start, join's certificates phase and reset's cleanup, run against MemoryHosts exactly as the
 * CLI runs them (the same plans, the same phase lists, the same runner), and the trees they leave, normalized the way
 * the e2e test normalizes a lab host's (tree.ts). Run as a program (`node memory-run.js`), it prints the trees as JSON:
 * the unit test runs it as an unprivileged user, so that any write that bypassed the Host would fail.
 */
import { createHash } from 'node:crypto';
import { flagsLayer } from '../../src/cli/flags.js';
import { resolvePlan } from '../../src/config/plan/index.js';
import type { HostFacts, Plan } from '../../src/config/types.js';
import type { ExecResult } from '../../src/host/host.js';
import { MemoryHost } from '../../src/host/memory.js';
import { HostRecord } from '../../src/host/record.js';
import { Logger } from '../../src/log/logger.js';
import { INIT_PHASES, type InitOptions } from '../../src/phases/init.js';
import { RESET_PHASES, type ResetOptions } from '../../src/phases/reset.js';
import { certificatesPhase } from '../../src/phases/shared.js';
import { createRunContext, joinEndpoints } from '../../src/run/context.js';
import { runPhases } from '../../src/run/runner.js';
import { tarGz } from './host-contract.js';
import { normalizeTree, TREE_ROOTS, type TreeEntry } from './tree.js';

const VERSION = '3.6.16';
const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });

/** The lab's host i as facts: hostname eahost<i>, eth0 10.88.0.<i> with the default route. */
export function labFacts(i: number): HostFacts {
  return {
    hostname: `eahost${i}`,
    addresses: [
      { iface: 'lo', address: '127.0.0.1', family: 4, internal: true },
      { iface: 'eth0', address: `10.88.0.${i}`, family: 4, internal: false },
    ],
    defaultRouteIfaces: ['eth0'],
    cpus: 2,
  };
}

/** What the programs etcdadm runs answer on a fresh Debian host with systemd: etcd --version from its file. */
function programs(cmd: string, args: string[], _o: unknown, host: MemoryHost): ExecResult | Promise<ExecResult> | undefined {
  if (cmd === 'systemctl') {
    if (args[0] === 'is-active') return { code: 3, stdout: 'inactive\n', stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  }
  if (cmd === 'getent') return { code: 2, stdout: '', stderr: '' };
  if (args[0] === '--version')
    return host.read(cmd).then((text) => {
      const v = /^#!fake etcd (\S+)/.exec(text ?? '')?.[1];
      return v ? { code: 0, stdout: `etcd Version: ${v}\nGit SHA: fake\n`, stderr: '' } : { code: 127, stdout: '', stderr: `${cmd}: not found` };
    });
  return undefined;
}

/** A host with the release served from a local directory (file:///srv/mirror, as a mirror lays it out). */
async function hostWithRelease(i: number): Promise<MemoryHost> {
  const host = new MemoryHost({ name: `eahost${i}`, facts: labFacts(i), exec: programs, portsInUse: [] });
  const name = `etcd-v${VERSION}-linux-amd64`;
  const archive = tarGz([
    { path: `${name}/`, type: 'dir' },
    ...['etcd', 'etcdctl', 'etcdutl'].map((b) => ({ path: `${name}/${b}`, data: `#!fake etcd ${VERSION}\n${b}\n`, mode: 0o755 })),
    { path: `${name}/README.md`, data: 'etcd\n' },
  ]);
  await host.write(`/srv/mirror/v${VERSION}/${name}.tar.gz`, archive);
  await host.write(`/srv/mirror/v${VERSION}/SHA256SUMS`, `${createHash('sha256').update(archive).digest('hex')}  ${name}.tar.gz\n`);
  return host;
}

function planFor(i: number, set: 'init' | 'join', extra: Record<string, unknown> = {}): Plan {
  return resolvePlan([flagsLayer({ releaseUrl: 'file:///srv/mirror', version: VERSION, ...extra }, set, set === 'join' ? { join: { endpoints: ['https://10.88.0.1:2379'] } } : {})], labFacts(i));
}

async function tree(host: MemoryHost): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for (const root of TREE_ROOTS)
    for (const e of await host.tree(root)) out.push({ ...e, ...(e.kind === 'file' ? { content: (await host.read(e.path)) ?? '' } : {}) });
  return normalizeTree(out);
}

export interface PhaseTrees {
  /** init --skip-phases start and every phase after it. */
  init: TreeEntry[];
  /** join phase certificates, on a host with ca.crt and ca.key copied. */
  joinCertificates: TreeEntry[];
  /** reset phase cleanup after that init (the cluster unreachable: nothing else to prove). */
  resetCleanup: TreeEntry[];
}

export async function runInMemory(): Promise<PhaseTrees> {
  const h1 = await hostWithRelease(1);
  const initPlan = planFor(1, 'init');
  const upToStart = INIT_PHASES.slice(0, INIT_PHASES.findIndex((p) => p.name === 'start'));
  const initCtx = createRunContext<InitOptions>({ command: 'init', plan: initPlan, record: HostRecord.empty(h1), host: h1, log: quiet, out: () => undefined, options: { force: false }, endpoints: (p) => [p.member.urls.localClient], rollback: true });
  await runPhases(initCtx, upToStart, { rollbackOnFailure: true });
  const init = await tree(h1);

  const h2 = await hostWithRelease(2);
  for (const f of ['ca.crt', 'ca.key']) await h2.write(`/etc/etcd/pki/${f}`, (await h1.readBytes(`/etc/etcd/pki/${f}`))!, { mode: f.endsWith('.key') ? 0o600 : 0o644 });
  const joinPlan = planFor(2, 'join');
  const joinCtx = createRunContext<{ certsBundle?: string }>({ command: 'join', plan: joinPlan, record: HostRecord.empty(h2), host: h2, log: quiet, out: () => undefined, options: {}, endpoints: (p) => joinEndpoints(p) });
  await runPhases(joinCtx, [certificatesPhase(false)]);
  const joinCertificates = await tree(h2);

  const record = await HostRecord.load(h1);
  const resetCtx = createRunContext<ResetOptions>({ command: 'reset', plan: initPlan, record, host: h1, log: quiet, out: () => undefined, options: { force: true, skipRemoveMember: true }, endpoints: (p) => [p.member.urls.localClient] });
  await runPhases(resetCtx, RESET_PHASES.filter((p) => p.name === 'cleanup'));
  const resetCleanup = await tree(h1);
  return { init, joinCertificates, resetCleanup };
}

// as a program (`memory-run.js`, or bundled with the argument `run`): the trees as JSON on stdout
if (process.argv[1]?.endsWith('memory-run.js') || process.argv[2] === 'run')
  runInMemory().then(
    (t) => process.stdout.write(`${JSON.stringify(t)}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
