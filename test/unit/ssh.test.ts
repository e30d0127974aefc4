/**
 * The pure parts of the SSH Host: the ssh command lines (ssh-transport.ts), ssh's and sudo's failures as one line
 * (the stderr texts are OpenSSH 9.2's and sudo's own, captured from real runs), and the agent protocol
 * (ssh-rpc.ts). The SSH Host against a real sshd: test/integration/ssh-host.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdadmError, systemError } from '../../src/errors.js';
import {
  decodeRequest,
  decodeResponse,
  encodeMessage,
  errorFromWire,
  errorToWire,
  fromWire,
  LineSplitter,
  toWire,
} from '../../src/host/ssh-rpc.js';
import { remoteCommandLine, shellQuote, sshBaseArgs, sshCommandArgs, sshControlArgs, sshFailure, sshPathValue } from '../../src/host/ssh-transport.js';

/** The value of each `-o Name=value` in an argv. */
function options(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  argv.forEach((a, i) => {
    if (a === '-o') {
      const [k, ...v] = argv[i + 1]!.split('=');
      m.set(k!, v.join('='));
    }
  });
  return m;
}

describe('ssh command lines', () => {
  it('a bare target: the master, strict host keys, batch mode, keep-alives; nothing the operator did not ask for', () => {
    const a = sshBaseArgs({ address: 'db1' }, '/tmp/etcdadm-ssh-x');
    const o = options(a);
    assert.equal(o.get('ControlMaster'), 'auto');
    assert.equal(o.get('ControlPath'), '/tmp/etcdadm-ssh-x/%C');
    assert.equal(o.get('ControlPersist'), '120');
    assert.equal(o.get('BatchMode'), 'yes');
    assert.equal(o.get('StrictHostKeyChecking'), 'yes');
    assert.equal(o.get('ConnectTimeout'), '15');
    assert.equal(o.get('ServerAliveInterval'), '15');
    assert.equal(o.has('UserKnownHostsFile'), false, "the operator's own known_hosts");
    assert.equal(o.has('IdentitiesOnly'), false, "the operator's agent and keys");
    for (const f of ['-i', '-p', '-l', '-J', '-F']) assert.ok(!a.includes(f), f);
  });

  it('every option: port, user, key file (only it offered), known_hosts, accept-new, ProxyJump, config file, timeouts', () => {
    const t = {
      address: '10.0.0.5',
      port: 2222,
      user: 'ops',
      identityFile: '/home/op/.ssh/id_etcd',
      knownHostsFile: '/home/op/cluster/known_hosts',
      acceptNewHostKeys: true,
      proxyJump: 'jump@bastion:22,inner',
      configFile: '/home/op/cluster/ssh_config',
      connectTimeoutSec: 5,
      controlPersistSec: 30,
    };
    const a = sshBaseArgs(t, '/tmp/c');
    const o = options(a);
    assert.equal(o.get('StrictHostKeyChecking'), 'accept-new');
    assert.equal(o.get('UserKnownHostsFile'), '/home/op/cluster/known_hosts');
    assert.equal(o.get('IdentitiesOnly'), 'yes');
    assert.equal(o.get('ConnectTimeout'), '5');
    assert.equal(o.get('ControlPersist'), '30');
    const after = (f: string) => a[a.indexOf(f) + 1];
    assert.deepEqual([after('-i'), after('-p'), after('-l'), after('-J'), after('-F')], ['/home/op/.ssh/id_etcd', '2222', 'ops', 'jump@bastion:22,inner', '/home/op/cluster/ssh_config']);
    // the command: options, -T (no tty), --, the host, then ONE word for the remote shell
    const c = sshCommandArgs(t, '/tmp/c', ['/usr/local/bin/etcdadm', 'host-agent'], true);
    assert.deepEqual(c.slice(-4), ['-T', '--', '10.0.0.5', 'sudo -n -- /usr/local/bin/etcdadm host-agent']);
    assert.deepEqual(c.slice(0, a.length), a);
    // the master's control command carries the same options (the same %C socket)
    assert.deepEqual(sshControlArgs(t, '/tmp/c', 'exit').slice(-4), ['-O', 'exit', '--', '10.0.0.5']);
    assert.deepEqual(sshControlArgs(t, '/tmp/c', 'exit').slice(0, a.length), a);
  });

  it('accept-new only when asked; strict otherwise', () => {
    assert.equal(options(sshBaseArgs({ address: 'h', acceptNewHostKeys: false }, '/c')).get('StrictHostKeyChecking'), 'yes');
    assert.equal(options(sshBaseArgs({ address: 'h', acceptNewHostKeys: true }, '/c')).get('StrictHostKeyChecking'), 'accept-new');
  });

  it('sudo -n only for a login that needs it; every word quoted for the remote shell', () => {
    assert.equal(remoteCommandLine(['/usr/local/bin/etcdadm', 'host-agent'], false), '/usr/local/bin/etcdadm host-agent');
    assert.equal(remoteCommandLine(['/usr/local/bin/etcdadm', 'host-agent'], true), 'sudo -n -- /usr/local/bin/etcdadm host-agent');
    assert.equal(remoteCommandLine(['/opt/my tools/etcdadm', "it's", '$(rm -rf /)', ''], false), `'/opt/my tools/etcdadm' 'it'\\''s' '$(rm -rf /)' ''`);
    assert.equal(shellQuote('ETCDADM_TEST_HOLD=write:/tmp/a'), 'ETCDADM_TEST_HOLD=write:/tmp/a');
    assert.equal(shellQuote('a;b'), `'a;b'`);
    assert.throws(() => remoteCommandLine([], false));
  });

  it('refuses what ssh would read as an option or expand: a host or user starting with "-", spaces, ${VAR} in paths; escapes %', () => {
    assert.throws(() => sshBaseArgs({ address: '-oProxyCommand=sh' }, '/c'), (e: unknown) => e instanceof EtcdadmError && /invalid SSH host/.test(e.message));
    assert.throws(() => sshBaseArgs({ address: 'a b' }, '/c'), /invalid SSH host/);
    assert.throws(() => sshBaseArgs({ address: 'h', user: '-x' }, '/c'), /invalid SSH user/);
    assert.throws(() => sshBaseArgs({ address: 'h', proxyJump: '-oProxyCommand=x' }, '/c'), /invalid SSH ProxyJump/);
    assert.throws(() => sshBaseArgs({ address: 'h', port: 70000 }, '/c'), /invalid SSH port/);
    assert.throws(() => sshBaseArgs({ address: 'h', knownHostsFile: '/x/${HOME}/kh' }, '/c'), /invalid known_hosts path/);
    assert.equal(sshPathValue('known_hosts', '/a b/100%/kh'), '"/a b/100%%/kh"');
    assert.equal(sshPathValue('identity', '/a b/id', false), '/a b/id');
    assert.equal(options(sshBaseArgs({ address: 'h', knownHostsFile: '/my dir/kh' }, '/c')).get('UserKnownHostsFile'), '"/my dir/kh"');
  });
});

describe("ssh's failures, one line each naming the host and what to do", () => {
  const t = { address: '127.0.0.1', port: 38295, user: 'root', knownHostsFile: '/tmp/k/kh' };
  const one = (stderr: string, target: Parameters<typeof sshFailure>[0] = t) => {
    const e = sshFailure(target, stderr);
    assert.ok(e instanceof EtcdadmError);
    assert.doesNotMatch(e.oneLine(), /\n/);
    return e.oneLine();
  };

  it('a changed host key: refused, nothing run, the offending line and how to remove it', () => {
    const stderr = [
      '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
      '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
      '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
      'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
      'Someone could be eavesdropping on you right now (man-in-the-middle attack)!',
      'It is also possible that a host key has just been changed.',
      'The fingerprint for the ED25519 key sent by the remote host is',
      'SHA256:vmb5PMk9Q724+uUGBwATbtnsnGMqbKj0n4FMMTdO25I.',
      'Please contact your system administrator.',
      'Add correct host key in /tmp/k/kh to get rid of this message.',
      'Offending ED25519 key in /tmp/k/kh:1',
      '  remove with:',
      '  ssh-keygen -f "/tmp/k/kh" -R "[127.0.0.1]:38295"',
      'Host key for [127.0.0.1]:38295 has changed and you have requested strict checking.',
      'Host key verification failed.',
      '',
    ].join('\n');
    const line = one(stderr);
    assert.match(line, /^SSH to root@127\.0\.0\.1:38295 refused: its host key \(SHA256:vmb5PMk9Q724\+uUGBwATbtnsnGMqbKj0n4FMMTdO25I\) is not the one recorded in \/tmp\/k\/kh line 1/);
    assert.match(line, /Nothing was run on it/);
    assert.match(line, /ssh-keygen -f "\/tmp\/k\/kh" -R "\[127\.0\.0\.1\]:38295"/);
  });

  it('an unknown host key under strict checking: refused, pointing at --accept-new-host-keys', () => {
    const line = one('No ED25519 host key is known for [127.0.0.1]:38295 and you have requested strict checking.\nHost key verification failed.\n');
    assert.match(line, /^SSH to root@127\.0\.0\.1:38295 refused: its host key is not in \/tmp\/k\/kh/);
    assert.match(line, /--accept-new-host-keys/);
  });

  it('login refused, connection refused, timeouts, names that do not resolve, a closed connection', () => {
    assert.match(one('nobody@127.0.0.1: Permission denied (publickey).\n', { address: '127.0.0.1', user: 'nobody', identityFile: '/k/id' }), /^SSH login to nobody@127\.0\.0\.1 refused \(publickey\)\. .*-i \/k\/id/);
    assert.match(one('ssh: connect to host 127.0.0.1 port 1: Connection refused\n', { address: '127.0.0.1', port: 1 }), /^SSH to 127\.0\.0\.1:1 failed: connection refused\. Check that sshd runs there and listens on port 1$/);
    assert.match(one('ssh: connect to host 10.9.9.9 port 22: Connection timed out\n', { address: '10.9.9.9' }), /^SSH to 10\.9\.9\.9 failed: the connection timed out/);
    assert.match(one('ssh: Could not resolve hostname no-such-host.invalid: Name or service not known\n', { address: 'no-such-host.invalid' }), /^SSH to no-such-host\.invalid failed: the name does not resolve\. .*ssh_config/);
    assert.match(one('kex_exchange_identification: Connection closed by remote host\nConnection closed by 10.0.0.5 port 22\n', { address: '10.0.0.5' }), /^SSH to 10\.0\.0\.5 failed: the connection was closed/);
    assert.match(one('something new\n', { address: 'h' }), /^SSH to h failed: something new\. Run the same ssh by hand with -v/);
  });

  it('sudo that wants a password, or refuses the user, or is missing', () => {
    const u = { address: 'h', user: 'ops' };
    assert.match(one('sudo: a password is required\n', u), /^sudo on ops@h needs a password for ops\. .*NOPASSWD/);
    assert.match(one('ops is not in the sudoers file.  This incident will be reported.\n', u), /^sudo on ops@h refused ops/);
    assert.match(one('bash: line 1: sudo: command not found\n', u), /^sudo is not installed on ops@h/);
  });
});

describe('the host agent protocol', () => {
  it('carries bytes, undefined in arrays, nested options; objects that look like its markers survive', () => {
    const v = [new Uint8Array([0, 1, 255]), undefined, { mode: 0o600, owner: { name: 'etcd', uid: 5, gid: 6 }, skip: undefined }, { $b: 'not bytes' }, null, 'text', 3];
    const back = fromWire(JSON.parse(JSON.stringify(toWire(v)))) as unknown[];
    assert.deepEqual([...(back[0] as Uint8Array)], [0, 1, 255]);
    assert.ok(Buffer.isBuffer(back[0]));
    assert.equal(back.length, 7);
    assert.equal(back[1], undefined);
    assert.deepEqual(back[2], { mode: 0o600, owner: { name: 'etcd', uid: 5, gid: 6 } });
    assert.deepEqual(back[3], { $b: 'not bytes' });
    assert.deepEqual(back.slice(4), [null, 'text', 3]);
    assert.throws(() => toWire([() => 1]), /cannot send a function/);
    assert.throws(() => toWire(new Map()), /cannot send a Map/);
  });

  it('requests and answers are one line each, checked when read', () => {
    const line = encodeMessage({ id: 7, m: 'write', a: ['/etc/etcd/etcd.env', Buffer.from('A=1\n'), { mode: 0o600 }] });
    assert.ok(line.endsWith('\n'));
    assert.equal(line.indexOf('\n'), line.length - 1);
    const req = decodeRequest(line.trimEnd());
    assert.equal(req.id, 7);
    assert.equal(req.m, 'write');
    assert.equal(Buffer.from(req.a[1] as Uint8Array).toString(), 'A=1\n');
    assert.throws(() => decodeRequest('{"id":1,"m":"unlinkEverything","a":[]}'), /unknown method "unlinkEverything"/);
    assert.throws(() => decodeRequest('{"id":0,"m":"read","a":[]}'), /positive integer id/);
    assert.throws(() => decodeRequest('{"id":1,"m":"read","a":"x"}'), /not an array/);
    assert.throws(() => decodeRequest('Welcome to host1!'), /not JSON/);
    assert.deepEqual(decodeResponse(encodeMessage({ id: 3, ok: true, v: undefined }).trimEnd()), { id: 3, ok: true, v: undefined });
    assert.deepEqual(decodeResponse(encodeMessage({ id: 4, ok: true, v: ['a', 'b'] }).trimEnd()), { id: 4, ok: true, v: ['a', 'b'] });
    assert.throws(() => decodeResponse('{"id":4}'), /not an answer/);
  });

  it('errors keep their type, code, syscall, path and hint across the wire', () => {
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/etc/etcd/x'"), { code: 'ENOENT', errno: -2, syscall: 'open', path: '/etc/etcd/x' });
    const back = errorFromWire(JSON.parse(JSON.stringify(errorToWire(enoent)))) as NodeJS.ErrnoException;
    assert.deepEqual([back.message, back.code, back.errno, back.syscall, back.path], [enoent.message, 'ENOENT', -2, 'open', '/etc/etcd/x']);
    assert.match(systemError(back)!.oneLine(), /^open \/etc\/etcd\/x failed: no such file or directory/);
    const mine = new EtcdadmError('another etcdadm command is changing this host', { hint: 'wait for it', exitCode: 3 });
    const again = errorFromWire(errorToWire(mine));
    assert.ok(again instanceof EtcdadmError);
    assert.deepEqual([again.message, again.hint, again.exitCode], [mine.message, 'wait for it', 3]);
    assert.deepEqual(errorToWire('plain'), { message: 'plain' });
  });

  it('lines are split however the bytes arrive, multi-byte characters included; an endless line is refused', () => {
    const text = encodeMessage({ id: 1, ok: true, v: 'é€😀' }) + encodeMessage({ id: 2, ok: true, v: 'x' });
    const bytes = Buffer.from(text);
    for (const size of [1, 2, 3, 7, bytes.length]) {
      const s = new LineSplitter();
      const lines: string[] = [];
      for (let i = 0; i < bytes.length; i += size) lines.push(...s.push(bytes.subarray(i, i + size)));
      assert.deepEqual(lines.map((l) => decodeResponse(l)), [{ id: 1, ok: true, v: 'é€😀' }, { id: 2, ok: true, v: 'x' }], `chunks of ${size}`);
      assert.equal(s.pending, 0);
    }
    const small = new LineSplitter(10);
    assert.throws(() => small.push(Buffer.from('0123456789abc')), /longer than 10 bytes/);
  });
});
