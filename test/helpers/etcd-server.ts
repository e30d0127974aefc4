/**
 * Real etcd servers for integration tests: one member or a small cluster, on 127.0.0.1 only, with free ports, in a
 * temp dir, optionally TLS-secured with a throwaway CA made by the `openssl` CLI. Test-only code.
 *
 * Exports:
 * - `makeTlsFixture(dir)` → TlsFixture: writes a throwaway CA (ca.crt/ca.key), a server/peer certificate valid for
 *   IP 127.0.0.1 and DNS localhost (server.crt/server.key, serverAuth+clientAuth) and a client certificate
 *   (client.crt/client.key, clientAuth) into `dir`, and returns their paths plus the PEM text of ca/client cert/key
 *   (ready for `EtcdClient.connect({ tls })`). `makeOtherCa(dir)` writes an unrelated CA (other-ca.crt) for
 *   wrong-CA tests.
 * - `freePorts(n)` → n distinct free TCP ports on 127.0.0.1; `closedPort()` → a port nothing listens on (connection
 *   refused), for "unreachable endpoint" tests.
 * - `startEtcd(opts?)` → EtcdServer: starts one real etcd (default 3.5.30, binary from etcdBinDir) as a new
 *   single-member cluster, or as `initialClusterState: 'existing'` joining member (pass `initialCluster` and the
 *   `ports` you gave to memberAdd, see `allocateMember`), and waits until GET /health answers (or, for a joining
 *   member, until it serves /health at all, since a learner may report unhealthy).
 * - `startEtcdCluster({ size, version, tls })` → EtcdCluster: `size` members (default 3) started together on distinct
 *   ports; waits until every member is healthy. `cluster.endpoints` are the client URLs in member order.
 * - EtcdServer: `{ name, version, clientURL, peerURL, metricsURL, dir, dataDir, logFile, tls?, pid }`,
 *   `halt()` stops the process (SIGTERM, then SIGKILL after 5 s) but keeps the data, `restart()` starts it again
 *   on the same ports and data, `stop()` kills it and removes its temp dir (idempotent), `log()` returns its output.
 * - `etcdctlEnv(server)` → [etcdctlPath, args...] prefix to run the matching etcdctl against the server (TLS flags
 *   included), for cross-checking results.
 *
 * Every process started here is also SIGKILLed, and every temp dir removed, when the test process exits (or gets
 * SIGINT/SIGTERM), so a failing test leaves nothing behind. Processes are only ever killed by their own PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdBinDir } from './etcd-bin.js';

export interface TlsFixture {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** PEM text of ca.crt, client.crt and client.key. */
  ca: string;
  cert: string;
  key: string;
}

export interface MemberPorts {
  client: number;
  peer: number;
  metrics: number;
}

export interface StartEtcdOptions {
  /** etcd version from the mirror (3.4.23, 3.5.16, 3.5.30). Default 3.5.30. */
  version?: string;
  /** `true` makes a fresh TLS fixture in the server's temp dir; a TlsFixture reuses one (e.g. for a cluster). */
  tls?: boolean | TlsFixture;
  name?: string;
  /** Ports to use; default: free ones. */
  ports?: MemberPorts;
  /** `name=peerURL,...`; default: this member alone. */
  initialCluster?: string;
  initialClusterState?: 'new' | 'existing';
  initialClusterToken?: string;
  /** Extra etcd flags. */
  extraArgs?: string[];
  /** How long to wait for the member to answer /health. Default 20 s. */
  startTimeoutMs?: number;
  /** Wait for /health to say healthy (default true unless initialClusterState is 'existing'). */
  waitHealthy?: boolean;
}

export interface EtcdServer {
  readonly name: string;
  readonly version: string;
  readonly clientURL: string;
  readonly peerURL: string;
  /** Plain-http metrics/health listener (--listen-metrics-urls). */
  readonly metricsURL: string;
  readonly ports: MemberPorts;
  readonly dir: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly tls: TlsFixture | undefined;
  /** PID of the running process, undefined while halted. */
  readonly pid: number | undefined;
  halt(): Promise<void>;
  /** Halt and start again; `env` adds ETCD_* variables for this start only (as etcd.env would). */
  restart(env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

export interface EtcdCluster {
  readonly members: EtcdServer[];
  /** Client URLs in member order. */
  readonly endpoints: string[];
  readonly tls: TlsFixture | undefined;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

// ---------------------------------------------------------------- cleanup on exit

const livePids = new Set<number>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function track(pid: number | undefined, dir?: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    const cleanup = (): void => {
      for (const pid of livePids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      livePids.clear();
      for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
      liveDirs.clear();
    };
    process.on('exit', cleanup);
    // 'exit' does not run when a signal ends the process (e.g. the test runner's timeout): clean up, then die of it.
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        cleanup();
        process.kill(process.pid, sig);
      });
    }
  }
  if (pid !== undefined) livePids.add(pid);
  if (dir !== undefined) liveDirs.add(dir);
}

// ---------------------------------------------------------------- TLS fixture (openssl CLI)

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, base: string, cn: string): void {
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`,
      '-out', `${base}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
}

function makeLeaf(dir: string, base: string, cn: string, ext: string): void {
  writeFileSync(join(dir, `${base}.ext`), ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`,
    '-out', `${base}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`], dir);
}

/** A throwaway CA plus server (IP 127.0.0.1, DNS localhost) and client certificates in `dir`. */
export function makeTlsFixture(dir: string): TlsFixture {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  makeCa(dir, 'ca', 'etcdadm-test-ca');
  makeLeaf(dir, 'server', 'etcdadm-test-server',
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  makeLeaf(dir, 'client', 'etcdadm-test-client',
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      'extendedKeyUsage=clientAuth\n');
  const f = (n: string): string => join(dir, n);
  return {
    dir,
    caFile: f('ca.crt'),
    caKeyFile: f('ca.key'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    ca: readFileSync(f('ca.crt'), 'utf8'),
    cert: readFileSync(f('client.crt'), 'utf8'),
    key: readFileSync(f('client.key'), 'utf8'),
  };
}

/** An unrelated CA certificate (other-ca.crt in `dir`) that signed nothing etcd uses. Returns its path. */
export function makeOtherCa(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  makeCa(dir, 'other-ca', 'etcdadm-test-other-ca');
  return join(dir, 'other-ca.crt');
}

// ---------------------------------------------------------------- ports

/**
 * Ports for test servers, chosen below the kernel's ephemeral range (net.ipv4.ip_local_port_range): the kernel never
 * hands those out for outgoing connections or `listen(0)`, so a port found free here stays free until the test's own
 * etcd binds it, even though the probe socket is closed first. Each process starts at its own offset.
 */
function portRange(): { low: number; high: number } {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    /* not Linux: keep the usual default */
  }
  return { low: 20000, high: Math.min(ephemeralLow, 32768) - 1 };
}
const RANGE = portRange();
let nextPort = RANGE.low + ((process.pid * 97) % Math.max(1, RANGE.high - RANGE.low));

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true));
    s.listen({ port, host: HOST, exclusive: true }, () => s.close(() => resolve(false)));
  });
}

/** `n` distinct free ports on 127.0.0.1, outside the ephemeral range (see above). */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > 5000) throw new Error('no free port below the ephemeral range');
    const p = nextPort;
    nextPort = nextPort >= RANGE.high ? RANGE.low : nextPort + 1;
    if (!(await listens(p))) ports.push(p);
  }
  return ports;
}

/** A port on 127.0.0.1 where nothing listens: connecting to it is refused at once (nothing will take it meanwhile). */
export async function closedPort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** Ports and URLs for a member that is yet to be added with memberAdd and then started with startEtcd. */
export async function allocateMember(tls: boolean): Promise<{ ports: MemberPorts; peerURL: string; clientURL: string }> {
  const [client, peer, metrics] = (await freePorts(3)) as [number, number, number];
  const scheme = tls ? 'https' : 'http';
  return {
    ports: { client, peer, metrics },
    peerURL: `${scheme}://${HOST}:${peer}`,
    clientURL: `${scheme}://${HOST}:${client}`,
  };
}

// ---------------------------------------------------------------- health probe

function getHealth(url: string, tls: TlsFixture | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL('/health', url);
    const opts = { timeout: 2000, ...(u.protocol === 'https:' && tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------- one member

class Member implements EtcdServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stopped = false;

  constructor(
    readonly name: string,
    readonly version: string,
    readonly ports: MemberPorts,
    readonly dir: string,
    readonly tls: TlsFixture | undefined,
    private readonly args: string[],
    private readonly ownsDir: boolean,
  ) {}

  get clientURL(): string {
    return `${this.tls ? 'https' : 'http'}://${HOST}:${this.ports.client}`;
  }
  get peerURL(): string {
    return `${this.tls ? 'https' : 'http'}://${HOST}:${this.ports.peer}`;
  }
  get metricsURL(): string {
    return `http://${HOST}:${this.ports.metrics}`;
  }
  get dataDir(): string {
    return join(this.dir, 'data');
  }
  get logFile(): string {
    return join(this.dir, 'etcd.log');
  }
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  spawnProcess(env: Record<string, string> = {}): void {
    const fd = openSync(this.logFile, 'a');
    try {
      const child = spawn(join(etcdBinDir(this.version), 'etcd'), this.args, {
        stdio: ['ignore', fd, fd],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, // no ETCD_* from the caller's environment
      });
      this.child = child;
      this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
      child.once('exit', () => child.pid !== undefined && livePids.delete(child.pid));
      track(child.pid);
    } finally {
      closeSync(fd);
    }
  }

  async waitReady(timeoutMs: number, healthy: boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.pid === undefined) {
        throw new Error(`etcd ${this.name} (${this.version}) exited during start: ${last}\n${this.log().slice(-3000)}`);
      }
      try {
        const { status, body } = await getHealth(this.clientURL, this.tls);
        last = `${status} ${body}`;
        if (!healthy || (status === 200 && body.includes('"health":"true"'))) return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd ${this.name} (${this.version}) not ready after ${timeoutMs}ms: ${last}\n${this.log().slice(-3000)}`);
  }

  async halt(): Promise<void> {
    const child = this.child;
    if (!child || this.pid === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, 5000);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(env?: Record<string, string>): Promise<void> {
    if (this.stopped) throw new Error(`etcd ${this.name} was stopped (its dir is gone)`);
    await this.halt();
    this.spawnProcess(env);
    await this.waitReady(20_000, false);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.child;
    if (child && this.pid !== undefined) {
      child.kill('SIGKILL');
      await this.exited;
    }
    if (this.ownsDir) {
      rmSync(this.dir, { recursive: true, force: true });
      liveDirs.delete(this.dir);
    } else {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

function etcdArgs(m: {
  name: string;
  dataDir: string;
  clientURL: string;
  peerURL: string;
  metricsURL: string;
  version: string;
  tls: TlsFixture | undefined;
  initialCluster: string;
  state: 'new' | 'existing';
  token: string;
  extra: string[];
}): string[] {
  const args = [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${m.clientURL}`,
    `--advertise-client-urls=${m.clientURL}`,
    `--listen-peer-urls=${m.peerURL}`,
    `--initial-advertise-peer-urls=${m.peerURL}`,
    `--listen-metrics-urls=${m.metricsURL}`,
    `--initial-cluster=${m.initialCluster}`,
    `--initial-cluster-state=${m.state}`,
    `--initial-cluster-token=${m.token}`,
    '--heartbeat-interval=50',
    '--election-timeout=500',
    '--logger=zap',
    '--log-level=warn',
  ];
  if (m.tls) {
    args.push(
      `--cert-file=${m.tls.serverCertFile}`,
      `--key-file=${m.tls.serverKeyFile}`,
      `--trusted-ca-file=${m.tls.caFile}`,
      '--client-cert-auth=true',
      `--peer-cert-file=${m.tls.serverCertFile}`,
      `--peer-key-file=${m.tls.serverKeyFile}`,
      `--peer-trusted-ca-file=${m.tls.caFile}`,
      '--peer-client-cert-auth=true',
    );
  }
  return [...args, ...m.extra];
}

async function createMember(opts: StartEtcdOptions, fixtureDir?: string): Promise<Member> {
  const version = opts.version ?? '3.5.30';
  etcdBinDir(version); // extract first, so that a missing mirror fails before a temp dir exists
  const dir = mkdtempSync(join(tmpdir(), 'etcdadm-etcd-'));
  track(undefined, dir);
  try {
    let tls: TlsFixture | undefined;
    if (opts.tls === true) tls = makeTlsFixture(fixtureDir ?? join(dir, 'pki'));
    else if (opts.tls) tls = opts.tls;
    const ports = opts.ports ?? (await allocateMember(false)).ports;
    const name = opts.name ?? 'etcd-0';
    const scheme = tls ? 'https' : 'http';
    const peerURL = `${scheme}://${HOST}:${ports.peer}`;
    const args = etcdArgs({
      name,
      dataDir: join(dir, 'data'),
      clientURL: `${scheme}://${HOST}:${ports.client}`,
      peerURL,
      metricsURL: `http://${HOST}:${ports.metrics}`,
      version,
      tls,
      initialCluster: opts.initialCluster ?? `${name}=${peerURL}`,
      state: opts.initialClusterState ?? 'new',
      token: opts.initialClusterToken ?? 'etcdadm-test',
      extra: opts.extraArgs ?? [],
    });
    return new Member(name, version, ports, dir, tls, args, true);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}

/** Start one real etcd on 127.0.0.1 and wait until it answers /health. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  const m = await createMember(opts);
  try {
    m.spawnProcess();
    const healthy = opts.waitHealthy ?? (opts.initialClusterState ?? 'new') === 'new';
    await m.waitReady(opts.startTimeoutMs ?? 20_000, healthy);
    return m;
  } catch (err) {
    await m.stop();
    throw err;
  }
}

/** Start a `size`-member cluster (default 3) on 127.0.0.1 and wait until every member is healthy. */
export async function startEtcdCluster(
  opts: { size?: number; version?: string; tls?: boolean | TlsFixture; startTimeoutMs?: number; extraArgs?: string[] } = {},
): Promise<EtcdCluster> {
  const size = opts.size ?? 3;
  const ports = await freePorts(size * 3);
  const scheme = opts.tls ? 'https' : 'http';
  let sharedDir: string | undefined;
  let tls: TlsFixture | undefined;
  if (opts.tls === true) {
    sharedDir = mkdtempSync(join(tmpdir(), 'etcdadm-pki-'));
    track(undefined, sharedDir);
    tls = makeTlsFixture(sharedDir);
  } else if (opts.tls) {
    tls = opts.tls;
  }
  const memberPorts: MemberPorts[] = [];
  for (let i = 0; i < size; i++) {
    memberPorts.push({ client: ports[i * 3]!, peer: ports[i * 3 + 1]!, metrics: ports[i * 3 + 2]! });
  }
  const initialCluster = memberPorts.map((p, i) => `etcd-${i}=${scheme}://${HOST}:${p.peer}`).join(',');
  const token = `etcdadm-test-${process.pid}-${ports[0]}`;
  const members: Member[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.stop()));
    if (sharedDir) {
      rmSync(sharedDir, { recursive: true, force: true });
      liveDirs.delete(sharedDir);
    }
  };
  try {
    for (let i = 0; i < size; i++) {
      members.push(
        await createMember({
          version: opts.version,
          tls,
          name: `etcd-${i}`,
          ports: memberPorts[i],
          initialCluster,
          initialClusterToken: token,
          extraArgs: opts.extraArgs,
        }),
      );
    }
    for (const m of members) m.spawnProcess();
    await Promise.all(members.map((m) => m.waitReady(opts.startTimeoutMs ?? 30_000, true)));
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    members,
    endpoints: members.map((m) => m.clientURL),
    tls,
    stop: cleanup,
  };
}

/** `[etcdctl, ...flags]` to run the matching etcdctl against `server` (API v3, TLS flags when it has TLS). */
export function etcdctlEnv(server: EtcdServer): string[] {
  const out = [join(etcdBinDir(server.version), 'etcdctl'), `--endpoints=${server.clientURL}`];
  if (server.tls) {
    out.push(`--cacert=${server.tls.caFile}`, `--cert=${server.tls.clientCertFile}`, `--key=${server.tls.clientKeyFile}`);
  }
  return out;
}
