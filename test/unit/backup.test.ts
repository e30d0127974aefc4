import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BACKUP_UNITS, backupSettingsOf, formatInterval, onCalendarFor, parseInterval, randomizedDelaySec, resolveSchedule, s3OptionsOfSettings } from '../../src/backup/schedule.js';
import { s3LocationFrom } from '../../src/s3/location.js';
import { backupHealth, EXIT_BACKUP_UNHEALTHY, oneLine, readBackupState, updateBackupState } from '../../src/backup/state.js';
import { DEFAULT_DOCUMENT_VALUES } from '../../src/config/document.js';
import { ConfigFileError, defaultsDocument, parseConfigText } from '../../src/config/file.js';
import { EtcdadmError } from '../../src/errors.js';
import { LocalHost, etcdadmCommand } from '../../src/host/local.js';
import { HostRecord } from '../../src/host/record.js';
import { parseShow, parseSystemdTimestamp } from '../../src/initsystem/index.js';
import { backupUnitFiles, scheduleRecord } from '../../src/phases/backup.js';
import { renderBackupService, renderBackupTimer } from '../../src/service/render.js';
import { eth0, hostFacts, planOf } from '../helpers/plan.js';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;
const tmp = mkdtempSync(join(tmpdir(), 'etcdadm-backup-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The next `n` elapses of a calendar expression as systemd itself computes them (ms since the epoch). */
function systemdElapses(expr: string, n: number): number[] {
  const out = execFileSync('systemd-analyze', ['calendar', `--iterations=${n}`, expr], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' } });
  return [...out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC/g)].map((m) => Date.parse(`${m[1]!.replace(' ', 'T')}Z`));
}

const config = DEFAULT_DOCUMENT_VALUES.backup;

describe('backup: the interval and its calendar expression', () => {
  it('parses whole d/h/m/s durations; refuses the rest', () => {
    assert.equal(parseInterval('1h'), H);
    assert.equal(parseInterval('90m'), 90 * M);
    assert.equal(parseInterval('1h30m'), 90 * M);
    assert.equal(parseInterval('7d'), 7 * D);
    assert.equal(parseInterval('60s'), M);
    for (const bad of ['', 'h', '1.5h', '-1h', '1 h', '1w', '10', 'abc']) assert.equal(parseInterval(bad), undefined, bad);
    assert.equal(formatInterval(60 * M), '1h');
    assert.equal(formatInterval(15 * M), '15m');
    assert.equal(formatInterval(D), '1d');
  });

  it('every accepted interval becomes an expression that systemd fires at exactly that spacing', () => {
    const accepted = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30].map((m) => m * M).concat([1, 2, 3, 4, 6, 8, 12].map((h) => h * H), [D, 7 * D]);
    for (const ms of accepted) {
      const r = onCalendarFor(ms);
      assert.ok('onCalendar' in r, `${formatInterval(ms)}: ${JSON.stringify(r)}`);
      const n = ms >= D ? 3 : Math.min(30, Math.max(3, Math.round((2 * D) / ms)));
      const times = systemdElapses(r.onCalendar, n);
      assert.equal(times.length, n, `${r.onCalendar}: ${n} elapses`);
      for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, ms, `${r.onCalendar} elapse ${i}`);
    }
    assert.deepEqual(onCalendarFor(H), { onCalendar: '*-*-* *:00:00 UTC' });
    assert.deepEqual(onCalendarFor(15 * M), { onCalendar: '*-*-* *:00/15:00 UTC' });
    assert.deepEqual(onCalendarFor(6 * H), { onCalendar: '*-*-* 00/6:00:00 UTC' });
  });

  it('refuses intervals no calendar timer repeats at, below 1m, or not positive, naming the nearest accepted ones', () => {
    const p = (ms: number) => {
      const r = onCalendarFor(ms);
      assert.ok('problem' in r, `${ms} must be refused`);
      return r.problem;
    };
    assert.match(p(90 * M), /^90m does not divide an hour, a day or a week evenly/);
    assert.match(p(90 * M), /use 1h or 2h/);
    assert.match(p(45 * M), /use 30m or 1h/);
    assert.match(p(5 * H), /use 4h or 6h/);
    assert.match(p(2 * D), /use 1d or 7d/);
    assert.match(p(8 * D), /use 7d\b/);
    assert.match(p(30_000), /at least 1m/);
    assert.match(p(0), /positive/);
    assert.match(p(61_000), /does not divide/);
  });

  it('spreads the members: a tenth of the interval, at most 15 minutes', () => {
    assert.equal(randomizedDelaySec(H), 360);
    assert.equal(randomizedDelaySec(M), 6);
    assert.equal(randomizedDelaySec(D), 900);
  });
});

describe('backup: the schedule from flags over the configuration', () => {
  it('flags win field by field over the backup section; the defaults fill the rest', () => {
    const s = resolveSchedule({ every: '60m' }, { every: '6h', keep: 5, dir: '/srv/b/' });
    assert.deepEqual(s, { every: '1h', intervalMs: H, keep: 5, destination: { kind: 'local', dir: '/srv/b' }, onCalendar: '*-*-* *:00:00 UTC', randomizedDelaySec: 360 });
    const d = resolveSchedule({ every: '15m', keep: '96' }, config);
    assert.equal(d.keep, 96);
    assert.deepEqual(d.destination, { kind: 'local', dir: '/var/backups/etcdadm' });
    assert.equal(resolveSchedule({}, { ...config, every: '1d' }).every, '1d');
    assert.equal(resolveSchedule({}, { ...config, every: '1d' }).keep, 24);
  });

  it('refuses a bad --every, --keep or --dir with exit code 2, naming the flag or the field', () => {
    const refused = (flags: Record<string, unknown>, c: typeof config, re: RegExp) =>
      assert.throws(() => resolveSchedule(flags, c), (e: unknown) => e instanceof EtcdadmError && e.exitCode === 2 && re.test(e.message));
    refused({}, config, /needs --every/);
    refused({ every: 'hourly' }, config, /invalid --every "hourly": must be a duration/);
    refused({ every: '30s' }, config, /invalid --every "30s": must be at least 1m/);
    refused({ every: '90m' }, config, /invalid --every "90m": .*use 1h or 2h/);
    refused({}, { ...config, every: '45m' }, /invalid backup.every "45m"/);
    for (const keep of ['0', '-1', '1.5', 'all', 0]) refused({ every: '1h', keep }, config, /invalid --keep .*at least 1/);
    refused({ every: '1h', dir: 'relative/dir' }, config, /invalid --dir .*absolute path/);
    refused({ every: '1h', dir: '/with space' }, config, /invalid --dir/);
  });

  it('the service runs the same etcdadm by absolute paths: node and the bundle, or one executable', () => {
    assert.deepEqual(etcdadmCommand('/usr/bin/node', '/work/etcdadm/dist/etcdadm.cjs'), ['/usr/bin/node', '/work/etcdadm/dist/etcdadm.cjs']);
    assert.deepEqual(etcdadmCommand('/usr/local/bin/etcdadm', '/usr/local/bin/etcdadm'), ['/usr/local/bin/etcdadm']);
  });

  it('the backup section of a configuration file is checked like every other, with file and line', () => {
    const doc = (body: string) => `apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\nbackup:\n${body}`;
    const ok = parseConfigText(doc('  every: 1h\n  keep: 3\n  dir: /srv/backups/\n'), 'c.yaml');
    assert.deepEqual(ok.backup, { every: '1h', keep: 3, dir: '/srv/backups' });
    const bad = (body: string, re: RegExp) =>
      assert.throws(() => parseConfigText(doc(body), 'c.yaml'), (e: unknown) => e instanceof ConfigFileError && re.test(e.message));
    bad('  every: 90m\n', /^c\.yaml:4: backup\.every: 90m does not divide/);
    bad('  every: soon\n', /^c\.yaml:4: backup\.every: must be a duration/);
    bad('  every: 1h\n  keep: 0\n', /^c\.yaml:5: backup\.keep: must be at least 1/);
    bad('  dir: backups\n', /^c\.yaml:4: backup\.dir: must be an absolute path/);
    bad('  evry: 1h\n', /backup\.evry: unknown field \(did you mean "every"\?\)/);
    assert.match(defaultsDocument('InitConfiguration'), /\nbackup:\n  # How often[^\n]*\n  every: ""\n[\s\S]*  keep: 24\n[\s\S]*  dir: \/var\/backups\/etcdadm\n/);
  });
});

const unitInput = { every: '1h', keep: 24, onCalendar: '*-*-* *:00:00 UTC', randomizedDelaySec: 360, command: ['/usr/bin/node', '/opt/etcdadm checkout/dist/etcdadm.cjs'] };

describe('backup: the units', () => {
  it('the service is a oneshot running this etcdadm\'s backup run, quoted for systemd, with nothing else on the command line', () => {
    const text = renderBackupService({ ...unitInput, serviceUnit: BACKUP_UNITS.service, etcdUnit: 'etcd.service' });
    assert.match(text, /\nType=oneshot\n/);
    assert.match(text, /\nExecStart=\/usr\/bin\/node "\/opt\/etcdadm checkout\/dist\/etcdadm\.cjs" backup run\n/);
    assert.equal(text.match(/^ExecStart=/gm)?.length, 1);
    assert.match(text, /\nAfter=network-online\.target local-fs\.target etcd\.service\n/);
    assert.doesNotMatch(text, /Environment|--/, 'no settings and no secrets on the command line or in the environment');
  });

  it('the timer: the calendar, Persistent=true, the randomized delay, the service it starts', () => {
    const text = renderBackupTimer({ ...unitInput, serviceUnit: BACKUP_UNITS.service });
    for (const line of ['OnCalendar=*-*-* *:00:00 UTC', 'Persistent=true', 'RandomizedDelaySec=360', 'FixedRandomDelay=true', `Unit=${BACKUP_UNITS.service}`, 'WantedBy=timers.target'])
      assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
  });

  it('systemd accepts both files (systemd-analyze verify)', () => {
    const dir = mkdtempSync(join(tmp, 'units-'));
    const files = backupUnitFiles({ ...unitInput, command: [process.execPath, join(dir, 'etcdadm.cjs')] });
    writeFileSync(join(dir, 'etcdadm.cjs'), '');
    const paths = files.map((f) => {
      const p = join(dir, f.path.split('/').pop()!);
      writeFileSync(p, f.text);
      return p;
    });
    const r = execFileSync('bash', ['-c', `systemd-analyze verify --man=no ${paths.join(' ')} 2>&1; echo "rc=$?"`], { encoding: 'utf8' });
    const problems = r.split('\n').filter((l) => l.includes('etcdadm-backup') && !/rc=/.test(l));
    assert.deepEqual(problems, [], r);
    assert.match(r, /rc=0/, r);
  });
});

describe('backup status: the decision', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const schedule = { intervalMs: H, installedAt: '2026-12-01T06:00:00Z' };
  const success = (time: string) => ({ time, snapshot: '/var/backups/etcdadm/a.db', revision: 5, size: 100, pruned: 0 });
  it('ok while the last success is at most two intervals old and no failure came after it', () => {
    assert.deepEqual(backupHealth({ schedule, state: { lastSuccess: success('2026-12-01T11:05:00Z') }, now }), { state: 'ok', exitCode: 0 });
    assert.equal(backupHealth({ schedule, state: { lastSuccess: success('2026-12-01T10:00:00Z') }, now }).state, 'ok', 'exactly two intervals');
    const recovered = backupHealth({ schedule, state: { lastSuccess: success('2026-12-01T11:30:00Z'), lastFailure: { time: '2026-12-01T11:00:00Z', error: 'x' } }, now });
    assert.equal(recovered.state, 'ok', 'a failure before the last success is over');
  });
  it('failed when the last run failed, naming its time and error', () => {
    const h = backupHealth({ schedule, state: { lastSuccess: success('2026-12-01T11:00:00Z'), lastFailure: { time: '2026-12-01T11:30:00Z', error: 'cannot write snapshots into /b: EROFS' } }, now });
    assert.deepEqual(h, { state: 'failed', exitCode: EXIT_BACKUP_UNHEALTHY, problem: 'the last backup failed at 2026-12-01T11:30:00Z: cannot write snapshots into /b: EROFS' });
    assert.equal(backupHealth({ schedule, state: { lastFailure: { time: '2026-12-01T11:30:00Z', error: 'x' } }, now }).state, 'failed');
  });
  it('stale when the last success is older than two intervals', () => {
    const h = backupHealth({ schedule, state: { lastSuccess: success('2026-12-01T09:59:00Z') }, now });
    assert.equal(h.state, 'stale');
    assert.equal(h.exitCode, 3);
    assert.match(h.problem!, /2h old, more than two intervals \(2h\)/);
  });
  it('never: no success in more than two intervals since the schedule was installed; pending before that', () => {
    assert.equal(backupHealth({ schedule, state: {}, now }).state, 'never');
    assert.equal(backupHealth({ schedule, state: {}, now }).exitCode, 3);
    assert.deepEqual(backupHealth({ schedule: { ...schedule, installedAt: '2026-12-01T10:30:00Z' }, state: {}, now }), { state: 'pending', exitCode: 0 });
  });
  it('no schedule is unhealthy too (a monitor asking about backups must hear there are none)', () => {
    assert.equal(backupHealth({ state: {}, now }).exitCode, 3);
    assert.equal(backupHealth({ state: {}, now }).state, 'unscheduled');
  });
});

describe('backup: systemd output, the state file and the record', () => {
  it('parses systemctl show timestamps in UTC; n/a and empty are no time', () => {
    assert.equal(parseSystemdTimestamp('Tue 2026-12-01 23:00:00 UTC'), '2026-12-01T23:00:00.000Z');
    assert.equal(parseSystemdTimestamp('Tue 2026-12-01 23:00:00.123456 UTC'), '2026-12-01T23:00:00.123Z');
    assert.equal(parseSystemdTimestamp('n/a'), undefined);
    assert.equal(parseSystemdTimestamp(''), undefined);
    const p = parseShow('NextElapseUSecRealtime=Tue 2026-12-01 23:00:00 UTC\nLastTriggerUSec=n/a\n');
    assert.equal(p.get('NextElapseUSecRealtime'), 'Tue 2026-12-01 23:00:00 UTC');
    assert.equal(p.get('LastTriggerUSec'), 'n/a');
  });

  it('the state file: laid over field by field, atomic and 0600; an error becomes its first line', async () => {
    const host = new LocalHost();
    const path = join(tmp, 'state', 'backup-state.json');
    assert.deepEqual(await readBackupState(host, path), { apiVersion: 'etcdadm.io/v1alpha1', kind: 'BackupState' });
    await updateBackupState(host, path, { lastFailure: { time: 't1', error: oneLine(new Error('first line\nsecond')) } });
    await updateBackupState(host, path, { lastSuccess: { time: 't2', snapshot: '/s.db', revision: 1, size: 2, pruned: 0 } });
    const s = await readBackupState(host, path);
    assert.equal(s.lastFailure?.error, 'first line');
    assert.equal(s.lastSuccess?.snapshot, '/s.db');
    const { statSync } = await import('node:fs');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    writeFileSync(path, '{"kind":"Other"}');
    await assert.rejects(readBackupState(host, path), /backup state file .* is unusable/);
  });

  it('the record keeps the schedule (a structured destination), unchanged schedules keep installedAt; endBackup removes it', async () => {
    const plan = planOf({ name: 'etcd-a' }, hostFacts([eth0('10.0.0.1')]));
    const path = join(tmp, 'record.yaml');
    const host = new LocalHost();
    const r = await HostRecord.load(host, path);
    await r.begin({ createdBy: 'init', clusterToken: 't', memberName: 'etcd-a', settings: plan.settings });
    const spec = { ...resolveSchedule({ every: '1h', keep: 3 }, config), command: ['/usr/bin/node', '/x/etcdadm.cjs'] };
    const first = scheduleRecord(spec, undefined, new Date('2026-12-01T00:00:00Z'));
    await r.update({ backup: first });
    const loaded = await HostRecord.load(host, path);
    assert.deepEqual(loaded.facts?.backup, first);
    assert.deepEqual(first.destination, { kind: 'local', dir: '/var/backups/etcdadm' });
    assert.equal(scheduleRecord(spec, first, new Date('2026-12-02T00:00:00Z')).installedAt, first.installedAt, 'same schedule: same installedAt');
    assert.equal(scheduleRecord({ ...spec, keep: 4 }, first, new Date('2026-12-02T00:00:00Z')).installedAt, '2026-12-02T00:00:00.000Z');
    await loaded.update({ endBackup: true });
    assert.equal((await HostRecord.load(host, path)).facts?.backup, undefined);
  });
});

describe('backup: a schedule that uploads to S3', () => {
  const loc = { endpoint: 'http://10.0.0.9:9000', bucket: 'b', prefix: 'p/', region: 'us-east-1', pathStyle: true, credentialsFile: '/etc/etcd/s3.env' };
  const cfg = { every: '', keep: 24, dir: '/var/backups/etcdadm' };
  it('the bucket becomes part of the destination, the local dir stays', () => {
    assert.deepEqual(resolveSchedule({ every: '1h' }, cfg, loc).destination, { kind: 's3', dir: '/var/backups/etcdadm', s3: loc });
  });
  it('refused without a credentials file: the timer service has no AWS_* variables', () => {
    const { credentialsFile: _none, ...noFile } = loc;
    assert.throws(() => resolveSchedule({ every: '1h' }, cfg, noFile), (e: unknown) => e instanceof EtcdadmError && e.exitCode === 2 && /needs --s3-credentials-file/.test(e.message));
  });
});

describe('backup: S3 in the configuration file', () => {
  it('backup.s3* fields parse, become the location a schedule uploads to, and come back as settings', () => {
    const doc = `apiVersion: etcdadm.io/v1beta1\nkind: InitConfiguration\nbackup:\n  every: 1h\n  s3Endpoint: http://10.0.0.9:9000\n  s3AllowHTTP: true\n  s3Bucket: etcd\n  s3Prefix: prod\n  s3CredentialsFile: /etc/etcd/s3.env\n`;
    const parsed = parseConfigText(doc, 'c.yaml');
    const b = { ...DEFAULT_DOCUMENT_VALUES.backup, ...parsed.backup };
    const loc = s3LocationFrom(s3OptionsOfSettings(b), {});
    assert.deepEqual(loc, { endpoint: 'http://10.0.0.9:9000', bucket: 'etcd', prefix: 'prod/', region: 'us-east-1', pathStyle: true, allowHttp: true, credentialsFile: '/etc/etcd/s3.env' });
    const spec = resolveSchedule({}, b, loc);
    assert.equal(spec.destination.kind, 's3');
    const back = backupSettingsOf(spec);
    assert.equal(back.s3Bucket, 'etcd');
    assert.equal(back.s3CredentialsFile, '/etc/etcd/s3.env');
    assert.deepEqual(s3LocationFrom(s3OptionsOfSettings(back), {}), loc, 'the recorded settings give the same location');
    // the defaults: no upload
    assert.equal(s3LocationFrom(s3OptionsOfSettings(DEFAULT_DOCUMENT_VALUES.backup), {}), undefined);
    // the http endpoint without its consent: refused like the flag
    const noConsent = { ...b, s3AllowHTTP: false };
    assert.throws(() => s3LocationFrom(s3OptionsOfSettings(noConsent), {}), (e: unknown) => e instanceof EtcdadmError && e.exitCode === 2 && /refusing the plain http S3 endpoint http:\/\/10\.0\.0\.9:9000/.test(e.message));
    assert.throws(() => parseConfigText(doc.replace('/etc/etcd/s3.env', 's3.env'), 'c.yaml'), (e: unknown) => e instanceof ConfigFileError && /backup\.s3CredentialsFile: must be an absolute path/.test(e.message));
  });
});
