/**
 * Taking over a cluster built by etcdadm v0.1.x (test/helpers/v01x.ts lays its hosts down from that version's
 * layout: etcd.env, the unit, etcdctl.env and etcdctl.sh, RSA-2048 certificates with its names and subjects) — three
 * members on etcd 3.4.23, host3 with a custom --install-dir and --certs-dir, no host record anywhere:
 * read commands work and write nothing; a changing command is refused until the host is adopted; `adopt` writes the
 * record (and nothing else) that `config view` shows; `--adopt` does the same as a changing command's first phase;
 * a new host joins the adopted cluster as a learner and is promoted; an etcd set up by hand is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_URL, NetnsLab, ok } from '../helpers/lab.js';
import { buildV01xCluster } from '../helpers/v01x.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const CUSTOM = { installDir: '/opt/etcd/bin', certsDir: '/etc/etcd-custom/pki' };
const certsDir = (i: number) => (i === 3 ? CUSTOM.certsDir : '/etc/etcd/pki');
let lab: NetnsLab;

const noRecord = async (i: number) => ok(await lab.sh(i, 'test ! -e /etc/etcd/etcdadm.yaml'), `no record on host${i}`);
const serial = async (i: number, file: string) => ok(await lab.sh(i, `openssl x509 -in ${certsDir(i)}/${file}.crt -noout -serial`)).stdout.trim();
/** Every file under /etc/etcd and the certs dir with its content hash, and etcd's PID: what "changed nothing" compares. */
const snapshotOf = async (i: number) => ok(await lab.sh(i, `find /etc/etcd ${certsDir(i)} /etc/systemd/system/etcd.service -type f | sort | xargs sha256sum; pgrep -x etcd`)).stdout;

before(async () => {
  lab = await NetnsLab.up(4);
  await buildV01xCluster(lab, [{ i: 1 }, { i: 2 }, { i: 3, ...CUSTOM }]);
});
after(async () => {
  await lab?.down();
});

describe('etcdadm on a cluster built by etcdadm v0.1.x', () => {
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
    assert.match(dry.stderr, /\[preflight\] Found systemd unit \/etc\/systemd\/system\/etcd\.service running \/opt\/etcd\/bin\/etcd/);
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
      service: { initSystem: string; user: string };
    };
    assert.equal(doc.member.name, 'eahost3');
    assert.equal(doc.member.dataDir, '/var/lib/etcd');
    assert.deepEqual(doc.member.advertiseClientURLs, [`https://${lab.ip(3)}:2379`]);
    assert.equal(doc.etcd.version, '3.4.23');
    assert.deepEqual([doc.pki.certsDir, doc.pki.keyAlgorithm, doc.install.installDir], [CUSTOM.certsDir, 'rsa-2048', CUSTOM.installDir]);
    assert.deepEqual([doc.service.initSystem, doc.service.user], ['systemd', 'root']);
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
    const st = JSON.parse(ok(await lab.etcdadm(2, ['status', '-o', 'json'])).stdout) as { health: string };
    assert.equal(st.health, 'healthy');
  });

  it('an etcd set up by hand is refused by adopt, naming what is missing, and nothing is written', async () => {
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
    const r = ok(await lab.etcdadm(4, ['join', `https://${lab.ip(1)}:2379`, ...R]), 'join host4');
    assert.match(r.stderr, /\[membership\] Added learner [0-9a-f]+/);
    assert.match(r.stderr, /Promoted member eahost4/);
    const st = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as { health: string; voters: number; members: { name: string; role: string }[] };
    assert.equal(st.health, 'healthy');
    assert.equal(st.voters, 4);
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
    const ours = [/^\/var\/lib\/etcd(\/|$)/, /^\/etc\/etcd(\/|$)/, /^\/etc\/etcd-custom\/pki(\/|$)/, /^\/opt\/etcd\/bin(\/|$)/, /^\/etc\/systemd\/system\/(multi-user\.target\.wants\/)?etcd\.service$/];
    assert.deepEqual(removed.filter((p) => !ours.some((re) => re.test(p))), [], 'reset removed only what was set up for etcd');
    for (const gone of ['/var/lib/etcd', '/etc/etcd/etcd.env', '/etc/etcd/etcdctl.env', '/etc/etcd/etcdadm.yaml', '/etc/etcd-custom/pki', '/opt/etcd/bin', '/etc/systemd/system/etcd.service'])
      assert.ok(removed.includes(gone), `${gone} removed`);
    assert.ok(after.has('/var/cache/etcdadm/etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz'), 'the download cache stays, as with etcdadm v0.1.x');
    const st = JSON.parse(ok(await lab.etcdadm(1, ['status', '-o', 'json'])).stdout) as { health: string; members: { name: string }[] };
    assert.equal(st.health, 'healthy');
    assert.deepEqual(st.members.map((m) => m.name).sort(), ['eahost1', 'eahost2', 'eahost4']);
  });
});
