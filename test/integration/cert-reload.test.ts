/**
 * What a running etcd does with renewed certificate files — the measurement behind src/cluster/cert-reload.ts,
 * against each minor of the lab mirror: a real etcd runs on a certs dir made by ensurePki; `prepareRenewal` renews
 * its server and peer certificates in place; a NEW TLS connection to the client port and to the peer port must then
 * present the renewed serial exactly when the table says the version reloads (and the old one otherwise), while a
 * connection opened before keeps working. A CA added to the trusted CA file is (not) trusted without a restart, as
 * the table says. etcd listens on 127.0.0.1 only; processes are killed by PID; temp dirs are removed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { reloadsLeafCerts, reloadsTrustedCA } from '../../src/cluster/cert-reload.js';
import { Logger } from '../../src/log/logger.js';
import { ensurePki, leafRequests } from '../../src/pki/index.js';
import { prepareRenewal } from '../../src/pki/renew.js';
import { writePair } from '../../src/pki/store.js';
import { startEtcd, type TlsFixture } from '../helpers/etcd-server.js';
import { pkiSpec } from '../helpers/pki-spec.js';
import { LocalHost } from '../../src/host/local.js';
const HOST = new LocalHost();

const VERSIONS = ['3.4.23', '3.5.30', '3.6.16', '3.7.3'];
const base = mkdtempSync(join(tmpdir(), 'etcdadm-cert-reload-'));
after(() => rmSync(base, { recursive: true, force: true }));
const quiet = new Logger('error', 'text', { write: () => undefined, isTTY: false });

interface Peer {
  serial: string;
  socket: TLSSocket;
}

/** A TLS connection to `url` with the given client pair; the serial of the certificate the server presented. */
function tlsTo(url: string, pki: string, client = 'etcdctl-etcd-client', ca = join(pki, 'ca.crt')): Promise<Peer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: u.hostname,
      port: Number(u.port),
      ca: readFileSync(ca),
      cert: readFileSync(join(pki, `${client}.crt`)),
      key: readFileSync(join(pki, `${client}.key`)),
      servername: 'localhost',
      ALPNProtocols: ['h2'],
    });
    socket.once('secureConnect', () => resolve({ serial: socket.getPeerCertificate().serialNumber.toUpperCase(), socket }));
    socket.once('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`TLS to ${url} timed out`)));
  });
}

/**
 * Whether a connection opened earlier still gets an answer: over HTTP/2 (the client port) a PING that must come
 * back acknowledged; over HTTP/1.1 (the peer port: it offers h2 in its handshake but serves HTTP/1.1 only)
 * GET /version, which must answer 200.
 */
function answers(peer: Peer, protocol: 'h2' | 'http/1.1'): Promise<boolean> {
  const s = peer.socket;
  return new Promise<boolean>((resolve) => {
    let got = Buffer.alloc(0);
    const done = (v: boolean) => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      resolve(v);
    };
    const timer = setTimeout(() => done(false), 5000);
    s.once('error', () => done(false));
    s.once('close', () => done(false));
    if (protocol === 'h2') {
      const ping = Buffer.from('etcdadm!');
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        // walk the frames the server sent: 9-byte headers, a PING (type 6) with the ACK flag and our payload
        for (let at = 0; at + 9 <= got.length; ) {
          const len = got.readUIntBE(at, 3);
          if (got[at + 3] === 6 && (got[at + 4]! & 1) === 1 && got.subarray(at + 9, at + 9 + len).equals(ping)) return done(true);
          at += 9 + len;
        }
      });
      const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
      const pingFrame = Buffer.concat([Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0]), ping]);
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), settings, pingFrame]));
    } else {
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.includes('\r\n')) done(/^HTTP\/1\.1 200 /.test(got.toString('latin1')));
      });
      s.write('GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n');
    }
  });
}

/** Whether etcd at `url` completes a TLS handshake and answers a request with the client pair of `pki`. */
async function accepted(url: string, pki: string, ca: string): Promise<boolean> {
  const s = await tlsTo(url, pki, 'etcdctl-etcd-client', ca).catch(() => undefined);
  if (!s) return false;
  // TLS 1.3: a refused client certificate shows after the handshake, when the server's alert arrives
  const alive = await new Promise<boolean>((resolve) => {
    s.socket.once('error', () => resolve(false));
    s.socket.once('close', () => resolve(false));
    s.socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    setTimeout(() => resolve(!s.socket.destroyed), 500);
  });
  s.socket.destroy();
  return alive;
}

describe('a running etcd and renewed certificate files (the measurement behind cert-reload.ts)', () => {
  for (const version of VERSIONS) {
    test(`etcd ${version}`, async () => {
      const dir = mkdtempSync(join(base, `v${version}-`));
      const pki = join(dir, 'pki');
      const sans = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
      const spec = pkiSpec(pki, { memberName: 'm1', server: sans, peer: sans });
      await ensurePki(HOST, spec, quiet, { allowCreate: true });
      const fixture: TlsFixture = {
        dir: pki,
        caFile: join(pki, 'ca.crt'),
        caKeyFile: join(pki, 'ca.key'),
        serverCertFile: join(pki, 'server.crt'),
        serverKeyFile: join(pki, 'server.key'),
        clientCertFile: join(pki, 'etcdctl-etcd-client.crt'),
        clientKeyFile: join(pki, 'etcdctl-etcd-client.key'),
        ca: readFileSync(join(pki, 'ca.crt'), 'utf8'),
        cert: readFileSync(join(pki, 'etcdctl-etcd-client.crt'), 'utf8'),
        key: readFileSync(join(pki, 'etcdctl-etcd-client.key'), 'utf8'),
      };
      const etcd = await startEtcd({ version, tls: fixture, name: 'm1', extraArgs: [`--peer-cert-file=${join(pki, 'peer.crt')}`, `--peer-key-file=${join(pki, 'peer.key')}`] });
      try {
        const before = { client: await tlsTo(etcd.clientURL, pki), peer: await tlsTo(etcd.peerURL, pki, 'peer') };
        const renewal = await prepareRenewal({ host: HOST,  certsDir: pki, names: ['server', 'peer'], defaultDays: 365, keyAlgorithm: 'ecdsa-p256', requests: leafRequests(spec) });
        for (const l of renewal.leaves) await writePair(HOST, l.paths, l.keyPem, l.certPem);
        const renewed = Object.fromEntries(renewal.leaves.map((l) => [l.name, l.serial]));
        assert.notEqual(renewed.server, before.client.serial);

        const afterClient = await tlsTo(etcd.clientURL, pki);
        const afterPeer = await tlsTo(etcd.peerURL, pki, 'peer');
        const reloads = reloadsLeafCerts(version);
        assert.equal(afterClient.serial, reloads ? renewed.server : before.client.serial, `client port of etcd ${version}: reloadsLeafCerts says ${reloads}`);
        assert.equal(afterPeer.serial, reloads ? renewed.peer : before.peer.serial, `peer port of etcd ${version}: reloadsLeafCerts says ${reloads}`);
        // the connections opened before the renewal still answer requests, on both ports
        assert.equal(await answers(before.client, 'h2'), true, `etcd ${version}: the client connection opened before the renewal answers a PING`);
        assert.equal(await answers(before.peer, 'http/1.1'), true, `etcd ${version}: the peer connection opened before the renewal answers GET /version`);
        for (const s of [before.client, before.peer, afterClient, afterPeer]) s.socket.destroy();

        // a second CA added to the trusted CA file: is a client certificate it signed accepted without a restart?
        const other = join(dir, 'other');
        await ensurePki(HOST, pkiSpec(other, { memberName: 'x' }), quiet, { allowCreate: true });
        const both = join(dir, 'both.crt');
        writeFileSync(both, readFileSync(join(pki, 'ca.crt'), 'utf8') + readFileSync(join(other, 'ca.crt'), 'utf8'));
        writeFileSync(join(pki, 'ca.crt'), readFileSync(both));
        assert.equal(await accepted(etcd.clientURL, other, both), reloadsTrustedCA(version), `etcd ${version} and a CA added to --trusted-ca-file: reloadsTrustedCA says ${reloadsTrustedCA(version)}`);
        await etcd.restart();
        assert.equal(await accepted(etcd.clientURL, other, both), true, `etcd ${version} trusts the added CA after a restart`);
      } finally {
        await etcd.stop();
      }
    });
  }
});
