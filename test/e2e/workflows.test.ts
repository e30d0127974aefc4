/**
 * Every changing command is a phase list on the one runner, on lab hosts, as a user runs etcdadm:
 * - the file tree init's phases up to start, join's certificates phase and reset's cleanup leave on a lab host is the
 *   one test/fixtures/phase-trees.json records (the unit test runs the same phases on MemoryHosts against it);
 * - --dry-run on init, join, reset, member add/remove, snapshot save/prune, certs renew and download changes no file
 *   under /etc/etcd, /opt/bin, /var/lib/etcd, /etc/systemd/system or the cache, no member and no etcd PID, and names
 *   the phases the real run then logs;
 * - `<command> phase <name>` and --skip-phases work for each family (lifecycle, member, snapshot, certs, download);
 * - a fault injected right after the first change of init, join, certs renew and certs import leaves the host as it
 *   was (files byte for byte, modes, the member list), through the journal alone.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ETCDADM_HOOKS, MIRROR_URL, NetnsLab, REPO, ok, oneErrorLine, type RunResult } from '../helpers/lab.js';
import { parseTreeScript, treeScript, type TreeEntry } from '../helpers/tree.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const FIXTURE = join(REPO, 'test/fixtures/phase-trees.json');
const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, TreeEntry[]>;
const RECORDED: Record<string, TreeEntry[]> = {};
let lab: NetnsLab;

before(async () => {
  lab = await NetnsLab.up(3);
});
after(async () => {
  // UPDATE_FIXTURES=1: write what the lab hosts showed (then check the unit test still agrees)
  if (process.env.UPDATE_FIXTURES === '1' && Object.keys(RECORDED).length === 3) writeFileSync(FIXTURE, `${JSON.stringify(RECORDED, null, 2)}\n`);
  await lab?.down();
});

async function tree(i: number, name: string): Promise<TreeEntry[]> {
  const t = parseTreeScript(ok(await lab.sh(i, treeScript()), 'tree').stdout);
  RECORDED[name] = t;
  return t;
}

/**
 * Every file etcdadm could touch on host i, with mode, owner and SHA-256 (not the download cache, which keeps verified
 * archives on purpose, even after a rollback); the data dir down to etcd's own dirs (etcd
 * itself keeps writing the files in them); and etcd's PIDs there.
 */
async function state(i: number): Promise<string> {
  const files = ok(
    await lab.sh(
      i,
      'for d in /etc/etcd /opt/bin /etc/systemd/system /var/backups/etcdadm /run/etcdadm.lock; do [ -e "$d" ] && find "$d" -printf "%p %y %m %U:%G %l\\n" -type f -exec sha256sum {} \\; ; done; ' +
        '[ -e /var/lib/etcd ] && find /var/lib/etcd -maxdepth 2 -printf "%p %y %m %U:%G\\n"; true',
    ),
    'state',
  ).stdout;
  return `${files}\npids ${(await lab.etcdPids(i)).join(',')}`;
}

async function members(i = 1): Promise<string> {
  return ok(await lab.etcdctl(i, ['member', 'list', '-w', 'simple']), 'member list').stdout.split('\n').sort().join('\n');
}

/** The phases a run logged (text logs: `time LEVEL [phase] message`), in order, each once. */
function phasesOf(r: RunResult): string[] {
  const out: string[] = [];
  for (const m of r.stderr.matchAll(/ (?:INFO|WARN) +\[([a-z-]+)\]/g)) if (out[out.length - 1] !== m[1] && !out.includes(m[1]!)) out.push(m[1]!);
  return out;
}

/** A dry run of `args` on host `i` changes nothing there, nor on the others, nor in the member list; its phases. */
async function dryRun(i: number, args: string[]): Promise<{ r: RunResult; phases: string[] }> {
  const before = await Promise.all([1, 2, 3].map(state));
  assert.match(before[0]!, /\npids \d+$/, 'etcd runs on host1: its PID is compared');
  const list = await members();
  const r = ok(await lab.etcdadm(i, [...args, '--dry-run']), `${args.join(' ')} --dry-run`);
  assert.match(r.stderr, /Dry run: nothing was changed/);
  assert.deepEqual(await Promise.all([1, 2, 3].map(state)), before, `${args.join(' ')} --dry-run changed a host`);
  assert.equal(await members(), list, `${args.join(' ')} --dry-run changed the member list`);
  return { r, phases: phasesOf(r) };
}

describe('phase trees: what the phases leave on a lab host is what they leave on a MemoryHost', () => {
  it("init's phases up to start leave exactly the recorded tree", async () => {
    ok(await lab.etcdadm(1, ['init', ...R, '--skip-phases', 'start,etcdctl,health,backup,cert-renewal,post-init-instructions']), 'init up to start');
    assert.deepEqual(await tree(1, 'init'), fixture.init);
    ok(await lab.etcdadm(1, ['init', ...R]), 'init (the rest: it resumes)');
  });

  it("join's certificates phase leaves exactly the recorded tree", async () => {
    await lab.copyCA(1, 2);
    ok(await lab.etcdadm(2, ['join', 'phase', 'certificates', 'https://10.88.0.1:2379', ...R]), 'join phase certificates');
    assert.deepEqual(await tree(2, 'joinCertificates'), fixture.joinCertificates);
  });

  it("reset's cleanup after init's phases up to start leaves exactly the recorded tree (nothing)", async () => {
    ok(await lab.etcdadm(3, ['init', ...R, '--skip-phases', 'start,etcdctl,health,backup,cert-renewal,post-init-instructions']), 'init up to start');
    ok(await lab.etcdadm(3, ['reset', 'phase', 'cleanup', '--force', '--skip-remove-member']), 'reset phase cleanup');
    assert.deepEqual(await tree(3, 'resetCleanup'), fixture.resetCleanup);
  });
});

describe('lifecycle: dry runs, phases, rollback', () => {
  it('a real member named "rogue\\nETCD_LISTEN_CLIENT_HTTP_URLS" in the cluster: join refuses before it changes anything; no line is added anywhere', { timeout: 120_000 }, async () => {
    // a second etcd on host 1 (ports 3379/3380, host 1's own certificates), added as a learner (no quorum at stake),
    // started with a name that holds a newline and a variable name, exactly as the review reproduced it
    const NAME = 'rogue\nETCD_LISTEN_CLIENT_HTTP_URLS';
    ok(await lab.etcdctl(1, ['member', 'add', 'rogue', '--learner', '--peer-urls=https://10.88.0.1:3380']), 'member add (learner)');
    const pki = '/etc/etcd/pki';
    const start = ok(
      await lab.sh(
        1,
        `N="$(printf 'rogue\\nETCD_LISTEN_CLIENT_HTTP_URLS')"; setsid /opt/bin/etcd --name "$N" --data-dir /var/lib/rogue-etcd ` +
          `--listen-peer-urls https://10.88.0.1:3380 --initial-advertise-peer-urls https://10.88.0.1:3380 --listen-client-urls https://10.88.0.1:3379 --advertise-client-urls https://10.88.0.1:3379 ` +
          `--initial-cluster "eahost1=https://10.88.0.1:2380,$N=https://10.88.0.1:3380" --initial-cluster-state existing ` +
          `--cert-file ${pki}/server.crt --key-file ${pki}/server.key --trusted-ca-file ${pki}/ca.crt --client-cert-auth ` +
          `--peer-cert-file ${pki}/peer.crt --peer-key-file ${pki}/peer.key --peer-trusted-ca-file ${pki}/ca.crt --peer-client-cert-auth ` +
          `> ${lab.dir}/rogue.log 2>&1 < /dev/null & echo $!`,
      ),
      'start the rogue member',
    );
    const pid = Number(start.stdout.trim());
    type Listed = { members: { ID: string; name: string; peerURLs: string[] }[] }; // --hex: IDs as hex strings (a uint64 does not fit a JS number)
    // etcdctl writes the name's newline raw into its one line of JSON: escaped here before parsing
    const rogue = async () =>
      (JSON.parse(ok(await lab.etcdctl(1, ['member', 'list', '-w', 'json', '--hex'])).stdout.trim().replace(/\n/g, '\\n')) as Listed).members.find((m) => m.peerURLs.includes('https://10.88.0.1:3380'));
    try {
      for (let i = 0; i < 200 && (await rogue())?.name !== NAME; i++) await new Promise((r) => setTimeout(r, 250));
      assert.equal((await rogue())?.name, NAME, `the rogue member published its name (${readFileSync(join(lab.dir, 'rogue.log'), 'utf8').slice(-2000)})`);
      const list = await members();
      // host 2 holds the CA (and the certificates of the phase-tree test above) and no etcd.env
      const before = await state(2);
      const r = await lab.etcdadm(2, ['join', 'https://10.88.0.1:2379', ...R]);
      assert.notEqual(r.code, 0);
      oneErrorLine(r, /the cluster's member [0-9a-f]+ is named "rogue\\nETCD_LISTEN_CLIENT_HTTP_URLS", which must be a DNS name.*: it cannot go into etcd\.env/);
      assert.equal(await state(2), before, 'host 2 is as it was');
      assert.equal(await members(), list, 'no member was added');
      assert.equal((await lab.sh(2, 'test -e /etc/etcd/etcd.env')).code, 1, 'no etcd.env');
    } finally {
      // the process first (a learner, stopped or not, costs no quorum), then its member
      await lab.sh(1, `kill -9 ${pid} 2>/dev/null; for i in $(seq 100); do kill -0 ${pid} 2>/dev/null || break; sleep 0.05; done; rm -rf /var/lib/rogue-etcd`);
      const id = await rogue().then((m) => m?.ID, () => undefined);
      if (id !== undefined) await lab.etcdctl(1, ['member', 'remove', id]);
    }
    assert.equal(await rogue(), undefined, 'the rogue member is gone again');
  });

  it('join: an http endpoint refused; a fault right after its first change (certificates) and after the member add leaves host and cluster as they were', async () => {
    const list = await members();
    const before = await state(2);
    // a plain http endpoint: refused (etcdadm clusters are TLS) before anything runs
    const http = await lab.etcdadm(2, ['join', 'http://10.88.0.1:2379', ...R]);
    assert.equal(http.code, 2);
    oneErrorLine(http, /invalid endpoint "http:\/\/10\.88\.0\.1:2379": must be an https:\/\/ URL \(etcdadm clusters serve clients over TLS only\)/);
    assert.equal(await state(2), before);
    const r = await lab.on(2, ['env', 'ETCDADM_TEST_FAIL=after:certificates', ETCDADM_HOOKS, 'join', 'https://10.88.0.1:2379', ...R]);
    oneErrorLine(r, /a fault injected by the test at after:certificates/);
    assert.match(r.stderr, /\[rollback\] Rolling back what this run changed/);
    assert.equal(await state(2), before);
    const r2 = await lab.on(2, ['env', 'ETCDADM_TEST_FAIL=after:membership', ETCDADM_HOOKS, 'join', 'https://10.88.0.1:2379', ...R]);
    oneErrorLine(r2, /a fault injected by the test at after:membership/);
    assert.equal(await state(2), before);
    // what stays on purpose: the download cache, and only verified: the archive's SHA-256 is the one SHA256SUMS names
    ok(await lab.sh(2, 'cd /var/cache/etcdadm/etcd/v3.6.16 && sha256sum --check --ignore-missing --strict SHA256SUMS | grep -x "etcd-v3.6.16-linux-amd64.tar.gz: OK"'), 'the cached archive is verified');
    assert.equal(await members(), list, 'the member the failed join added is gone');
  });

  it('init --dry-run on a fresh host changes nothing and names every phase the real init runs', async () => {
    await lab.sh(3, 'rm -rf /etc/etcd /var/lib/etcd /opt/bin/*');
    const { r, phases } = await dryRun(3, ['init', ...R]);
    assert.match(r.stderr, /\[certificates\] would write \/etc\/etcd\/pki\/ca\.key \(0600, \d+ bytes\)/);
    assert.match(r.stderr, /\[configure\] would write \/etc\/systemd\/system\/etcd\.service \(0644/);
    assert.match(r.stderr, /\[start\] would run systemctl enable --now etcd\.service/);
    assert.match(r.stderr, /\[install\] would (download|use the cached) etcd v3\.6\.16/);
    assert.deepEqual(phases, ['preflight', 'install', 'certificates', 'snapshot', 'configure', 'start', 'etcdctl', 'health', 'backup', 'cert-renewal', 'defrag-timer', 'post-init-instructions']);
  });

  it('init: a fault right after its first change (install) leaves the host as it was', async () => {
    const before = await state(3);
    const r = await lab.on(3, ['env', 'ETCDADM_TEST_FAIL=after:install', ETCDADM_HOOKS, 'init', ...R]);
    oneErrorLine(r, /a fault injected by the test at after:install/);
    assert.equal(await state(3), before);
  });

  it('join --dry-run changes nothing and names the phases the real join then logs; the real join', async () => {
    ok(await lab.etcdadm(2, ['join', 'https://10.88.0.1:2379', ...R]), 'join host2');
    await lab.copyCA(1, 3);
    const { r, phases } = await dryRun(3, ['join', 'https://10.88.0.1:2379', ...R]);
    assert.match(r.stderr, /\[membership\] would add eahost3 \(https:\/\/10\.88\.0\.3:2380\) as a learner to cluster [0-9a-f]+/);
    assert.match(r.stderr, /\[configure\] would write \/etc\/etcd\/etcd\.env \(0644/);
    const real = ok(await lab.etcdadm(3, ['join', 'https://10.88.0.1:2379', ...R]), 'join host3');
    assert.deepEqual(phases, phasesOf(real));
  });

  it('reset --dry-run changes nothing and names the phases of reset; reset phase stop alone; reset --skip-phases', async () => {
    const { r, phases } = await dryRun(3, ['reset']);
    assert.match(r.stderr, /\[remove-member\] would remove member eahost3 \([0-9a-f]+\) from cluster/);
    assert.match(r.stderr, /\[cleanup\] would remove \/etc\/etcd\/etcd\.env/);
    assert.deepEqual(phases, ['preflight', 'remove-member', 'stop', 'cleanup']);
  });
});

describe('member: dry runs and phases', () => {
  it('member remove, add and promote --dry-run run the guards and change nothing; member promote phase promote', async () => {
    const { r } = await dryRun(1, ['member', 'remove', 'eahost3']);
    assert.match(r.stderr, /\[remove\] would remove member eahost3/);
    const add = await dryRun(1, ['member', 'add', 'https://10.88.0.9:2380', '--learner']);
    assert.match(add.r.stderr, /\[add\] would add https:\/\/10\.88\.0\.9:2380 as a learner to cluster/);
    const pd = await dryRun(1, ['member', 'promote', 'eahost3']);
    assert.match(pd.r.stderr, /\[promote\] eahost3 \([0-9a-f]+\) is already a voting member/);
    const p = ok(await lab.etcdadm(1, ['member', 'promote', 'phase', 'promote', 'eahost3']), 'member promote phase promote');
    assert.match(p.stderr, /\[promote\] eahost3 \([0-9a-f]+\) is already a voting member/);
    const skip = ok(await lab.etcdadm(1, ['member', 'remove', 'eahost3', '--skip-phases', 'remove']), 'skip');
    assert.match(skip.stderr, /\[remove\] Skipped \(--skip-phases\)/);
    assert.match(await members(), /eahost3/);
  });
});

describe('snapshot: dry runs and phases', () => {
  it('a save that fails after its preflight leaves no directory it made', async () => {
    const r = await lab.on(1, ['env', 'ETCDADM_TEST_FAIL=after:preflight', ETCDADM_HOOKS, 'snapshot', 'save', '--dir', '/var/backups/new']);
    oneErrorLine(r, /a fault injected by the test at after:preflight/);
    assert.equal((await lab.sh(1, 'test -e /var/backups/new')).code, 1, 'the directory the failed save made is gone');
  });

  it('snapshot save --dry-run writes nothing; save phase preflight; save --skip-phases upload; prune --dry-run removes nothing', async () => {
    const { r } = await dryRun(1, ['snapshot', 'save']);
    assert.match(r.stderr, /\[save\] would stream a snapshot of the member at https:\/\/127\.0\.0\.1:2379 into \/var\/backups\/etcdadm\/etcd-snapshot-eahost1-/);
    assert.match(r.stderr, /\[upload\] Skipped: no --s3-bucket given/);
    ok(await lab.etcdadm(1, ['snapshot', 'save', 'phase', 'preflight']), 'snapshot save phase preflight');
    for (let n = 0; n < 2; n++) ok(await lab.etcdadm(1, ['snapshot', 'save', '--skip-phases', 'upload']), 'snapshot save');
    const pr = await dryRun(1, ['snapshot', 'prune', '--keep', '1']);
    assert.match(pr.r.stderr, /\[prune\] would remove \/var\/backups\/etcdadm\/etcd-snapshot-eahost1-\S+\.db and its sidecar/);
  });
});

describe('download: dry run and phase', () => {
  it('download --dry-run fetches nothing; download phase download does', async () => {
    const { r } = await dryRun(1, ['download', ...R, '--version', '3.6.14']);
    assert.match(r.stderr, /\[download\] would download etcd v3\.6\.14 from http:\/\/10\.88\.0\.200 into \/var\/cache\/etcdadm\/etcd\/v3\.6\.14\/etcd-v3\.6\.14-linux-amd64\.tar\.gz/);
    const d = ok(await lab.etcdadm(1, ['download', 'phase', 'download', ...R, '--version', '3.6.14']), 'download phase download');
    assert.equal(d.stdout.trim(), '/var/cache/etcdadm/etcd/v3.6.14/etcd-v3.6.14-linux-amd64.tar.gz');
  });
});

describe('certs: dry run, phases, rollback', () => {
  const certs = async (i: number) => ok(await lab.sh(i, 'cd /etc/etcd/pki && sha256sum * && stat -c "%n %a %U" *'), 'certs').stdout;

  it('certs renew all --dry-run changes no file and restarts nothing; it names the files it would write', async () => {
    const { r, phases } = await dryRun(2, ['certs', 'renew', 'all']);
    assert.match(r.stderr, /\[certificates\] would write \/etc\/etcd\/pki\/server\.key \(0600/);
    assert.deepEqual(phases, ['preflight', 'certificates', 'reload', 'verify']);
  });

  it('certs bundle and rotate-ca prepare --dry-run write no bundle, no new CA and restart nothing', async () => {
    const b = await dryRun(1, ['certs', 'bundle', '--name', 'eahost9', '--address', '10.88.0.9', '--output', '/root/eahost9.bundle']);
    assert.match(b.r.stderr, /\[bundle\] would write \/root\/eahost9\.bundle \(0600/);
    assert.equal((await lab.sh(1, 'test -e /root/eahost9.bundle')).code, 1, 'no bundle written');
    const p = await dryRun(1, ['certs', 'rotate-ca', 'prepare']);
    assert.match(p.r.stderr, /\[new-ca\] would write \/etc\/etcd\/pki\/ca-new\.key \(0600/);
    assert.match(p.r.stderr, /\[trust\] would write \/etc\/etcd\/pki\/ca\.crt \(0644/);
    assert.match(p.r.stderr, /\[restart\] would run systemctl stop etcd\.service/);
  });

  it('a fault right after its first change (certificates) leaves every certificate and key as it was', async () => {
    const before = await certs(2);
    const pids = await lab.etcdPids(2);
    const r = await lab.on(2, ['env', 'ETCDADM_TEST_FAIL=after:certificates', ETCDADM_HOOKS, 'certs', 'renew', 'all']);
    oneErrorLine(r, /a fault injected by the test at after:certificates/);
    assert.equal(await certs(2), before);
    assert.deepEqual(await lab.etcdPids(2), pids);
  });

  it('certs renew phase certificates renews alone; --skip-phases leaves a phase out', async () => {
    const before = await certs(2);
    ok(await lab.etcdadm(2, ['certs', 'renew', 'phase', 'certificates', 'server']), 'certs renew phase certificates server');
    const after = await certs(2);
    assert.notEqual(after.match(/^\S+ +server\.crt$/m)?.[0], before.match(/^\S+ +server\.crt$/m)?.[0]);
    assert.equal(after.match(/^\S+ +peer\.crt$/m)?.[0], before.match(/^\S+ +peer\.crt$/m)?.[0]);
    const r = ok(await lab.etcdadm(2, ['certs', 'renew', 'peer', '--skip-phases', 'reload']), 'skip reload');
    assert.match(r.stderr, /\[reload\] Skipped \(--skip-phases\)/);
    assert.match(r.stderr, /\[verify\] Member eahost2 is healthy/);
  });
});
