/**
 * A stand-in for the kubelet, for the e2e tests of `--init-system kubelet`: no kubelet is packaged for Debian and
 * container runtimes cannot start containers on these machines, so this runs what the static Pod manifest says
 * instead — on the host, in the host's network namespace (the Pod has hostNetwork), with the image tag's etcd binary
 * from the release mirror as the container's command, the manifest's args and env (and nothing else), and the
 * hostPath volumes as they are (a mount whose mountPath is not its hostPath cannot be emulated and fails). It runs
 * the Pod's probes (httpGet) and restarts the container when the liveness probe fails as the kubelet would.
 * Not covered: image pulls, cgroups and resources, seccomp, the API server's mirror Pod.
 *
 *   node kubelet-standin.js <manifest dir> <mirror dir> <work dir>
 *
 * It writes <work dir>/status.json (what it runs and the probes' last results) and <work dir>/etcd.log.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { parse } from 'yaml';

interface Probe {
  httpGet?: { host?: string; port: number; path?: string; scheme?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: Probe;
  startupProbe?: Probe;
}
interface Pod {
  apiVersion: string;
  kind: string;
  spec: { hostNetwork?: boolean; containers: Container[]; volumes?: { name: string; hostPath?: { path: string; type?: string } }[] };
}

const [manifestDir, mirrorDir, workDir] = process.argv.slice(2) as [string, string, string];
mkdirSync(workDir, { recursive: true });

interface Running {
  manifest: string;
  text: string;
  child: ChildProcess;
  probes: Record<string, { ok: boolean; detail: string; failures: number }>;
  restarts: number;
  error?: string;
}
let running: Running | undefined;
let problem: string | undefined;

function writeStatus(): void {
  const s = running
    ? { manifest: running.manifest, pid: running.child.pid, exited: running.child.exitCode, restarts: running.restarts, probes: running.probes }
    : { manifest: null, problem: problem ?? null };
  writeFileSync(join(workDir, 'status.json.tmp'), JSON.stringify(s));
  execFileSync('mv', [join(workDir, 'status.json.tmp'), join(workDir, 'status.json')]);
}

/** The etcd binary of an image such as quay.io/coreos/etcd:v3.5.30, from the mirror (extracted once). */
function binaryOf(image: string): string {
  const m = /:v(\d+\.\d+\.\d+)$/.exec(image);
  if (!m) throw new Error(`image ${image} has no vX.Y.Z tag`);
  const dir = join(workDir, 'images', m[1]!);
  if (!existsSync(join(dir, 'etcd'))) {
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xzf', join(mirrorDir, `v${m[1]}`, `etcd-v${m[1]}-linux-amd64.tar.gz`), '-C', dir, '--strip-components=1']);
  }
  return join(dir, 'etcd');
}

/** What the Pod would run, or why it cannot be run as written. */
function plan(pod: Pod): { bin: string; args: string[]; env: NodeJS.ProcessEnv; container: Container } {
  if (pod.apiVersion !== 'v1' || pod.kind !== 'Pod') throw new Error(`not a v1 Pod: ${pod.apiVersion} ${pod.kind}`);
  if (pod.spec.hostNetwork !== true) throw new Error('the Pod does not use the host network: etcd would not be reachable at the host address');
  const c = pod.spec.containers[0];
  if (!c || pod.spec.containers.length !== 1) throw new Error('expected exactly one container');
  const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  for (const vm of c.volumeMounts ?? []) {
    const v = volumes.get(vm.name);
    if (!v?.hostPath) throw new Error(`volumeMount ${vm.name} has no hostPath volume`);
    if (v.hostPath.path !== vm.mountPath) throw new Error(`volume ${vm.name}: mountPath ${vm.mountPath} is not its hostPath ${v.hostPath.path}`);
    if (v.hostPath.type === 'DirectoryOrCreate') mkdirSync(v.hostPath.path, { recursive: true });
    else if (v.hostPath.type === 'FileOrCreate' && !existsSync(v.hostPath.path)) writeFileSync(v.hostPath.path, '', { mode: 0o644 });
    else if (!existsSync(v.hostPath.path)) throw new Error(`hostPath ${v.hostPath.path} does not exist`);
  }
  const [cmd, ...cmdArgs] = c.command ?? [];
  // the etcd images have etcd at /usr/local/bin/etcd, on their PATH (etcdadm v0.1.x's Pod runs plain `etcd`)
  if (cmd !== '/usr/local/bin/etcd' && cmd !== 'etcd') throw new Error(`command ${cmd}: the etcd images run /usr/local/bin/etcd`);
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  for (const e of c.env ?? []) {
    if (typeof e.value !== 'string') throw new Error(`env ${e.name} is not a string value`);
    env[e.name] = e.value;
  }
  return { bin: binaryOf(c.image), args: [...cmdArgs, ...(c.args ?? [])], env, container: c };
}

function httpProbe(p: Probe): Promise<{ ok: boolean; detail: string }> {
  const g = p.httpGet!;
  return new Promise((resolve) => {
    const req = request({ host: g.host ?? '127.0.0.1', port: g.port, path: g.path ?? '/', timeout: (p.timeoutSeconds ?? 1) * 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400, detail: `${res.statusCode} ${body.trim().slice(0, 200)}` }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, detail: e.message }));
    req.end();
  });
}

function start(manifest: string, text: string): void {
  problem = undefined;
  let p;
  try {
    p = plan(parse(text) as Pod);
  } catch (err) {
    problem = `${manifest}: ${(err as Error).message}`;
    writeStatus();
    return;
  }
  const log = openSync(join(workDir, 'etcd.log'), 'a');
  const child = spawn(p.bin, p.args, { env: p.env, cwd: '/', stdio: ['ignore', log, log] });
  const r: Running = { manifest, text, child, probes: {}, restarts: running?.manifest === manifest ? running.restarts : 0 };
  running = r;
  const started = Date.now();
  let startupDone = !p.container.startupProbe;
  const tick = async (): Promise<void> => {
    if (running !== r || child.exitCode !== null) return;
    for (const [kind, probe] of [['startup', p.container.startupProbe], ['liveness', p.container.livenessProbe]] as const) {
      if (!probe?.httpGet) continue;
      if (kind === 'liveness' && !startupDone) continue;
      if (Date.now() - started < (probe.initialDelaySeconds ?? 0) * 1000) continue;
      const res = await httpProbe(probe);
      const prev = r.probes[kind]?.failures ?? 0;
      r.probes[kind] = { ...res, failures: res.ok ? 0 : prev + 1 };
      if (kind === 'startup' && res.ok) startupDone = true;
      if (!res.ok && r.probes[kind]!.failures >= (probe.failureThreshold ?? 3)) {
        r.restarts++;
        child.kill('SIGTERM');
      }
    }
    writeStatus();
  };
  const timer = setInterval(() => void tick(), 1000);
  child.on('exit', () => {
    clearInterval(timer);
    writeStatus();
    // the kubelet restarts the container (restartPolicy Always) while the manifest is there
    if (running === r) setTimeout(() => running === r && start(manifest, text), 1000);
  });
  writeStatus();
}

function stop(): void {
  const r = running;
  running = undefined;
  if (r && r.child.exitCode === null) r.child.kill('SIGTERM');
  writeStatus();
}

setInterval(() => {
  // like the kubelet, every file of the dir but hidden ones is a static Pod, whatever its name (etcdadm writes
  // etcd.yaml, etcdadm v0.1.x etcd.manifest); this stand-in runs one Pod, so a second file is a problem it reports
  const files = existsSync(manifestDir) ? readdirSync(manifestDir).filter((f) => !f.startsWith('.')).sort() : [];
  if (files.length > 1) {
    if (running) stop();
    problem = `${files.length} static Pods in ${manifestDir} (${files.join(', ')}): etcd's would run twice`;
    writeStatus();
    return;
  }
  const manifest = files[0] !== undefined ? join(manifestDir, files[0]) : undefined;
  if (!manifest) {
    if (running) stop();
    return;
  }
  const text = readFileSync(manifest, 'utf8');
  if (running?.manifest === manifest && running.text === text) return;
  if (running) {
    const old = running;
    running = undefined;
    old.child.once('exit', () => start(manifest, text));
    old.child.kill('SIGTERM');
    return;
  }
  start(manifest, text);
}, 200);
writeStatus();
process.on('SIGTERM', () => {
  stop();
  process.exit(0);
});
