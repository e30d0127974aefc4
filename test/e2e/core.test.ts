/**
 * The promises of the reshaped core, on lab hosts, run as a user runs the CLI: one error for a corrupt host record
 * everywhere, etcdctl.env/etcdctl.sh on default and custom ports with etcd 3.4 and 3.5, bounded commands with a
 * partitioned member, dedicated directories, inputs checked before the host changes and a failed run rolled back,
 * join on a member leaving it alone, init --force giving a new cluster, phases run alone and skipped.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ETCDADM, MIRROR_URL, NetnsLab, ok, oneErrorLine, type RunResult } from '../helpers/lab.js';
import { DEFAULTS } from '../../src/config/defaults.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const fixtures = `/tmp/etcdadm-core-fixtures-${process.pid}`;
let lab: NetnsLab;
const url = (i: number, port = 2379) => `https://${lab.ip(i)}:${port}`;

before(async () => {
  lab = await NetnsLab.up(8);
  mkdirSync(fixtures, { recursive: true });
  writeFileSync(
    `${fixtures}/ports.yaml`,
    'apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\nmember:\n  clientPort: 12379\n  peerPort: 12380\n  listenMetricsURLs: ["http://127.0.0.1:12381"]\n',
  );
  // hosts 1-3: a cluster of the default version; 4: 3.4.23; 5: 3.4.23 on ports 12379/12380; 6: the default on 12379/12380; 8: the default
  await Promise.all([
    (async () => {
      ok(await lab.etcdadm(1, ['init', ...R]), 'init host1');
      await lab.join(2, 1, R);
      await lab.join(3, 2, R, 1);
    })(),
    (async () => ok(await lab.etcdadm(4, ['init', '--version', '3.4.23', ...R]), 'init host4'))(),
    (async () => ok(await lab.etcdadm(5, ['init', '--version', '3.4.23', '--config', `${fixtures}/ports.yaml`, ...R]), 'init host5'))(),
    (async () => ok(await lab.etcdadm(6, ['init', '--config', `${fixtures}/ports.yaml`, ...R]), 'init host6'))(),
    (async () => ok(await lab.etcdadm(8, ['init', ...R]), 'init host8'))(),
  ]);
});
after(async () => {
  await lab?.down();
  rmSync(fixtures, { recursive: true, force: true });
});

/** What a command could have changed on host i: files etcdadm writes, and the etcd process. */
async function hostState(i: number): Promise<string> {
  // etcd's own files change while it runs; the data dir is compared by its entries
  const files = ok(await lab.sh(i, 'cd / && find etc/etcd etc/systemd/system/etcd.service opt/bin -type f 2>/dev/null | sort | xargs -r md5sum; ls -A var/lib/etcd 2>/dev/null; true')).stdout;
  return `${files}\npids ${(await lab.etcdPids(i)).join(',')}`;
}

/** Nothing of etcd on host i: no binaries, unit, env files, data dir, record. */
async function assertNothingInstalled(i: number): Promise<void> {
  const left = ok(await lab.sh(i, 'find /opt/bin /etc/etcd /etc/systemd/system/etcd.service /var/lib/etcd -mindepth 0 2>/dev/null | grep -v "^/opt/bin$"; true')).stdout.trim();
  assert.equal(left, '', `nothing installed or written; found:\n${left}`);
  assert.deepEqual(await lab.etcdPids(i), [], 'no etcd process');
}

const errorText = (r: RunResult) => (r.stderr.split('\n').find((l) => / ERROR /.test(l)) ?? '').replace(/^.* ERROR /, '');

describe('a corrupt host record', () => {
  it('is the same one-line error and exit code from init, join, reset, info, status and config view; nothing changes', async () => {
    const saved = ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;
    ok(await lab.sh(1, "printf 'apiVersion: [broken\\n' > /etc/etcd/etcdadm.yaml"));
    try {
      const before = await hostState(1);
      const runs = [
        ['init', ...R],
        ['join', url(2), ...R],
        ['reset'],
        ['info'],
        ['status'],
        ['config', 'view'],
      ];
      const results = [];
      for (const args of runs) results.push({ args, r: await lab.etcdadm(1, args) });
      const first = results[0]!;
      oneErrorLine(first.r, /^.* ERROR the host record \/etc\/etcd\/etcdadm\.yaml is unusable: not valid YAML/);
      for (const { args, r } of results) {
        oneErrorLine(r, /the host record \/etc\/etcd\/etcdadm\.yaml is unusable/);
        assert.equal(errorText(r), errorText(first.r), `etcdadm ${args.join(' ')} says the same`);
        assert.equal(r.code, first.r.code, `etcdadm ${args.join(' ')} exits like the others`);
      }
      assert.equal(first.r.code, 1);
      assert.equal(await hostState(1), before, 'nothing on the host changed');
    } finally {
      ok(await lab.sh(1, `cat > /etc/etcd/etcdadm.yaml <<'EOF'\n${saved}EOF`));
    }
    ok(await lab.etcdadm(1, ['status']), 'status with the record restored');
  });
});

describe('etcdctl.env and etcdctl.sh', () => {
  const cases: [string, number, number[], number][] = [
    ['the default version, default port, 3 members', 1, [1, 2, 3], 2379],
    ['3.4.23, default port', 4, [4], 2379],
    ['3.4.23, client port 12379', 5, [5], 12379],
    ['the default version, client port 12379', 6, [6], 12379],
  ];
  for (const [what, i, members, port] of cases) {
    it(`work as etcdadm's did, with explicit --endpoints too: ${what}`, async () => {
      const env = ok(await lab.on(i, ['cat', '/etc/etcd/etcdctl.env'])).stdout;
      assert.doesNotMatch(env, /ETCDCTL_ENDPOINTS/);
      const health = ok(await lab.etcdctl(i, ['endpoint', 'health']), 'etcdctl.sh endpoint health');
      assert.match(health.stdout + health.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is healthy`));
      const all = members.map((m) => url(m, port)).join(',');
      const viaWrapper = ok(await lab.etcdctl(i, [`--endpoints=${all}`, 'endpoint', 'status']), 'etcdctl.sh --endpoints=<all> endpoint status');
      assert.equal(viaWrapper.stdout.trim().split('\n').length, members.length, viaWrapper.stdout);
      const sourced = ok(await lab.sh(i, `. /etc/etcd/etcdctl.env; /opt/bin/etcdctl --endpoints=${all} endpoint status`), 'sourced env + etcdctl --endpoints');
      for (const m of members) assert.match(sourced.stdout, new RegExp(`${lab.ip(m).replace(/\./g, '\\.')}:${port}`));
    });
  }
});

describe('join on a host that already is a member', () => {
  it("exits 0 saying so, through its own or another member's URL, and the member's etcd keeps running (same PID)", async () => {
    for (const via of [2, 1]) {
      const pids = await lab.etcdPids(2);
      assert.equal(pids.length, 1);
      const before = await hostState(2);
      const r = ok(await lab.etcdadm(2, ['join', url(via), ...R]), `join through host${via}`);
      assert.match(r.stderr, /\[preflight\] This host is already member eahost2 \([0-9a-f]+\) of cluster [0-9a-f]+; nothing to do/);
      assert.doesNotMatch(r.stderr, /\[stop\]|\[membership\]/);
      assert.deepEqual(await lab.etcdPids(2), pids, 'the same etcd process');
      assert.equal(await hostState(2), before, 'nothing changed');
    }
  });
});

describe('init --force over an earlier member', () => {
  it('gives a new cluster ID (etcd\'s own member list header) and keeps the old data moved aside', async () => {
    const clusterId = async () => {
      const r = ok(await lab.etcdctl(8, ['member', 'list', '-w', 'json']), 'member list -w json');
      const id = /"cluster_id":(\d+)/.exec(r.stdout)?.[1]; // a uint64: read as text, not as a JSON number
      assert.ok(id, r.stdout);
      return id;
    };
    const memberId = async () => JSON.parse(ok(await lab.etcdadm(8, ['info'])).stdout).id as string;
    ok(await lab.etcdctl(8, ['put', 'old-cluster-key', 'kept']));
    const before = await clusterId();
    const memberBefore = await memberId();
    ok(await lab.etcdadm(8, ['init', '--force', ...R]), 'init --force');
    const after = await clusterId();
    assert.notEqual(after, before, 'a rebuilt cluster never gets the earlier cluster ID');
    assert.notEqual(await memberId(), memberBefore, 'nor the earlier member ID');
    const get = ok(await lab.etcdctl(8, ['get', 'old-cluster-key', '--print-value-only']));
    assert.equal(get.stdout.trim(), '', 'the new cluster starts empty');
    ok(await lab.sh(8, 'test -d /var/lib/etcd.bak-*/member/snap'), 'the old data is kept aside');
    // intact: the old cluster's key is in its backend, which etcd flushed when it was stopped
    ok(await lab.sh(8, 'grep -c old-cluster-key /var/lib/etcd.bak-*/member/snap/db'), 'the old key is in the moved data');
  });
});

describe('directories dedicated to etcd', () => {
  it('init refuses a system directory as data or certs dir, changing nothing', async () => {
    oneErrorLine(await lab.etcdadm(7, ['init', '--data-dir', '/etc', ...R]), /\/etc is a system directory: it cannot be the data dir/);
    oneErrorLine(await lab.etcdadm(7, ['init', '--certs-dir', '/var', ...R]), /\/var is a system directory: it cannot be the certs dir/);
    await assertNothingInstalled(7);
  });
  it('a host record hand-edited to a system directory makes reset refuse, changing nothing', async () => {
    ok(await lab.sh(4, 'cp /etc/etcd/etcdadm.yaml /root/record.saved && sed -i "s#dataDir: /var/lib/etcd#dataDir: /etc#" /etc/etcd/etcdadm.yaml'));
    try {
      const before = await hostState(4);
      oneErrorLine(await lab.etcdadm(4, ['reset', '--force']), /refusing to reset: the data dir \/etc is not a directory of etcd's own/);
      assert.equal(await hostState(4), before);
    } finally {
      ok(await lab.sh(4, 'cp /root/record.saved /etc/etcd/etcdadm.yaml'));
    }
  });
});

describe('inputs checked before the host changes; a failed run rolled back', () => {
  const H = 7;
  it('a data dir on a 2 MiB filesystem: refused in preflight, naming the free space', async () => {
    ok(await lab.sh(H, 'mkdir -p /var/lib/etcd && mount -t tmpfs -o size=2m tmpfs /var/lib/etcd'));
    try {
      oneErrorLine(await lab.etcdadm(H, ['init', ...R]), /the filesystem of the data dir \/var\/lib\/etcd has 2\.0 MiB free; etcd needs at least 128\.0 MiB/);
      assert.equal(ok(await lab.sh(H, 'ls -A /var/lib/etcd; ls /opt/bin /etc/etcd 2>/dev/null; true')).stdout.trim(), '');
    } finally {
      ok(await lab.sh(H, 'umount /var/lib/etcd && rmdir /var/lib/etcd'));
    }
    await assertNothingInstalled(H);
  });
  it('every input that can be checked first fails before anything is installed', async () => {
    ok(await lab.sh(H, 'echo x > /root/not-a-dir && head -c 4096 /dev/urandom > /root/not-a-snapshot'));
    const cases: [string[], RegExp][] = [
      [['--server-cert-extra-sans', 'ok.example,bad name!'], /invalid --server-cert-extra-sans "ok\.example,bad name!": must be an IP address or a DNS name/],
      [['--certs-dir', '/root/not-a-dir'], /the certs dir \/root\/not-a-dir exists but is not a directory/],
      [['--snapshot', '/root/no-such-snapshot'], /\/root\/no-such-snapshot is not a usable etcd snapshot: it does not exist/],
      [['--snapshot', '/root/not-a-snapshot'], /\/root\/not-a-snapshot is not a usable etcd snapshot/],
      [['--version', 'vv3.5.30'], /invalid --version "vv3\.5\.30"/],
    ];
    for (const [args, pattern] of cases) {
      oneErrorLine(await lab.etcdadm(H, ['init', ...args, ...R]), pattern);
      await assertNothingInstalled(H);
    }
  });
  it('a start that fails after install leaves the host as it was', async () => {
    // systemd refusing to enable the unit, in this host's mount namespace only
    ok(await lab.sh(H, `cat > /root/systemctl <<'EOF'
#!/bin/sh
case "$1" in enable) echo "Failed to enable unit: refused for this test" >&2; exit 1;; esac
exec /usr/bin/python3 /var/cache/etcdadm-lab/systemctl-shim/x/usr/bin/systemctl "$@"
EOF
chmod +x /root/systemctl && mount --bind /root/systemctl /usr/bin/systemctl`));
    try {
      const r = await lab.etcdadm(H, ['init', ...R]);
      oneErrorLine(r, /etcd\.service did not start/);
      assert.match(r.stderr, new RegExp(`\\[install\\] Installed etcd v${DEFAULTS.etcdVersion.replace(/\./g, '\\.')}`), 'it failed after the install');
      assert.match(r.stderr, /\[rollback\] Rolling back what this run changed/);
    } finally {
      ok(await lab.sh(H, 'umount /usr/bin/systemctl'));
    }
    await assertNothingInstalled(H);
    assert.equal(ok(await lab.sh(H, 'ls /etc/etcd /etc/systemd/system/etcd.service /var/lib/etcd 2>&1; true')).stdout.match(/No such file/g)?.length, 3);
  });
  it('an etcd that exits at start is reported at once with its own error, and the run rolled back', async () => {
    writeFileSync(`${fixtures}/bad-arg.yaml`, 'apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\netcd:\n  extraArgs:\n    max-txn-ops: "lots"\n');
    const t0 = Date.now();
    const r = await lab.etcdadm(H, ['init', '--config', `${fixtures}/bad-arg.yaml`, ...R]);
    oneErrorLine(r, /etcd.*(did not start|is not running).*lots/);
    assert.ok(Date.now() - t0 < 40_000, `reported after ${Date.now() - t0} ms, not after the 2-minute health timeout`);
    await assertNothingInstalled(H);
  });
  it('run as a user other than root: one line saying it must run as root, nothing changed', async () => {
    oneErrorLine(await lab.on(H, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/env', `PATH=${process.env.PATH}`, ETCDADM, 'init', ...R]), /etcdadm init must run as root/);
    await assertNothingInstalled(H);
  });
});

describe('phases', () => {
  const H = 7;
  it('init --skip-phases etcdctl: no etcdctl.env or etcdctl.sh, everything else as init does', async () => {
    const r = ok(await lab.etcdadm(H, ['init', '--skip-phases', 'etcdctl', ...R]), 'init --skip-phases etcdctl');
    assert.match(r.stderr, /\[etcdctl\] Skipped \(--skip-phases\)/);
    assert.equal(r.stdout.trim(), `etcdadm join ${url(H)}`);
    ok(await lab.sh(H, 'test ! -e /opt/bin/etcdctl.sh && test ! -e /etc/etcd/etcdctl.env'), 'no etcdctl wrapper files');
    ok(await lab.sh(H, 'test -s /etc/etcd/etcd.env && test -s /etc/systemd/system/etcd.service && test -s /etc/etcd/etcdadm.yaml && test -d /var/lib/etcd/member'));
    ok(await lab.sh(H, `/opt/bin/etcdctl --endpoints=${url(H)} --cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/etcdctl-etcd-client.crt --key=/etc/etcd/pki/etcdctl-etcd-client.key endpoint health`));
    oneErrorLine(await lab.etcdadm(H, ['init', '--skip-phases', 'etcdctl,nosuch', ...R]), /--skip-phases: init has no phase "nosuch"/);
  });
  it('reset phase --help lists its phases, and each runs on its own', async () => {
    const help = ok(await lab.etcdadm(H, ['reset', 'phase', '--help'])).stdout;
    for (const p of ['preflight', 'remove-member', 'stop', 'cleanup']) assert.match(help, new RegExp(`^  ${p} `, 'm'), p);
    ok(await lab.etcdadm(H, ['reset', 'phase', 'preflight']), 'reset phase preflight');
    assert.equal((await lab.etcdPids(H)).length, 1, 'preflight changes nothing');
    oneErrorLine(await lab.etcdadm(H, ['reset', 'phase', 'remove-member']), /last member of cluster/);
    ok(await lab.etcdadm(H, ['reset', 'phase', 'remove-member', '--force']), 'reset phase remove-member --force');
    ok(await lab.etcdadm(H, ['reset', 'phase', 'stop']), 'reset phase stop');
    assert.deepEqual(await lab.etcdPids(H), [], 'stop stopped etcd');
    ok(await lab.sh(H, 'test -s /etc/etcd/etcdadm.yaml && test -d /var/lib/etcd/member'), 'stop leaves the files');
    const c = ok(await lab.etcdadm(H, ['reset', 'phase', 'cleanup']), 'reset phase cleanup');
    assert.match(c.stderr, /Moved the existing data dir \/var\/lib\/etcd aside to \/var\/lib\/etcd\.bak-/, 'the last member\'s data is kept');
    await assertNothingInstalled(H);
  });
  it('reset on a host with nothing of etcdadm says so and exits 0, claiming nothing', async () => {
    const r = ok(await lab.etcdadm(H, ['reset']), 'reset of nothing');
    assert.match(r.stderr, /\[preflight\] This host has nothing of etcdadm to reset/);
    assert.doesNotMatch(r.stderr, /Removed|Stopped/);
  });
});

describe('a partitioned member (its link down: packets dropped, not refused)', () => {
  it('status ends within 5 s on every member host: 3 (degraded) where quorum is reachable, 4 on the cut-off host', async () => {
    // static neighbour entries: without them the kernel answers "no route to host" at once and hides the problem
    const mac = async (i: number) => ok(await lab.sh(i, "cat /sys/class/net/eth0/address")).stdout.trim();
    for (const [a, b] of [[1, 3], [2, 3], [3, 1], [3, 2]] as const)
      ok(await lab.sh(a, `ip neigh replace ${lab.ip(b)} lladdr ${await mac(b)} dev eth0 nud permanent`));
    ok(await lab.sh(3, 'ip link set eth0 down'));
    try {
      for (const [i, code] of [[1, 3], [2, 3], [3, 4]] as const) {
        const t0 = Date.now();
        const r = await lab.etcdadm(i, ['status', '-o', 'json']);
        const ms = Date.now() - t0;
        assert.equal(r.code, code, `status on host${i}: ${r.stderr}`);
        assert.ok(ms <= 5000, `status on host${i} took ${ms} ms`);
      }
      const t0 = Date.now();
      oneErrorLine(await lab.etcdadm(2, ['reset']), /would leave 2 voting members of which 1 is healthy/);
      assert.ok(Date.now() - t0 <= 10_000, `the refusal took ${Date.now() - t0} ms`);
    } finally {
      ok(await lab.sh(3, 'ip link set eth0 up'));
    }
  });
});
