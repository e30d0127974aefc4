/**
 * Scheduled backups on a host that boots real systemd: `backup schedule` installs a timer systemd accepts, enables
 * and arms (list-timers shows the next run); the timer's service (started by hand, as the timer would) saves and
 * prunes, recording the outcome that `backup status` reports and judges; a read-only destination makes a run fail
 * and status exit 3 naming the failure; with --s3-* each run also uploads and prunes in a real S3 server's bucket;
 * unschedule and reset remove the units.
 */
import assert from 'node:assert/strict';
import { readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ETCDADM, ETCDADM_HOOKS, MIRROR_URL, NspawnLab, ok, oneErrorLine } from '../helpers/lab.js';
import { S3_KEY, S3_SECRET, S3Server } from '../helpers/s3-server.js';

const R = ['--release-url', MIRROR_URL, '--insecure-release-url'];
const DIR = '/var/backups/etcdadm';
const SERVICE = 'etcdadm-backup.service';
const TIMER = 'etcdadm-backup.timer';
let lab: NspawnLab;

before(async () => {
  lab = await NspawnLab.up(1);
  ok(await lab.etcdadm(1, ['init', ...R]), 'init');
});
after(async () => {
  await lab?.down();
});

interface Status {
  scheduled: boolean;
  schedule: { every: string; keep: number; destination: { kind: string; dir: string }; onCalendar: string } | null;
  timer: { enabled: string; active: string; nextRun: string | null } | null;
  lastSuccess: { time: string; ageSeconds: number; snapshot: string; revision: number; size: number; pruned: number } | null;
  lastFailure: { time: string; error: string } | null;
  health: string;
  problem: string | null;
}

async function status(): Promise<{ code: number; s: Status; stderr: string }> {
  const r = await lab.etcdadm(1, ['backup', 'status', '-o', 'json']);
  return { code: r.code, s: JSON.parse(r.stdout) as Status, stderr: r.stderr };
}

const files = async () => ok(await lab.sh(1, `ls ${DIR}`)).stdout.trim().split('\n').filter(Boolean);
const systemctl = async (...args: string[]) => (await lab.on(1, ['systemctl', ...args])).stdout.trim();

describe('etcdadm backup on real systemd', () => {
  it('schedule --dry-run installs nothing; a fault right after its first changes leaves no unit and no record entry; schedule phase units alone', async () => {
    const state = async () => ok(await lab.sh(1, 'ls -la /etc/systemd/system | grep etcdadm; cat /etc/etcd/etcdadm.yaml; systemctl is-enabled etcdadm-backup.timer; true')).stdout;
    const before = await state();
    const dry = ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h', '--keep', '3', '--dry-run']), 'schedule --dry-run');
    assert.match(dry.stderr, /\[units\] would write \/etc\/systemd\/system\/etcdadm-backup\.timer \(0644/);
    assert.match(dry.stderr, /\[enable\] would run systemctl enable --now etcdadm-backup\.timer/);
    assert.match(dry.stderr, /\[record\] would write \/etc\/etcd\/etcdadm\.yaml \(0600/);
    assert.equal(await state(), before);
    const r = await lab.on(1, ['env', 'ETCDADM_TEST_FAIL=after:enable', ETCDADM_HOOKS, 'backup', 'schedule', '--every', '1h', '--keep', '3']);
    oneErrorLine(r, /a fault injected by the test at after:enable/);
    assert.equal(await state(), before);
    assert.equal(await systemctl('is-active', TIMER), 'inactive');
    ok(await lab.etcdadm(1, ['backup', 'schedule', 'phase', 'units', '--every', '1h', '--keep', '3']), 'schedule phase units');
    assert.equal(await systemctl('is-enabled', TIMER), 'disabled');
    assert.equal(await systemctl('is-active', TIMER), 'inactive');
  });

  it('schedule --every 1h --keep 3: the timer is enabled, active and has a next run; the service runs this etcdadm', async () => {
    ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h', '--keep', '3']), 'backup schedule');
    assert.equal(await systemctl('is-enabled', TIMER), 'enabled');
    assert.equal(await systemctl('is-active', TIMER), 'active');
    const timers = await systemctl('list-timers', '--all', '--no-legend', TIMER);
    assert.match(timers, /^\w{3} \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \w+ .*etcdadm-backup\.timer\s+etcdadm-backup\.service$/, `list-timers shows a next run:\n${timers}`);
    const props = await systemctl('show', TIMER, '-p', 'TimersCalendar,Persistent,RandomizedDelayUSec');
    assert.match(props, /OnCalendar=\*-\*-\* \*:00:00 UTC/);
    assert.match(props, /Persistent=yes/);
    assert.match(props, /RandomizedDelayUSec=6min/);
    const exec = await systemctl('show', SERVICE, '-p', 'ExecStart', '--value');
    assert.ok(exec.includes(`argv[]=${realpathSync(ETCDADM)} backup run ;`), `the timer runs the executable itself: ${exec}`);
    assert.equal(await systemctl('show', SERVICE, '-p', 'Type', '--value'), 'oneshot');
    const record = ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;
    assert.match(record, /\nbackup:\n {2}every: 1h\n {2}keep: 3\n {2}destination:\n {4}kind: local\n {4}dir: \/var\/backups\/etcdadm\n/);
    const { code, s } = await status();
    assert.equal(code, 0, 'a new schedule that has not run yet is pending, not a failure');
    assert.equal(s.health, 'pending');
    assert.ok(s.timer?.nextRun && Date.parse(s.timer.nextRun) > Date.now(), `next run ${s.timer?.nextRun} in the future`);
    assert.ok(Date.parse(s.timer.nextRun) - Date.now() <= 3600_000 + 360_000, 'within an interval and the delay');
  });

  it('bad --every and --keep are refused before anything changes (exit 2)', async () => {
    const before = ok(await lab.on(1, ['cat', '/etc/systemd/system/etcdadm-backup.timer'])).stdout;
    const recordBefore = ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;
    for (const [args, why] of [
      [['--every', '90m'], /invalid --every "90m": 90m does not divide an hour, a day or a week evenly.*use 1h or 2h/],
      [['--every', '30s'], /invalid --every "30s": must be at least 1m/],
      [['--every', '1h', '--keep', '0'], /invalid --keep "0": must be a whole number of at least 1/],
    ] as const) {
      const r = await lab.etcdadm(1, ['backup', 'schedule', ...args]);
      assert.equal(r.code, 2, r.stderr);
      oneErrorLine(r, why);
    }
    assert.equal(ok(await lab.on(1, ['cat', '/etc/systemd/system/etcdadm-backup.timer'])).stdout, before);
    assert.equal(ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, recordBefore);
  });

  it('the service started 5 times: exactly 3 snapshots with their sidecars stay; status reports the newest, exit 0', async () => {
    for (let i = 0; i < 5; i++) ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), `start ${SERVICE} (${i + 1})`);
    const left = await files();
    const dbs = left.filter((f) => f.endsWith('.db'));
    assert.equal(dbs.length, 3, left.join('\n'));
    assert.deepEqual(left, dbs.flatMap((f) => [f, `${f}.json`]).sort());
    const { code, s } = await status();
    assert.equal(code, 0, JSON.stringify(s));
    assert.equal(s.health, 'ok');
    assert.equal(s.lastFailure, null);
    const newest = `${DIR}/${[...dbs].sort().pop()!}`;
    assert.equal(s.lastSuccess?.snapshot, newest);
    assert.equal(s.lastSuccess?.pruned, 1, 'the fifth run removed the oldest');
    const sidecar = JSON.parse(ok(await lab.on(1, ['cat', `${newest}.json`])).stdout) as { size: number; revision: number; sha256: string };
    assert.equal(s.lastSuccess?.size, Number(ok(await lab.on(1, ['stat', '-c', '%s', newest])).stdout.trim()));
    assert.equal(s.lastSuccess?.size, sidecar.size);
    assert.equal(s.lastSuccess?.revision, sidecar.revision);
    assert.equal(sidecar.sha256, ok(await lab.sh(1, `sha256sum ${newest} | cut -d' ' -f1`)).stdout.trim());
    assert.ok(s.lastSuccess!.ageSeconds >= 0 && s.lastSuccess!.ageSeconds < 120, `age ${s.lastSuccess!.ageSeconds}`);
    assert.deepEqual(ok(await lab.sh(1, `stat -c '%a' ${DIR} ${newest} ${newest}.json /var/lib/etcdadm/backup-state.json`)).stdout.trim().split('\n'), ['700', '600', '600', '600']);
    const table = ok(await lab.etcdadm(1, ['backup', 'status'])).stdout;
    assert.match(table, new RegExp(`last success +\\S+ \\(\\d+s ago\\) ${newest.replace(/\./g, '\\.')}`));
  });

  it('schedule again with other values replaces the units; the same values again change nothing', async () => {
    ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '15m', '--keep', '3']), 'schedule --every 15m');
    assert.match(await systemctl('show', TIMER, '-p', 'TimersCalendar'), /OnCalendar=\*-\*-\* \*:00\/15:00 UTC/);
    assert.equal(await systemctl('is-active', TIMER), 'active');
    const next = (await status()).s.timer?.nextRun;
    assert.ok(next && Date.parse(next) - Date.now() <= 15 * 60_000 + 90_000, `next run ${next} within 15m and the delay`);
    const record = ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout;
    const units = async () => ok(await lab.sh(1, `cat /etc/systemd/system/${TIMER} /etc/systemd/system/${SERVICE}`)).stdout;
    const unitsBefore = await units();
    assert.match(unitsBefore, /OnCalendar=\*-\*-\* \*:00\/15:00 UTC/);
    ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '15m', '--keep', '3']), 'the same schedule again');
    assert.equal(ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, record, 'the record is not rewritten');
    assert.equal(await units(), unitsBefore, 'both units as they were');
    assert.equal((await lab.sh(1, 'ls /etc/systemd/system | grep -c etcdadm-backup')).stdout.trim(), '2');
  });

  it('a read-only destination: the service fails, status exits 3 naming the failure; the snapshots stay', async () => {
    const before = await files();
    ok(await lab.sh(1, `mount --bind ${DIR} ${DIR} && mount -o remount,bind,ro ${DIR}`));
    try {
      const r = await lab.on(1, ['systemctl', 'start', SERVICE], 120_000);
      assert.notEqual(r.code, 0, 'the run fails');
      assert.equal(await systemctl('is-failed', SERVICE), 'failed');
      const { code, s, stderr } = await status();
      assert.equal(code, 3, stderr);
      assert.equal(s.health, 'failed');
      assert.match(s.lastFailure?.error ?? '', /^cannot write snapshots into \/var\/backups\/etcdadm: .*read-only file system/);
      assert.match(s.problem ?? '', /^the last backup failed at \S+: cannot write snapshots into \/var\/backups\/etcdadm/);
      assert.match(stderr, /WARN .*the last backup failed/);
      assert.deepEqual(await files(), before);
    } finally {
      await lab.sh(1, `umount ${DIR}`);
    }
    // the next run that works is a success again
    ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), 'start after the destination is writable again');
    assert.equal((await status()).code, 0);
  });

  it('schedule with --s3-*: each run also uploads to the bucket and prunes there; the unit and the record hold no secret', { timeout: 180_000 }, async () => {
    const data = join(lab.dir, 's3data');
    const server = S3Server.start({ dir: data, port: 9000, runDir: join(lab.dir, 's3run'), netns: 'eamirror', listen: '10.88.0.200' });
    try {
      server.mkBucket('backups');
      ok(await lab.sh(1, `umask 077; printf 'AWS_ACCESS_KEY_ID=${S3_KEY}\\nAWS_SECRET_ACCESS_KEY=${S3_SECRET}\\n' > /etc/etcd/s3.env`));
      const S3 = ['--s3-endpoint', 'http://10.88.0.200:9000', '--s3-allow-http', '--s3-bucket', 'backups', '--s3-prefix', 'sched/'];
      // without a credentials file the timer's service would have none: refused, nothing changed
      const noFile = await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h', '--keep', '2', ...S3]);
      assert.equal(noFile.code, 2);
      oneErrorLine(noFile, /a scheduled upload to S3 needs --s3-credentials-file/);
      ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h', '--keep', '2', ...S3, '--s3-credentials-file', '/etc/etcd/s3.env']), 'schedule with S3');
      for (let i = 0; i < 3; i++) ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), `start ${i}`);
      const stored = readdirSync(join(data, 'backups/sched')).filter((n) => !n.startsWith('.')).sort();
      assert.equal(stored.length, 4, `2 snapshots and their sidecars in the bucket: ${stored.join(' ')}`);
      const local = (await files()).filter((f) => f.endsWith('.db')).sort();
      assert.equal(local.length, 2);
      assert.deepEqual(stored.filter((n) => n.endsWith('.db')), local, 'the same two, newest kept in both places');
      const { code, s } = await status();
      assert.equal(code, 0);
      assert.equal(s.schedule?.destination.kind, 's3');
      for (const f of ['/etc/systemd/system/etcdadm-backup.service', '/etc/systemd/system/etcdadm-backup.timer', '/etc/etcd/etcdadm.yaml']) {
        const text = ok(await lab.on(1, ['cat', f])).stdout;
        assert.ok(!text.includes(S3_SECRET) && !text.includes(S3_KEY), `no credential in ${f}`);
      }
      // back to the local schedule the next cases expect
      // the recorded bucket stays when only --every/--keep are given again; --no-s3 drops it
      ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h', '--keep', '2']), 'schedule again, bucket recorded');
      assert.equal((await status()).s.schedule?.destination.kind, 's3');
      server.stop();
      ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h', '--keep', '3', '--no-s3']), 'schedule locally again');
      assert.equal((await status()).s.schedule?.destination.kind, 'local');
      ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), 'a local run, the server gone');
    } finally {
      server.stop();
    }
  });

  it('unschedule removes the timer, the service, the state file and the record entry; the snapshots stay', async () => {
    const state = async () => ok(await lab.sh(1, `ls -la /etc/systemd/system /var/lib/etcdadm ${DIR} | grep -v ' \\.$'; cat /etc/etcd/etcdadm.yaml; systemctl is-enabled ${TIMER}; true`)).stdout;
    const before = await state();
    for (const args of [['backup', 'run'], ['backup', 'unschedule']]) {
      const dry = ok(await lab.etcdadm(1, [...args, '--dry-run']), `${args.join(' ')} --dry-run`);
      assert.match(dry.stderr, args[1] === 'run' ? /\[save\] would save a snapshot of ehost1 into \/var\/backups\/etcdadm/ : /\[stop\] would run systemctl disable --now etcdadm-backup\.timer etcdadm-backup\.service/);
      assert.equal(await state(), before, `${args.join(' ')} --dry-run changed nothing`);
    }
    ok(await lab.etcdadm(1, ['backup', 'unschedule']), 'backup unschedule');
    assert.equal(await systemctl('list-unit-files', '--no-legend', 'etcdadm-backup.*'), '');
    assert.equal((await lab.sh(1, 'ls /etc/systemd/system/etcdadm-backup.timer /etc/systemd/system/etcdadm-backup.service /var/lib/etcdadm 2>&1; true')).stdout.match(/No such file/g)?.length, 3);
    assert.doesNotMatch(ok(await lab.on(1, ['cat', '/etc/etcd/etcdadm.yaml'])).stdout, /\nbackup:\n {2}every: 1h|destination:/);
    assert.equal((await files()).filter((f) => f.endsWith('.db')).length, 3);
    const { code, s } = await status();
    assert.equal(code, 3);
    assert.equal(s.health, 'unscheduled');
    ok(await lab.etcdadm(1, ['backup', 'unschedule']), 'unschedule again: nothing to do');
  });

  it('reset removes a schedule it finds in the record', async () => {
    ok(await lab.etcdadm(1, ['backup', 'schedule', '--every', '1h']), 'schedule');
    assert.equal(await systemctl('is-active', TIMER), 'active');
    const r = ok(await lab.etcdadm(1, ['reset', '--force']), 'reset --force');
    assert.match(r.stderr, /Removed \/etc\/systemd\/system\/etcdadm-backup\.timer/);
    assert.equal(await systemctl('list-unit-files', '--no-legend', 'etcdadm-backup.*'), '');
    assert.notEqual(await systemctl('is-active', TIMER), 'active');
  });

  it('init with a configuration whose backup section sets every installs the schedule; flags of backup schedule override it', async () => {
    const doc = 'apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\nbackup:\n  every: 30m\n  keep: 2\n';
    ok(await lab.sh(1, `printf '${doc}' > /root/backup.yaml`));
    const r = ok(await lab.etcdadm(1, ['init', '--config', '/root/backup.yaml', ...R]), 'init --config with backup');
    assert.match(r.stderr, /\[backup\] .*Snapshots every 30m into \/var\/backups\/etcdadm, the newest 2 kept/);
    assert.equal(await systemctl('is-enabled', TIMER), 'enabled');
    assert.match(await systemctl('show', TIMER, '-p', 'TimersCalendar'), /OnCalendar=\*-\*-\* \*:00\/30:00 UTC/);
    ok(await lab.on(1, ['systemctl', 'start', SERVICE], 120_000), 'a run of the installed schedule');
    assert.equal((await status()).s.lastSuccess?.snapshot.startsWith(`${DIR}/etcd-snapshot-ehost1-`), true);
    ok(await lab.etcdadm(1, ['backup', 'schedule', '--config', '/root/backup.yaml', '--keep', '5']), 'schedule: file, then the flag');
    const s = (await status()).s;
    assert.deepEqual([s.schedule?.every, s.schedule?.keep], ['30m', 5]);
    ok(await lab.etcdadm(1, ['reset', '--force']), 'reset --force');
    assert.equal(await systemctl('list-unit-files', '--no-legend', 'etcdadm-backup.*'), '');
  });
});
