import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EtcdadmError } from '../../src/errors.js';
import { EtcdClient, EtcdClientError, guardSession, normalizeEndpoint } from '../../src/etcd/client.js';
import { EventEmitter } from 'node:events';

describe('normalizeEndpoint', () => {
  test('keeps scheme, host and port only', () => {
    assert.equal(normalizeEndpoint('https://10.0.0.1:2379', true), 'https://10.0.0.1:2379');
    assert.equal(normalizeEndpoint('https://10.0.0.1:2379/', true), 'https://10.0.0.1:2379');
    assert.equal(normalizeEndpoint('http://127.0.0.1:2379', false), 'http://127.0.0.1:2379');
    assert.equal(normalizeEndpoint('https://[fd00::1]:2379', true), 'https://[fd00::1]:2379');
  });

  test('refuses what cannot be an etcd client URL, with a hint', () => {
    for (const [ep, tls, re] of [
      ['10.0.0.1:2379', true, /scheme must be https or http|invalid etcd endpoint/],
      ['not a url', true, /invalid etcd endpoint/],
      ['unix:///run/etcd.sock', true, /scheme must be https or http/],
      ['https://10.0.0.1:2379/v3', true, /no path/],
      ['https://10.0.0.1:2379', false, /is https but no TLS files were given/],
    ] as const) {
      assert.throws(() => normalizeEndpoint(ep, tls), (e: unknown) => e instanceof EtcdadmError && re.test(e.message) && !!e.hint, ep);
    }
  });
});

describe('EtcdClient options', () => {
  test('needs at least one endpoint', () => {
    assert.throws(() => EtcdClient.create({ endpoints: [] }), /no etcd endpoint given/);
  });

  test('refuses unusable TLS material before dialing, naming the files', async () => {
    await assert.rejects(
      EtcdClient.connect({
        endpoints: ['https://127.0.0.1:1'],
        tls: { ca: 'not pem', cert: 'x', key: 'y', caFile: '/etc/etcd/pki/ca.crt' },
      }),
      (e: unknown) =>
        e instanceof EtcdClientError && e.kind === 'tls' && /\/etc\/etcd\/pki\/ca\.crt/.test(e.message) && /CA is not a PEM/.test(e.message),
    );
  });

  test('create() does not dial; withEndpoints keeps options and normalizes', () => {
    const c = EtcdClient.create({ endpoints: ['http://127.0.0.1:1/', 'http://127.0.0.1:2'], requestTimeoutMs: 1234 });
    assert.deepEqual(c.endpoints, ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    assert.equal(c.endpoint, 'http://127.0.0.1:1');
    const d = c.withEndpoints(['http://127.0.0.1:3']);
    assert.deepEqual(d.endpoints, ['http://127.0.0.1:3']);
    assert.equal(d.requestTimeoutMs, 1234);
    c.close();
    d.close();
  });
});

describe('guardSession', () => {
  test("a session's late error (connect-node destroying it after a GOAWAY) is swallowed, once per session", () => {
    const bare = new EventEmitter();
    assert.throws(() => bare.emit('error', new Error('received GOAWAY without any open streams')), /GOAWAY/);
    const session = new EventEmitter();
    guardSession(session);
    guardSession(session);
    assert.equal(session.listenerCount('error'), 1);
    assert.doesNotThrow(() => session.emit('error', new Error('received GOAWAY without any open streams')));
    guardSession(Promise.resolve()); // a connecting state's promise: left alone
    guardSession(undefined);
  });
});
