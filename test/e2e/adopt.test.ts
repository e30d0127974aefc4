/**
 * Taking over a cluster built by etcdadm v0.1.x (test/helpers/v01x.ts lays its hosts down from that version's
 * layout: etcd.env, the unit, etcdctl.env and etcdctl.sh, RSA-2048 certificates with its names and subjects) — three
 * members on etcd 3.4.23, host3 with a custom --install-dir and --certs-dir, no host record anywhere:
 * read commands work and write nothing; a changing command is refused until the host is adopted; `adopt` writes the
 * record (and nothing else) that `config view` shows; `--adopt` does the same as a changing command's first phase;
 * a new host joins the adopted cluster as a learner and is promoted; an etcd set up by hand is refused; under a
 * client writing every 50 ms, certs renew all on each adopted host (RSA kept) and upgrade apply 3.4.23 → 3.5.30 on
 * every host, the leader last; snapshot save; reset of the custom-dir host removes exactly its files.
 * All of it twice: with the members run by systemd, and by v0.1.x's kubelet mode (its static Pod etcd.manifest, on
 * the kubelet stand-in; that mode installs no binaries, so there host3 has only a custom certs dir).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EtcdClient } from '../../src/etcd/client.js';
import { MIRROR_DIR } from '../helpers/etcd-bin.js';
import { MIRROR_URL, NetnsLab, REPO, ok } from '../helpers/lab.js';
import { BackgroundWriter, labClient } from '../helpers/writer.js';
import { buildV01xCluster } from '../helpers/v01x.js';

const STANDIN = join(REPO, 'build/test/helpers/kubelet-standin.js');

for (const mode of ['systemd', 'kubelet'] as const) {
const kubelet = mode === 'kubelet';
const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const CUSTOM = kubelet ? { certsDir: '/etc/etcd-custom/pki' } : { installDir: '/opt/etcd/bin', certsDir: '/etc/etcd-custom/pki' };
const certsDir = (i: number) => (i === 3 ? CUSTOM.certsDir : '/etc/etcd/pki');
/** What runs the member: v0.1.x's unit, or its static Pod. */
const SERVICE = kubelet ? '/etc/kubernetes/manifests/etcd.manifest' : '/etc/systemd/system/etcd.service';
let lab: NetnsLab;
let client: EtcdClient;
let writer: BackgroundWriter;

const noRecord = async (i: number) => ok(await lab.sh(i, 'test ! -e /etc/etcd/etcdadm.yaml'), `no record on host${i}`);
const serial = async (i: number, file: string) => ok(await lab.sh(i, `openssl x509 -in ${certsDir(i)}/${file}.crt -noout -serial`)).stdout.trim();
/** Every file under /etc/etcd and the certs dir with its content hash, and etcd's PID: what "changed nothing" compares. */
const snapshotOf = async (i: number) => ok(await lab.sh(i, `find /etc/etcd ${certsDir(i)} ${SERVICE} -type f | sort | xargs sha256sum; pgrep -x etcd`)).stdout;

describe(`etcdadm on a cluster built by etcdadm v0.1.x, members run by ${mode}`, () => {
  before(async () => {
    lab = await NetnsLab.up(4);
    if (kubelet)
      for (const i of [1, 2, 3, 4])
        ok(await lab.sh(i, `setsid ${process.execPath} ${STANDIN} /etc/kubernetes/manifests ${MIRROR_DIR} /run/kubelet-standin > /run/kubelet-standin.log 2>&1 < /dev/null & for k in $(seq 100); do test -s /run/kubelet-standin/status.json && break; sleep 0.05; done`), `kubelet stand-in on host${i}`);
    await buildV01xCluster(lab, [{ i: 1 }, { i: 2 }, { i: 3, ...CUSTOM }], { mode });
  });
  after(async () => {
    await lab?.down();
  });

  it('with no record: status, info and certs check-expiration work (custom certs dir included) and write nothing', async () => {
    for (const i of [1, 2, 3]) {
      const st = JSON.parse(ok(await lab.etcdadm(i, ['status', '-o', 'json']), `status on host${i}`).stdout) as { health: string; members: { name: string; version: string; health: string }[] };
      assert.equal(st.health, 'healthy');
      assert.deepEqual(st.members.map((m) => `${m.name} ${m.version} ${m.health}`).sort(), ['eahost1 3.4.23 healthy', 'eahost2 3.4.23 healthy', 'eahost3 3.4.23 healthy']);
      const info = JSON.parse(ok(await lab.etcdadm(i, ['info']), `info on host${i}`).stdout) as { name: string; isLearner: boolean };
      assert.equal(info.name, lab.hostname(i));
      const exp = JSON.parse(ok(await lab.etcdadm(i, ['certs', 'check-expiration', '-o', 'json']), `check-expiration on host${i}`).stdout) as { certsDir: string; certificates: { name: string; state: string }[] };
      assert.equal(exp.certsDir, certsDir(i));
      assert.deepEqual(exp.certificates.map((c) => `${c.name} ${c.state}`), ['ca ok', 'server ok', 'peer ok', 'etcdctl-etcd-client ok', 'apiserver-etcd-client ok']);
      await noRecord(i);
    }
    const plan = await lab.etcdadm(3, ['upgrade', 'plan', '--version', '3.5.30', ...R, '-o', 'json']);
    assert.equal(plan.code, 0, plan.stderr);
    const { plan: p } = JSON.parse(plan.stdout) as { plan: { kind: string; from: string; to: string; steps: { member: string; role: string }[]; blockers: unknown[] } };
    assert.deepEqual([p.kind, p.from, p.to, p.blockers.length], ['minor-upgrade', '3.4.23', '3.5.30', 0]);
    assert.equal(p.steps.at(-1)?.role, 'leader');
    assert.equal(p.steps.length, 3);
    const view = ok(await lab.etcdadm(3, ['config', 'view'])).stdout;
    assert.match(view, /^# What etcdadm v0\.1\.x set up for eahost3, derived from its files \(no record written: etcdadm adopt writes it\)\n/);
    assert.match(view, /certsDir: \/etc\/etcd-custom\/pki/);
    await noRecord(3);
  });

  it('a changing command is refused until the host is adopted, and changes nothing', async () => {
    const before = await snapshotOf(1);
    const r = await lab.etcdadm(1, ['certs', 'renew', 'all']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /this host's etcd was set up by etcdadm v0\.1\.x and has no host record \(\/etc\/etcd\/etcdadm\.yaml\).*Run 'etcdadm adopt' first/);
    assert.equal(await snapshotOf(1), before);
    await noRecord(1);
  });

  it('adopt --dry-run shows what it derived and writes nothing; adopt writes only the record, which config view shows', async () => {
    const before = await snapshotOf(3);
    const dry = ok(await lab.etcdadm(3, ['adopt', '--dry-run']), 'adopt --dry-run');
    assert.match(dry.stderr, kubelet ? /\[preflight\] Found static Pod \/etc\/kubernetes\/manifests\/etcd\.manifest \(image quay\.io\/coreos\/etcd:v3\.4\.23\)/ : /\[preflight\] Found systemd unit \/etc\/systemd\/system\/etcd\.service running \/opt\/etcd\/bin\/etcd/);
    assert.match(dry.stderr, /\[preflight\] Derived certificates in \/etc\/etcd-custom\/pki \(rsa-2048, kept on renewal\)/);
    assert.match(dry.stderr, /\[record\] would write \/etc\/etcd\/etcdadm\.yaml/);
    assert.equal(await snapshotOf(3), before);
    for (const i of [1, 3]) {
      const pids = ok(await lab.sh(i, 'pgrep -x etcd')).stdout;
      const r = ok(await lab.etcdadm(i, ['adopt']), `adopt on host${i}`);
      assert.match(r.stderr, /\[record\] Wrote \/etc\/etcd\/etcdadm\.yaml: this member, set up by etcdadm v0\.1\.x, is managed by etcdadm from now on/);
      assert.equal(ok(await lab.sh(i, 'stat -c %a /etc/etcd/etcdadm.yaml')).stdout.trim(), '600');
      assert.equal(ok(await lab.sh(i, 'pgrep -x etcd')).stdout, pids, 'etcd was not restarted');
    }
    const after = await snapshotOf(3);
    assert.deepEqual(after.split('\n').filter((l) => !l.includes('/etc/etcd/etcdadm.yaml')), before.split('\n'), 'adopt wrote nothing but the record');
    const view = ok(await lab.etcdadm(3, ['config', 'view'])).stdout;
    assert.match(view.split('\n')[0]!, /^# The settings eahost3 was set up with \(join, adopted from etcdadm v0\.1\.x at /);
    const doc = JSON.parse(ok(await lab.etcdadm(3, ['config', 'view', '-o', 'json'])).stdout) as {
      member: { name: string; dataDir: string; advertiseClientURLs: string[] };
      etcd: { version: string };
      pki: { certsDir: string; keyAlgorithm: string };
      install: { installDir: string };
      service: { initSystem: string; user: string; kubeletPodManifestName: string };
    };
    assert.equal(doc.member.name, 'eahost3');
    assert.equal(doc.member.dataDir, '/var/lib/etcd');
    assert.deepEqual(doc.member.advertiseClientURLs, [`https://${lab.ip(3)}:2379`]);
    assert.equal(doc.etcd.version, '3.4.23');
    assert.deepEqual([doc.pki.certsDir, doc.pki.keyAlgorithm, doc.install.installDir], [CUSTOM.certsDir, 'rsa-2048', CUSTOM.installDir ?? '/opt/bin']);
    assert.deepEqual([doc.service.initSystem, doc.service.user], [mode, 'root']);
    if (kubelet) assert.equal(doc.service.kubeletPodManifestName, 'etcd.manifest');
    const again = ok(await lab.etcdadm(3, ['adopt']));
    assert.match(again.stderr, /Nothing to adopt: \/etc\/etcd\/etcdadm\.yaml exists/);
  });

  it('--adopt: the changing command takes the host over first (certs renew all keeps RSA-2048)', async () => {
    const old = await serial(2, 'server');
    const r = ok(await lab.etcdadm(2, ['certs', 'renew', 'all', '--adopt']), 'certs renew all --adopt');
    assert.match(r.stderr, /\[adopt\] Wrote \/etc\/etcd\/etcdadm\.yaml/);
    assert.notEqual(await serial(2, 'server'), old);
    assert.match(ok(await lab.sh(2, 'openssl pkey -in /etc/etcd/pki/server.key -noout -text | head -1')).stdout, /Private-Key: \(2048 bit/);
    assert.match(ok(await lab.etcdadm(2, ['adopt'])).stderr, /Nothing to adopt/);
    // every member host adopted now (hosts 1 and 3 by adopt, host2 by --adopt): each record is what config view shows
    for (const i of [1, 2, 3]) {
      const view = ok(await lab.etcdadm(i, ['config', 'view'])).stdout;
      assert.match(view, new RegExp(`^# The settings eahost${i} was set up with \\((init|join), adopted from etcdadm v0\\.1\\.x at `), `host${i}`);
      assert.match(view, new RegExp(`certsDir: ${certsDir(i)}\\n`), `host${i}`);
    }
    const st = JSON.parse(ok(await lab.etcdadm(2, ['status', '-o', 'json'])).stdout) as { health: string };
    assert.equal(st.health, 'healthy');
  });

  if (!kubelet) it('an etcd set up by hand is refused by adopt, naming what is missing, and nothing is written', async () => {
    const unit = '[Unit]\nDescription=etcd\n[Service]\nExecStart=/usr/local/bin/etcd --name by-hand --data-dir /srv/etcd --cert-file /etc/ssl/etcd/etcd.pem\n[Install]\nWantedBy=multi-user.target\n';
    ok(await lab.sh(4, `mkdir -p /etc/systemd/system && printf '%s' '${unit}' > /etc/systemd/system/etcd.service`));
    const before = ok(await lab.sh(4, 'ls -la /etc/etcd 2>&1; sha256sum /etc/systemd/system/etcd.service')).stdout;
    const r = await lab.etcdadm(4, ['adopt']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refusing to adopt: this etcd was not set up the way etcdadm v0\.1\.x sets one up: missing .*ExecStart=\/usr\/local\/bin\/etcd --name by-hand .* is not <install dir>\/etcd without arguments.*no EnvironmentFile=\/etc\/etcd\/etcd\.env.*\/etc\/etcd\/etcd\.env \(the etcd configuration etcdadm v0\.1\.x writes\)/);
    assert.equal(ok(await lab.sh(4, 'ls -la /etc/etcd 2>&1; sha256sum /etc/systemd/system/etcd.service')).stdout, before);
    await noRecord(4);
    ok(await lab.sh(4, 'rm -f /etc/systemd/system/etcd.service'));
  });

  it('a new host joins the adopted cluster as a learner and is promoted', async () => {
    await lab.copyCA(1, 4);
    const r = ok(await lab.etcdadm(4, ['join', `https://${lab.ip(1)}:2379`, ...R, ...(kubelet ? ['--init-system', 'kubelet'] : [])]), 'join host4');
    assert.match(r.stderr, /\[membership\] Added learner [0-9a-f]+/);
    assert.match(r.stderr, /Promoted member eahost4/);
    const st = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as { health: string; voters: number; members: { name: string; role: string }[] };
    assert.equal(st.health, 'healthy');
    assert.equal(st.voters, 4);
  });

  it('under a client writing every 50 ms: certs renew all on each adopted host (RSA 2048 kept), no restart', async () => {
    client = await labClient([1, 2, 3, 4].map((h) => `https://${lab.ip(h)}:2379`), await lab.clientPem(1));
    writer = new BackgroundWriter(client, 'adopted');
    await writer.moreWrites(5);
    for (const i of [1, 2, 3]) {
      const old = await serial(i, 'server');
      const pids = await lab.etcdPids(i);
      const r = ok(await lab.etcdadm(i, ['certs', 'renew', 'all']), `certs renew all on host${i}`);
      assert.match(r.stderr, /\[verify\] Member eahost\d+ is healthy; its client port presents the server certificate on disk/);
      assert.notEqual(await serial(i, 'server'), old);
      for (const f of ['server', 'peer', 'etcdctl-etcd-client', 'apiserver-etcd-client'])
        assert.match(ok(await lab.sh(i, `openssl pkey -in ${certsDir(i)}/${f}.key -noout -text | head -1`)).stdout, /Private-Key: \(2048 bit/, `host${i} ${f}.key`);
      assert.deepEqual(await lab.etcdPids(i), pids, 'etcd 3.4 reads renewed certificates without a restart');
      await writer.moreWrites(3);
    }
  });

  it('under the writer: upgrade apply 3.4.23 → 3.5.30 on each host in plan order, the leader last; then snapshot save', async () => {
    const plan = JSON.parse(ok(await lab.etcdadm(1, ['upgrade', 'plan', '--version', '3.5.30', ...R, '-o', 'json'])).stdout) as { plan: { steps: { member: string; role: string }[] } };
    const steps = plan.plan.steps;
    assert.equal(steps.length, 4);
    assert.equal(steps.at(-1)!.role, 'leader');
    for (const s of steps) {
      const h = Number(s.member.replace('eahost', ''));
      const r = ok(await lab.etcdadm(h, ['upgrade', 'apply', '--version', '3.5.30', ...R], 180_000), `upgrade apply on host${h}`);
      assert.match(r.stderr, /\[health\] Member eahost\d+ serves on etcd 3\.5\.30 and has caught up with the leader/);
      if (s.role === 'leader') assert.match(r.stderr, /\[leadership\] .* is the leader; moving leadership to/);
      // the layout kept: the data dir, the install dir (custom on host3) and the unit it had
      const env = ok(await lab.on(h, ['cat', '/etc/etcd/etcd.env'])).stdout;
      assert.match(env, /^ETCD_DATA_DIR=\/var\/lib\/etcd$/m);
      assert.match(env, new RegExp(`^ETCD_CERT_FILE=${certsDir(h)}/server\\.crt$`, 'm'));
      if (!kubelet) assert.match(ok(await lab.on(h, ['cat', SERVICE])).stdout, new RegExp(`^ExecStart=${h === 3 ? CUSTOM.installDir : '/opt/bin'}/etcd$`, 'm'));
      // the static Pod keeps its file: v0.1.x's etcd.manifest (host4, joined by etcdadm, has etcd.yaml), and only one
      else assert.deepEqual(ok(await lab.sh(h, `grep -lF 'image: "quay.io/coreos/etcd:v3.5.30"' /etc/kubernetes/manifests/*; ls /etc/kubernetes/manifests`)).stdout.split('\n').filter(Boolean), h === 4 ? ['/etc/kubernetes/manifests/etcd.yaml', 'etcd.yaml'] : [SERVICE, 'etcd.manifest']);
      await writer.moreWrites(3);
    }
    const st = JSON.parse(ok(await lab.etcdadm(2, ['status', '-o', 'json'])).stdout) as { health: string; members: { version: string }[] };
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => m.version), ['3.5.30', '3.5.30', '3.5.30', '3.5.30']);
    const snap = ok(await lab.etcdadm(1, ['snapshot', 'save', '--output', '/var/tmp/adopted.db']), 'snapshot save');
    assert.match(snap.stderr, /Saved \/var\/tmp\/adopted\.db/);
    ok(await lab.etcdadm(1, ['snapshot', 'verify', '/var/tmp/adopted.db']), 'snapshot verify');
    const report = await writer.stop();
    assert.deepEqual(report.failed, []);
    assert.ok(report.maxRetryMs <= 2000, `a write was retried for ${report.maxRetryMs} ms`);
    assert.ok(report.acknowledged.length > 30, `${report.acknowledged.length} writes`);
    for (const key of report.acknowledged) assert.notEqual(await client.get(key), undefined, key);
    client.close();
  });

  it('reset of an adopted host removes exactly its files and its custom dirs, nothing else', async () => {
    const tree = async () => new Set(ok(await lab.sh(3, 'find /etc /opt /var/lib /var/cache/etcdadm -xdev 2>/dev/null | sort')).stdout.split('\n').filter(Boolean));
    const before = await tree();
    const r = ok(await lab.etcdadm(3, ['reset']), 'reset host3');
    assert.match(r.stderr, /Removed the data dir \/var\/lib\/etcd/);
    const after = await tree();
    const removed = [...before].filter((p) => !after.has(p));
    assert.deepEqual([...after].filter((p) => !before.has(p)), [], 'reset added nothing');
    // what etcdadm v0.1.x set up there (its own reset removes the same) and the record: nothing else
    const ours = kubelet
      ? [/^\/var\/lib\/etcd(\/|$)/, /^\/etc\/etcd(\/|$)/, /^\/etc\/etcd-custom\/pki(\/|$)/, /^\/opt\/bin\/(etcd|etcdctl|etcdutl|etcdctl\.sh|etcd-v[0-9.]+)(\/|$)/, /^\/etc\/kubernetes\/manifests\/etcd\.manifest$/]
      : [/^\/var\/lib\/etcd(\/|$)/, /^\/etc\/etcd(\/|$)/, /^\/etc\/etcd-custom\/pki(\/|$)/, /^\/opt\/etcd\/bin(\/|$)/, /^\/etc\/systemd\/system\/(multi-user\.target\.wants\/)?etcd\.service$/];
    assert.deepEqual(removed.filter((p) => !ours.some((re) => re.test(p))), [], 'reset removed only what was set up for etcd');
    for (const gone of ['/var/lib/etcd', '/etc/etcd/etcd.env', '/etc/etcd/etcdctl.env', '/etc/etcd/etcdadm.yaml', '/etc/etcd-custom/pki', CUSTOM.installDir ?? '/opt/bin/etcd', SERVICE])
      assert.ok(removed.includes(gone), `${gone} removed`);
    const cached = kubelet ? 'v3.5.30/etcd-v3.5.30-linux-amd64.tar.gz' : 'v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz';
    assert.ok(after.has(`/var/cache/etcdadm/etcd/${cached}`), 'the download cache stays, as with etcdadm v0.1.x');
    const st = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as { health: string; members: { name: string }[] };
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => m.name).sort(), ['eahost1', 'eahost2', 'eahost4']);
  });
});
}
