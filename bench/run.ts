/**
 * Benchmarks (not tests): measured in one run on lab hosts, printed as numbers and ratios.
 *
 *   startup    the shipped executable's `--help` and `version` against an empty executable made the same way (target:
 *              <= 80 ms above it), and against the Go etcdadm's `--help` when ETCDADM_GO=/path names one
 *   init       wall time with the archive cached, split by phase; process start to the first phase (target <= 100
 *              ms above the empty executable); installing the cached release (target <= 50 ms); time waiting on
 *              systemctl and on etcd; what is left (etcdadm's own work; target <= 250 ms) — and the same etcd
 *              binary's own exec-to-healthy time started by hand, as the floor init is compared with
 *   status     `etcdadm status` on a 5-member cluster against `etcdctl endpoint status --cluster` on the same host
 *              (target <= 3x)
 *   pki        full PKI generation per key algorithm (target: ECDSA <= 50 ms)
 *   cluster    a 3-host cluster (init + 2 learner-first joins, archive cached), each join split by phase and by time
 *              waiting on etcd; on real systemd, its distance from etcd's own floor (three etcd starts and the 5 s a
 *              member add waits for every voter to have been connected; target <= 1.5 s)
 *   upgrade    `upgrade apply` 3.5.30 -> 3.6.16 on a follower (archive cached): wall time, split by phase; the time
 *              the member does not serve (stop -> healthy); the same etcd restarted by hand with the new binary;
 *              etcdadm's own work beyond that restart, snapshot excluded (target <= 0.5 s)
 *   snapshot   one member holding about 1 GiB: `etcdadm snapshot save` against `etcdctl snapshot save` of the same
 *              member (throughput ratio, target >= 1.0; best of 3 each, alternating), and `init --snapshot` of that
 *              file on another host against `etcdutl snapshot restore` of it (the restore phase, target <= 1.1x;
 *              verification included, and the whole init)
 *   defrag     `etcdadm defrag` of one member holding about 1 GiB (1 GiB of values put, half of them deleted and
 *              compacted: mostly free pages) against `etcdctl defrag` of the same member (ratio etcdadm / etcdctl,
 *              best of 3 each, alternating, refilled identically before each); a plain TLS etcd on 127.0.0.1, no lab
 *
 *   apply      3 and 5 bare real-systemd hosts to a healthy cluster with `etcdadm apply -f` from this machine over SSH
 *              (the release cached on this machine and copied to the hosts by apply), next to the classic per-host
 *              flow (init, the CA copied, a learner-first join per host) on the same hosts; targets: 3 hosts <= 5 s,
 *              5 hosts <= 6 s, and >= 2x faster than the per-host flow (medians of 3 rounds)
 *   ssh        OpenSSH's client (ControlMaster, what the SSH Host uses) against the ssh2 library on one sshd on
 *              127.0.0.1: connect, 50 commands, 32 MiB (ratio ssh2 / OpenSSH; no lab)
 *
 * Run: npm run bench (root; uses lab/hosts.sh and the local release mirror, and `npm run dist`'s executable);
 * BENCH_ONLY=startup (or init, pki, status, cluster, upgrade, snapshot, defrag, apply, ssh, comma-separated) runs only those parts.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../src/config/defaults.js';
import { Logger } from '../src/log/logger.js';
import { ensurePki, type KeyAlgorithm } from '../src/pki/index.js';
import { EtcdClient } from '../src/etcd/client.js';
import { etcdBinDir } from '../test/helpers/etcd-bin.js';
import { startEtcd } from '../test/helpers/etcd-server.js';
import { pkiSpec } from '../test/helpers/pki-spec.js';
import { ETCDADM, MIRROR_URL, NetnsLab, NspawnLab, REPO, ok, run } from '../test/helpers/lab.js';
import { labClient } from '../test/helpers/writer.js';
import { LocalHost } from '../src/host/local.js';
const HOST = new LocalHost();

interface Timing {
  /** Process start to the first phase. */
  startMs: number;
  totalMs: number;
  phases: Record<string, number>;
  waitSystemctlMs: number;
  waitEtcdMs: number;
  waitDownloadMs: number;
}

/** The `timings` record the phase runner logs at debug level (JSON log format). */
function parseTimings(stderr: string): Timing {
  for (const line of stderr.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.msg !== 'timings') continue;
    const phases: Record<string, number> = {};
    for (const kv of String(o.phases).split(',')) {
      const [k, v] = kv.split('=');
      phases[k!] = Number(v);
    }
    return { startMs: Number(o.startMs), totalMs: Number(o.totalMs), phases, waitSystemctlMs: Number(o.waitSystemctlMs), waitEtcdMs: Number(o.waitEtcdMs), waitDownloadMs: Number(o.waitDownloadMs) };
  }
  throw new Error(`no timings record in:\n${stderr}`);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

const ms = (n: number) => `${Math.round(n)} ms`.padStart(9);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function printPhases(t: Timing): void {
  for (const [k, v] of Object.entries(t.phases)) console.log(`    ${k.padEnd(24)}${ms(v)}`);
}

/**
 * The etcd binary itself, started by hand on a lab host: exec until GET /health answers 200. `bin`: the mirror's
 * (netns hosts see this machine's files) or the one installed on the host; `port`: its client port (peer: +1).
 */
async function etcdAlone(lab: NetnsLab | NspawnLab, i: number, bin = join(etcdBinDir(DEFAULTS.etcdVersion), 'etcd'), port = 2379): Promise<number> {
  const dir = `/var/tmp/etcdadm-bench-etcd-${process.pid}`;
  const ip = lab.ip(i);
  const script = `rm -rf ${dir}; t0=$(date +%s%N); setsid ${bin} --name alone --data-dir ${dir} --listen-client-urls http://${ip}:${port} --advertise-client-urls http://${ip}:${port} --listen-peer-urls http://${ip}:${port + 1} --initial-advertise-peer-urls http://${ip}:${port + 1} --initial-cluster alone=http://${ip}:${port + 1} --log-level error > /dev/null 2>&1 < /dev/null & pid=$!
for k in $(seq 2000); do curl -sf http://${ip}:${port}/health >/dev/null 2>&1 && break; sleep 0.005; done; t1=$(date +%s%N); kill $pid; wait $pid 2>/dev/null; rm -rf ${dir}; echo $(( (t1 - t0) / 1000000 ))`;
  return Number(ok(await lab.sh(i, script)).stdout.trim());
}

/** Median wall time (ms) of `n` runs of a program on this machine, its output discarded. */
function runTime(cmd: string, args: string[], n = 21): number {
  const times: number[] = [];
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** An empty executable made as the shipped one is (scripts/dist.mjs --empty): the runtime's own start-up. */
let emptyMs: number | undefined;
function emptyStartMs(): number {
  if (emptyMs !== undefined) return emptyMs;
  const dir = join(REPO, 'build/bench-empty');
  if (!existsSync(join(dir, 'empty-linux-amd64'))) {
    const r = spawnSync(process.execPath, [join(REPO, 'scripts/dist.mjs'), '--empty', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`scripts/dist.mjs --empty failed: ${r.stderr}`);
  }
  return (emptyMs = runTime(join(dir, 'empty-linux-amd64'), []));
}

async function benchStartup(): Promise<void> {
  console.log('\n== start-up of the executable (median of 21 runs on this machine)');
  const empty = emptyStartMs();
  const help = runTime(ETCDADM, ['--help']);
  const version = runTime(ETCDADM, ['version']);
  console.log(`  empty executable made the same way     ${ms(empty)}`);
  console.log(`  etcdadm --help                         ${ms(help)}   +${Math.round(help - empty)} ms (target <= +80 ms)`);
  console.log(`  etcdadm version                        ${ms(version)}   +${Math.round(version - empty)} ms (target <= +80 ms)`);
  const go = process.env.ETCDADM_GO;
  if (go) {
    const goHelp = runTime(go, ['--help']);
    console.log(`  Go etcdadm --help (${go})   ${ms(goHelp)}   ratio etcdadm --help / Go ${(help / goHelp).toFixed(1)}x`);
  } else console.log('  (ETCDADM_GO=/path/to/etcdadm adds the Go etcdadm --help ratio)');
}

async function benchInit(lab: NetnsLab): Promise<void> {
  console.log(`\n== init (etcd ${DEFAULTS.etcdVersion}, archive cached), lab host with the daemonless systemctl`);
  ok(await lab.etcdadm(1, ['download', '--release-url', MIRROR_URL, '--insecure-release-url']), 'download');
  const [r, wall] = await timed(() => lab.etcdadm(1, ['init', '--release-url', MIRROR_URL, '--insecure-release-url', '-l', 'debug', '--log-format', 'json']));
  ok(r, 'init');
  const t = parseTimings(r.stderr);
  printPhases(t);
  const own = t.totalMs - t.waitSystemctlMs - t.waitEtcdMs;
  const alone = median([await etcdAlone(lab, 2), await etcdAlone(lab, 2), await etcdAlone(lab, 2)]);
  const empty = emptyStartMs();
  console.log(`  wall time (process start to exit)      ${ms(wall)}`);
  console.log(`  process start to the first phase       ${ms(t.startMs)}   +${Math.round(t.startMs - empty)} ms above the empty executable (target <= +100 ms)`);
  console.log(`  install phase, release cached          ${ms(t.phases.install ?? 0)}   (target <= 50 ms)`);
  console.log(`  phases total                           ${ms(t.totalMs)}`);
  console.log(`  waiting on systemctl                   ${ms(t.waitSystemctlMs)}`);
  console.log(`  waiting on etcd                        ${ms(t.waitEtcdMs)}`);
  console.log(`  etcdadm's own work (target <= 250 ms)  ${ms(own)}   (phases total minus the waits)`);
  console.log(`  etcd alone, exec to healthy (median 3) ${ms(alone)}`);
  console.log(`  ratio init wall / etcd alone           ${(wall / alone).toFixed(1)}x`);
}

async function benchPki(): Promise<void> {
  console.log('\n== PKI generation (CA + 4 leaves, written), median');
  const log = new Logger('error');
  const algs: [KeyAlgorithm, number][] = [['ecdsa-p256', 15], ['rsa-2048', 3], ['rsa-3072', 2], ['rsa-4096', 1]];
  for (const [alg, n] of algs) {
    const times: number[] = [];
    for (let k = 0; k < n + 1; k++) {
      const dir = mkdtempSync(join(tmpdir(), 'etcdadm-bench-pki-'));
      const [, t] = await timed(() =>
        ensurePki(HOST, 
          pkiSpec(join(dir, 'pki'), { keyAlgorithm: alg, memberName: 'bench', server: { dnsNames: ['bench', 'localhost'], ipAddresses: ['10.0.0.1', '127.0.0.1'] }, peer: { dnsNames: ['bench'], ipAddresses: ['10.0.0.1'] } }),
          log,
          { allowCreate: true },
        ),
      );
      rmSync(dir, { recursive: true, force: true });
      if (k > 0 || n === 1) times.push(t); // the first ECDSA/RSA run warms up the crypto and x509 code
    }
    console.log(`  ${alg.padEnd(12)}${ms(median(times))}${alg === 'ecdsa-p256' ? '   (target <= 50 ms)' : ''}`);
  }
}

async function benchCluster(lab: NetnsLab | NspawnLab, hosts: [number, number, number], what: string): Promise<void> {
  console.log(`\n== 3-host cluster: init + 2 learner-first joins (archive cached), ${what}`);
  const [a, b, c] = hosts;
  for (const i of hosts) ok(await lab.etcdadm(i, ['download', '--release-url', MIRROR_URL, '--insecure-release-url']), 'download');
  const t0 = performance.now();
  const init = ok(await lab.etcdadm(a, ['init', '--release-url', MIRROR_URL, '--insecure-release-url', '-l', 'debug', '--log-format', 'json']), 'init');
  const tInit = performance.now() - t0;
  const joins: [Timing, number][] = [];
  for (const i of [b, c]) {
    await lab.copyCA(a, i);
    const [r, wall] = await timed(() => lab.etcdadm(i, ['join', `https://${lab.ip(a)}:2379`, '--release-url', MIRROR_URL, '--insecure-release-url', '-l', 'debug', '--log-format', 'json']));
    joins.push([parseTimings(ok(r, `join ${i}`).stderr), wall]);
  }
  const total = performance.now() - t0;
  const ti = parseTimings(init.stderr);
  console.log(`  init                                   ${ms(tInit)}   (waiting on etcd ${ms(ti.waitEtcdMs)}, systemctl ${ms(ti.waitSystemctlMs)})`);
  printPhases(ti);
  joins.forEach(([t, wall], k) => {
    console.log(`  join ${k + 1}                                 ${ms(wall)}   (waiting on etcd ${ms(t.waitEtcdMs)}, systemctl ${ms(t.waitSystemctlMs)})`);
    printPhases(t);
  });
  console.log(`  cluster of 3 built in                  ${ms(total)}`);
  // etcd's own floor: each member's start, and the 5 s a member add waits for every voter to have been connected
  const starts = await Promise.all(hosts.map(async (i) => median([await etcdAlone(lab, i, '/opt/bin/etcd', 3379), await etcdAlone(lab, i, '/opt/bin/etcd', 3379), await etcdAlone(lab, i, '/opt/bin/etcd', 3379)])));
  const floor = starts.reduce((x, y) => x + y, 0) + 5000;
  console.log(`  etcd's floor: 3 starts + 5 s wait      ${ms(floor)}   (starts ${starts.map((x) => Math.round(x)).join(' + ')} ms)`);
  console.log(`  distance from the floor                ${ms(total - floor)}   (target <= 1500 ms)`);
}

/** `etcdadm status` against `etcdctl endpoint status --cluster` on one host of a 5-member cluster. */
async function benchStatus(lab: NetnsLab, hosts: number[]): Promise<void> {
  console.log(`\n== status of a 5-member cluster, netns hosts (median of 11 on one host)`);
  const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
  const [a, ...rest] = hosts as [number, ...number[]];
  ok(await lab.etcdadm(a, ['init', ...R]), 'init');
  for (const i of rest) await lab.join(i, a, R);
  const time = async (cmd: string) => {
    const xs: number[] = [];
    for (let k = 0; k < 11; k++) xs.push(await hostTime(lab, a, cmd));
    return median(xs);
  };
  const ours = await time(`${ETCDADM} status`);
  const theirs = await time('/opt/bin/etcdctl.sh endpoint status --cluster');
  console.log(`  etcdadm status                         ${ms(ours)}`);
  console.log(`  etcdctl endpoint status --cluster      ${ms(theirs)}`);
  console.log(`  ratio (target <= 3x)                   ${(ours / theirs).toFixed(1)}x`);
}

/** The time of the first JSON log line of `phase` whose message matches `re`. */
function logTime(stderr: string, phase: string, re: RegExp): number {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const o = JSON.parse(line) as { time: string; phase?: string; msg: string };
    if (o.phase === phase && re.test(o.msg)) return Date.parse(o.time);
  }
  throw new Error(`no [${phase}] ${re} in:\n${stderr}`);
}

/** etcd restarted by hand through the init system: stop, start, until GET /health on the metrics URL answers 200. */
async function restartByHand(lab: NetnsLab | NspawnLab, i: number): Promise<number> {
  const script = `t0=$(date +%s%N); systemctl stop etcd.service; systemctl start etcd.service
for k in $(seq 4000); do curl -sf http://127.0.0.1:2381/health >/dev/null 2>&1 && break; sleep 0.005; done; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 ))`;
  return Number(ok(await lab.sh(i, script)).stdout.trim());
}

async function benchUpgrade(lab: NetnsLab | NspawnLab, [a, b]: [number, number], what: string): Promise<void> {
  console.log(`\n== upgrade apply 3.5.30 -> 3.6.16 on a follower of 2 (archive cached), ${what}`);
  const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
  for (const i of [a, b]) for (const v of ['3.5.30', '3.6.16']) ok(await lab.etcdadm(i, ['download', ...R, '--version', v]), 'download');
  ok(await lab.etcdadm(a, ['init', ...R, '--version', '3.5.30']), 'init');
  await lab.copyCA(a, b);
  ok(await lab.etcdadm(b, ['join', `https://${lab.ip(a)}:2379`, ...R]), 'join');
  const [r, wall] = await timed(() => lab.etcdadm(b, ['upgrade', 'apply', '--version', '3.6.16', ...R, '-l', 'debug', '--log-format', 'json']));
  ok(r, 'upgrade apply');
  const t = parseTimings(r.stderr);
  printPhases(t);
  const down = logTime(r.stderr, 'health', /serves on etcd/) - logTime(r.stderr, 'restart', /^Restarting/);
  const hand = median([await restartByHand(lab, b), await restartByHand(lab, b), await restartByHand(lab, b)]);
  const own = wall - (t.phases.snapshot ?? 0) - hand;
  console.log(`  wall time (process start to exit)      ${ms(wall)}`);
  console.log(`  not serving (stop -> healthy)          ${ms(down)}`);
  console.log(`  restart by hand (stop, start, healthy) ${ms(hand)}   (median of 3, same binary and env)`);
  console.log(`  snapshot phase                         ${ms(t.phases.snapshot ?? 0)}`);
  console.log(`  not serving beyond the restart by hand (target <= 500 ms)           ${ms(down - hand)}`);
  console.log(`  whole command beyond the restart, snapshot excluded                 ${ms(own)}   (node start, extracting the release, cluster checks)`);
  console.log(`  ratio not serving / restart by hand    ${(down / hand).toFixed(2)}x`);
}

/** Seconds a shell command takes on host i (its output discarded). */
async function hostTime(lab: NetnsLab, i: number, cmd: string): Promise<number> {
  const r = ok(await lab.sh(i, `t0=$(date +%s%N); ${cmd} >/dev/null 2>/tmp/bench-cmd.err || { cat /tmp/bench-cmd.err >&2; exit 1; }; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 ))`, 600_000), cmd);
  return Number(r.stdout.trim());
}

async function benchSnapshot(lab: NetnsLab, [a, b]: [number, number]): Promise<void> {
  console.log(`\n== snapshot save and restore of a member holding about 1 GiB (etcd ${DEFAULTS.etcdVersion}), netns hosts`);
  const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
  ok(await lab.etcdadm(a, ['init', ...R]), 'init');
  const client = await labClient([`https://${lab.ip(a)}:2379`], await lab.clientPem(a));
  try {
    const value = Buffer.alloc(1024 * 1024, 'v');
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < 1000; i = next++) await client.put(`/bench/${i}`, value);
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  } finally {
    client.close();
  }
  const dir = `/tmp/etcdadm-bench-snap-${process.pid}`;
  ok(await lab.sh(a, `rm -rf ${dir} && mkdir -m 700 ${dir}`));
  try {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let k = 0; k < 3; k++) {
      ours.push(await hostTime(lab, a, `${ETCDADM} snapshot save --output ${dir}/ours-${k}.db`));
      theirs.push(await hostTime(lab, a, `/opt/bin/etcdctl.sh snapshot save ${dir}/etcdctl-${k}.db`));
    }
    const size = Number(ok(await lab.sh(a, `stat -c %s ${dir}/ours-0.db`)).stdout.trim());
    const mib = size / 1024 / 1024;
    const o = Math.min(...ours);
    const t = Math.min(...theirs);
    console.log(`  snapshot size                          ${mib.toFixed(0)} MiB`);
    console.log(`  etcdadm snapshot save (best of 3)      ${ms(o)}   ${(mib / (o / 1000)).toFixed(0)} MiB/s (process start to exit, sidecar and fsync included)`);
    console.log(`  etcdctl snapshot save (best of 3)      ${ms(t)}   ${(mib / (t / 1000)).toFixed(0)} MiB/s`);
    console.log(`  throughput ratio etcdadm / etcdctl (target >= 1.0)   ${(t / o).toFixed(2)}x`);

    // the etcdutl of the release init installs, with the flags init passes
    const etcdutl = join(etcdBinDir(DEFAULTS.etcdVersion), 'etcdutl');
    const utl = await hostTime(lab, b, `${etcdutl} snapshot restore ${dir}/ours-0.db --data-dir ${dir}/utl-restore --name x --initial-cluster x=https://${lab.ip(b)}:2380 --initial-advertise-peer-urls https://${lab.ip(b)}:2380 --bump-revision 1000000000 --mark-compacted`);
    ok(await lab.etcdadm(b, ['download', ...R]), 'download');
    const [r, wall] = await timed(() => lab.etcdadm(b, ['init', ...R, '--snapshot', `${dir}/ours-0.db`, '-l', 'debug', '--log-format', 'json'], 600_000));
    ok(r, 'init --snapshot');
    const phases = parseTimings(r.stderr).phases;
    const restore = phases.snapshot ?? 0;
    const verifyMs = phases.preflight ?? 0;
    console.log(`  etcdutl snapshot restore               ${ms(utl)}`);
    console.log(`  init --snapshot: preflight (verifies)  ${ms(verifyMs)}`);
    console.log(`  init --snapshot: snapshot phase        ${ms(restore)}   (etcdutl restore with --bump-revision/--mark-compacted, rename into place)`);
    console.log(`  init --snapshot: whole command         ${ms(wall)}   (install, PKI, start, health included)`);
    console.log(`  ratio restore phase / etcdutl restore  ${(restore / utl).toFixed(2)}x   (target <= 1.1x)`);
    console.log(`  ratio verify + restore / etcdutl       ${((restore + verifyMs) / utl).toFixed(2)}x`);
  } finally {
    await lab.sh(a, `rm -rf ${dir}`);
  }
}

/**
 * Ports of the defrag part's etcd (client, peer, metrics), on 127.0.0.1 only: above the kernel's ephemeral range
 * (32768-60999 here) and outside the 20000-32767 the test helpers' freePorts() hands out, so neither a test etcd nor
 * an outgoing connection takes them meanwhile.
 */
const DEFRAG_PORTS = { client: 61379, peer: 61380, metrics: 61381 };
const MIB = 1024 * 1024;
const mibOf = (n: number) => `${(n / MIB).toFixed(0)} MiB`.padStart(9);

/** Whether something listens on 127.0.0.1:`port` already. */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(false)));
  });
}

/**
 * `etcdadm defrag` against `etcdctl defrag` of one member that was given 1 GiB, half of it deleted since.
 *
 * Both must do the same work, so every measured defrag starts from the same state, made the same way before each:
 * the keyspace emptied, its history compacted and the file defragmented (unmeasured) down to a few MiB; then 1024
 * values of 1 MiB put (1 GiB; each put below etcd's 1.5 MiB request limit; bbolt grows the file to about 1.6 GiB
 * meanwhile), every other key deleted and the history compacted at the current revision — about 512 MiB in use,
 * the rest of the file free pages that the defrag drops while it rewrites the 512 MiB that is live. The two
 * commands then alternate (etcdctl, etcdadm, three times), each timed from process start to exit, and the file's
 * size is printed before and after each run, so that a defrag which did nothing would show (and fails the part).
 *
 * etcdadm runs as a user would on a member host without a host record: `etcdadm defrag` (this host's member only:
 * the member is named as this host) with --endpoints and --certs-dir (ca.crt and etcdctl-etcd-client.crt/.key, the
 * test CA's client certificate copied in). Beyond etcd's Defragment it asks the member's status first and, after,
 * waits until the member answers Status and a quorum read again; etcdctl sends Defragment and exits. etcd's own
 * log (info level) times the defragmentation inside etcd, printed for each run, and what each command took beyond it.
 */
async function benchDefrag(): Promise<void> {
  const version = DEFAULTS.etcdVersion;
  const keys = 1024;
  console.log(`\n== defrag of one member holding about 1 GiB (etcd ${version}, TLS on 127.0.0.1): before each run ${keys} x 1 MiB put, every other key deleted, compacted`);
  for (const p of Object.values(DEFRAG_PORTS)) if (await portTaken(p)) throw new Error(`127.0.0.1:${p} is taken: the defrag part's etcd listens there`);
  // info logs: etcd's own "defragmenting" .. "finished defragmenting directory" times each run inside etcd
  const server = await startEtcd({ version, tls: true, name: hostname(), ports: DEFRAG_PORTS, extraArgs: ['--quota-backend-bytes=4294967296', '--log-level=info'], startTimeoutMs: 60_000 });
  const tls = server.tls!;
  const client = EtcdClient.create({ endpoints: [server.clientURL], tls: { ca: tls.ca, cert: tls.cert, key: tls.key }, dialTimeoutMs: 2000, requestTimeoutMs: 60_000 });
  try {
    const certs = join(server.dir, 'etcdadm-pki'); // removed with the server's temp dir
    mkdirSync(certs, { mode: 0o700 });
    copyFileSync(tls.caFile, join(certs, 'ca.crt'));
    copyFileSync(tls.clientCertFile, join(certs, 'etcdctl-etcd-client.crt'));
    copyFileSync(tls.clientKeyFile, join(certs, 'etcdctl-etcd-client.key'));
    const dbFile = join(server.dataDir, 'member/snap/db');
    const key = (i: number) => `/bench/defrag/${String(i).padStart(4, '0')}`;
    const parallel = async (n: number, fn: (i: number) => Promise<unknown>) => {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < n; i = next++) await fn(i);
      };
      await Promise.all(Array.from({ length: 4 }, worker));
    };
    const compactAll = async () => {
      await client.compact(await client.revision(), true, 300_000);
      // etcd frees the compacted revisions in batches: wait until the size in use stops changing
      let last = -1;
      for (;;) {
        const inUse = (await client.status()).dbSizeInUse;
        if (inUse === last) return;
        last = inUse;
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    const value = Buffer.alloc(MIB, 'v');
    const fragment = async () => {
      await parallel(keys, (i) => client.delete(key(i)));
      await compactAll();
      await client.defragment(server.clientURL, 600_000);
      await parallel(keys, (i) => client.put(key(i), value));
      await parallel(keys / 2, (i) => client.delete(key(2 * i + 1)));
      await compactAll();
      return statSync(dbFile).size;
    };
    const etcdctl = [
      join(etcdBinDir(version), 'etcdctl'),
      `--endpoints=${server.clientURL}`,
      `--cacert=${tls.caFile}`,
      `--cert=${tls.clientCertFile}`,
      `--key=${tls.clientKeyFile}`,
      '--command-timeout=600s', // its default 5 s is shorter than the defrag of a 1 GiB file
      'defrag',
    ];
    const etcdadm = [ETCDADM, 'defrag', '--endpoints', server.clientURL, '--certs-dir', certs];
    /** etcd's own time for the last defragmentation, from its log. */
    const etcdDefragMs = (): number => {
      let start = NaN;
      let end = NaN;
      for (const line of server.log().split('\n')) {
        if (!line.startsWith('{')) continue;
        const o = JSON.parse(line) as { ts?: string; msg?: string };
        if (o.msg === 'defragmenting') start = Date.parse(o.ts ?? '');
        else if (o.msg === 'finished defragmenting directory') end = Date.parse(o.ts ?? '');
      }
      return end - start;
    };
    const times: Record<'etcdctl' | 'etcdadm', number[]> = { etcdctl: [], etcdadm: [] };
    const beyond: Record<'etcdctl' | 'etcdadm', number[]> = { etcdctl: [], etcdadm: [] };
    for (let round = 0; round < 3; round++) {
      for (const who of ['etcdctl', 'etcdadm'] as const) {
        const before = await fragment();
        const inUse = (await client.status()).dbSizeInUse;
        const [cmd, ...args] = who === 'etcdctl' ? etcdctl : etcdadm;
        const [r, t] = await timed(() => run(cmd!, args, { timeoutMs: 600_000 }));
        ok(r, `${who} defrag`);
        const after = statSync(dbFile).size;
        if (after > before - (before - inUse) / 2) throw new Error(`${who} defrag left the file at ${after} bytes (${before} before, ${inUse} in use): it did not defragment\n${r.stdout}${r.stderr}`);
        const inEtcd = etcdDefragMs();
        times[who].push(t);
        beyond[who].push(t - inEtcd);
        console.log(`  ${`${who} defrag`.padEnd(16)}round ${round + 1}   ${ms(t)}   file ${mibOf(before)} -> ${mibOf(after)}   (${mibOf(inUse).trim()} in use before)   etcd's own defragmentation ${ms(inEtcd).trim()}`);
      }
    }
    const o = Math.min(...times.etcdadm);
    const t = Math.min(...times.etcdctl);
    console.log(`  etcdadm defrag (best of 3)             ${ms(o)}   (process start to exit: status first, serving again after)`);
    console.log(`  etcdctl defrag (best of 3)             ${ms(t)}   (process start to exit)`);
    console.log(`  ratio etcdadm / etcdctl                ${(o / t).toFixed(2)}x   (${o >= t ? '+' : '-'}${Math.abs(Math.round(o - t))} ms)`);
    // etcd's defragmentation is disk work whose time varies from run to run on a shared machine: what each command
    // adds to it (process start, TLS, etcdadm's status before and its serving-again check after) is the steadier part
    console.log(`  beyond etcd's own defragmentation (median of 3): etcdadm ${ms(median(beyond.etcdadm)).trim()}, etcdctl ${ms(median(beyond.etcdctl)).trim()}`);
  } finally {
    client.close();
    await server.stop(); // kills its etcd by PID and removes its temp dir (data, PKI, the certs dir above)
  }
}

/**
 * `etcdadm apply` against the per-host flow on the same bare hosts (the executable put by apply, or copied by hand
 * for the per-host flow as the README's install does; each host reset and cleaned between runs).
 */
async function benchApply(): Promise<void> {
  console.log('\n== apply -f over SSH against the per-host flow, on bare hosts booted with real systemd (no Node.js)');
  const sd = await NspawnLab.up(5, { bare: true });
  const dir = mkdtempSync(join(tmpdir(), 'etcdadm-bench-apply-'));
  try {
    ok(await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', join(dir, 'id')]), 'ssh-keygen');
    for (const i of [1, 2, 3, 4, 5]) await sd.put(i, join(dir, 'id.pub'), '/root/.ssh/authorized_keys', 0o600);
    const file = (n: number) => {
      const path = join(dir, `cluster-${n}.yaml`);
      const text = ['apiVersion: etcdadm.io/v1beta1', 'kind: Cluster', 'ssh:', `  identityFile: ${join(dir, 'id')}`, `  knownHostsFile: ${join(dir, 'known_hosts')}`, 'hosts:']
        .concat(Array.from({ length: n }, (_, k) => `  - address: ${sd.ip(k + 1)}`))
        .concat(['etcd:', `  releaseURL: ${MIRROR_URL}`, '  insecureReleaseURL: true', ''])
        .join('\n');
      writeFileSync(path, text);
      return path;
    };
    // bare again: no etcd, no data, no PKI, and no release in the host's cache (the etcdadm executable stays)
    const clean = async (n: number) => {
      for (let i = n; i >= 1; i--) await sd.on(i, ['etcdadm', 'reset', '--force']);
      for (let i = 1; i <= n; i++) ok(await sd.sh(i, 'rm -rf /etc/etcdadm /etc/etcd /var/lib/etcd /opt/bin/* /var/cache/etcdadm'), 'clean');
    };
    // etcdadm on every host (the per-host flow's install; apply finds it up to date), the release cached on this
    // machine only: apply copies it to the hosts, the per-host flow downloads it on each from the lab mirror
    for (const i of [1, 2, 3, 4, 5]) await sd.put(i, ETCDADM, '/usr/local/bin/etcdadm', 0o755);
    const env = { ...process.env, XDG_CACHE_HOME: join(dir, 'cache') };
    ok(await run(ETCDADM, ['download', '--release-url', MIRROR_URL, '--insecure-release-url', '--cache-dir', join(dir, 'cache', 'etcdadm', 'etcd')]), 'the release cached here');
    ok(await run(ETCDADM, ['apply', '-f', file(5), '--dry-run', '--accept-new-host-keys'], { env }), 'first contact');
    // three rounds per size, alternating the two flows on the same hosts; the medians compared (etcd's first
    // election after a start varies by up to its election timeout, 1 s, run to run)
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    for (const n of [3, 5]) {
      const applied: number[] = [];
      const byHand: number[] = [];
      for (let round = 0; round < 3; round++) {
        const [a, tApply] = await timed(() => run(ETCDADM, ['apply', '-f', file(n)], { timeoutMs: 600_000, env }));
        ok(a, `apply ${n}`);
        if (process.env.BENCH_VERBOSE) console.log(a.stderr);
        applied.push(tApply);
        await clean(n);
        const [, tHosts] = await timed(async () => {
          ok(await sd.on(1, ['etcdadm', 'init', '--release-url', MIRROR_URL, '--insecure-release-url']), 'init');
          for (let i = 2; i <= n; i++) {
            await sd.copyCA(1, i);
            ok(await sd.on(i, ['etcdadm', 'join', `https://${sd.ip(1)}:2379`, '--release-url', MIRROR_URL, '--insecure-release-url']), `join ${i}`);
          }
        });
        byHand.push(tHosts);
        await clean(n);
      }
      const [tApply, tHosts] = [median(applied), median(byHand)];
      console.log(`  ${n} hosts: apply ${ms(tApply)} (target <= ${n === 3 ? 5000 : 6000} ms; runs ${applied.map((x) => Math.round(x)).join(', ')})   per-host flow ${ms(tHosts)} (runs ${byHand.map((x) => Math.round(x)).join(', ')})   apply ${(tHosts / tApply).toFixed(1)}x faster (target >= 2x)`);
    }
  } finally {
    await sd.down();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * OpenSSH's client (what the SSH Host uses: one ControlMaster connection, a session per command) against the ssh2
 * library (a devDependency for this comparison only; not in etcdadm) on the same sshd on 127.0.0.1: the connection
 * (key exchange and login), 50 short commands one after the other over that connection, and 32 MiB sent to `cat`.
 * Median of 5 runs each, alternating; the ratio is ssh2 / OpenSSH (above 1: OpenSSH faster).
 */
async function benchSsh(): Promise<void> {
  console.log('\n== SSH: OpenSSH ControlMaster (what etcdadm uses) against the ssh2 library, sshd on 127.0.0.1');
  const { TestSshd } = await import('../test/helpers/sshd.js');
  const { SshTransport } = await import('../src/host/ssh-transport.js');
  const { Client } = await import('ssh2');
  const { readFileSync } = await import('node:fs');
  const sshd = await TestSshd.start();
  const known = join(sshd.dir, 'known_hosts');
  writeFileSync(known, `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
  const key = readFileSync(sshd.identityFile);
  const MiB32 = Buffer.alloc(32 << 20, 7);
  const openssh = async () => {
    const t = new SshTransport({ address: '127.0.0.1', port: sshd.port, user: 'root', identityFile: sshd.identityFile, knownHostsFile: known, configFile: '/dev/null' });
    const [, connect] = await timed(() => t.start());
    const [, cmds] = await timed(async () => {
      for (let i = 0; i < 50; i++) ok(await t.run(['true'], { sudo: false }), 'true');
    });
    const [, bulk] = await timed(async () => {
      const child = t.spawn(['sh', '-c', 'cat > /dev/null'], false);
      const done = new Promise((r) => child.on('close', r));
      child.stdin.end(MiB32);
      await done;
    });
    await t.stop();
    return { connect, cmds, bulk };
  };
  const ssh2 = async () => {
    const c = new Client();
    const hostKey = Buffer.from(sshd.hostKey.split(' ')[1]!, 'base64');
    const [, connect] = await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          c.on('ready', () => resolve()).on('error', reject);
          c.connect({ host: '127.0.0.1', port: sshd.port, username: 'root', privateKey: key, hostVerifier: (k: Buffer) => k.equals(hostKey) });
        }),
    );
    const exec = (cmd: string, input?: Buffer) =>
      new Promise<void>((resolve, reject) =>
        c.exec(cmd, (err, stream) => {
          if (err) return reject(err);
          stream.on('close', () => resolve()).on('data', () => undefined);
          stream.stderr.on('data', () => undefined);
          if (input) stream.end(input);
          else stream.end();
        }),
      );
    const [, cmds] = await timed(async () => {
      for (let i = 0; i < 50; i++) await exec('true');
    });
    const [, bulk] = await timed(() => exec('cat > /dev/null', MiB32));
    c.end();
    return { connect, cmds, bulk };
  };
  try {
    const a: { connect: number; cmds: number; bulk: number }[] = [];
    const b: typeof a = [];
    for (let i = 0; i < 5; i++) {
      a.push(await openssh());
      b.push(await ssh2());
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    for (const k of ['connect', 'cmds', 'bulk'] as const) {
      const o = median(a.map((x) => x[k]));
      const l = median(b.map((x) => x[k]));
      const what = { connect: 'connect (key exchange, login)', cmds: '50 commands in a row', bulk: '32 MiB to cat' }[k];
      console.log(`  ${what.padEnd(30)} OpenSSH ${ms(o)}   ssh2 ${ms(l)}   ssh2/OpenSSH ${(l / o).toFixed(2)}`);
    }
  } finally {
    await sshd.stop();
  }
}

/** BENCH_ONLY=startup,init,pki,status,cluster,upgrade,snapshot,defrag,apply,ssh runs only those parts. */
const only = process.env.BENCH_ONLY?.split(',').map((x) => x.trim());
const wanted = (part: string) => !only || only.includes(part);

async function main(): Promise<void> {
  ok(await run('bash', ['lab/release-mirror.sh']), 'mirror');
  if (wanted('startup')) await benchStartup();
  if (wanted('defrag')) await benchDefrag(); // a plain etcd on 127.0.0.1: no lab
  if (wanted('apply')) await benchApply();
  if (wanted('ssh')) await benchSsh(); // sshd on 127.0.0.1: no lab
  if (!['init', 'pki', 'status', 'cluster', 'upgrade', 'snapshot'].some(wanted)) return;
  const lab = await NetnsLab.up(14);
  try {
    if (wanted('init')) await benchInit(lab);
    if (wanted('pki')) await benchPki();
    if (wanted('status')) await benchStatus(lab, [10, 11, 12, 13, 14]);
    if (wanted('cluster')) await benchCluster(lab, [3, 4, 5], 'netns hosts with the daemonless systemctl');
    if (wanted('upgrade')) await benchUpgrade(lab, [6, 7], 'netns hosts with the daemonless systemctl');
    if (wanted('snapshot')) await benchSnapshot(lab, [8, 9]);
  } finally {
    await lab.down();
  }
  if (!wanted('cluster') && !wanted('upgrade')) return;
  const sd = await NspawnLab.up(5);
  try {
    if (wanted('cluster')) await benchCluster(sd, [1, 2, 3], 'hosts booted with real systemd');
    if (wanted('upgrade')) await benchUpgrade(sd, [4, 5], 'hosts booted with real systemd');
  } finally {
    await sd.down();
  }
}

await main();
