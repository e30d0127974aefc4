/**
 * Answers are read only up to a bound: a peer port that answers `GET /members` with megabytes, and an S3 endpoint that
 * answers a listing with more than 8 MiB, are each one error, not memory filled without end. The servers are plain
 * Node servers on 127.0.0.1 (ephemeral ports) that stream an endless body and count what they sent; a TLS pair for
 * the peer server is made with openssl in a temp dir that is removed afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { peerMembers } from '../../src/etcd/tls-probe.js';
import { s3LocationFrom } from '../../src/s3/location.js';
import { openStore } from '../../src/s3/store.js';

let dir: string;
const servers: Server[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'etcdadm-bounds-'));
  const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { cwd: dir, stdio: 'ignore' });
  sh('openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bounds-ca');
  sh(
    'openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && ' +
      "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ext && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext",
  );
});
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Streams 64 KiB chunks until the client goes away; `sent()` is how much went out. */
function endless(res: ServerResponse, start: string): { sent: () => number } {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  res.writeHead(200, { 'Content-Type': 'application/xml' });
  res.write(start);
  const pump = () => {
    while (!res.destroyed && sent < 256 << 20) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
  return { sent: () => sent };
}

async function listen(s: Server): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

describe('bounded reads', () => {
  it("a peer port answering GET /members with megabytes: one error at 1 MiB, the connection dropped", async () => {
    let stream: { sent: () => number } | undefined;
    const port = await listen(
      createHttpsServer({ key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.crt')) }, (req, res) => {
        stream = endless(res, '[{"id":"1","name":"');
      }),
    );
    const tls = { ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), cert: readFileSync(join(dir, 'srv.crt'), 'utf8'), key: readFileSync(join(dir, 'srv.key'), 'utf8') };
    await assert.rejects(peerMembers(`https://127.0.0.1:${port}`, tls, 10_000), /GET https:\/\/127\.0\.0\.1:\d+\/members: the answer is larger than 1048576 bytes/);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(stream!.sent() < 64 << 20, `the client stopped reading (${stream!.sent()} bytes sent)`);
  });

  it('an S3 endpoint answering a listing with more than 8 MiB: one line naming the endpoint, exit 1', async () => {
    let stream: { sent: () => number } | undefined;
    const port = await listen(
      createHttpServer((req, res) => {
        req.resume();
        stream = endless(res, '<?xml version="1.0"?><ListBucketResult><Name>');
      }),
    );
    const loc = s3LocationFrom({ s3Endpoint: `http://127.0.0.1:${port}`, s3AllowHttp: true, s3Bucket: 'backups' }, {})!;
    await assert.rejects(openStore(loc, { env: { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' } }), (e: unknown) => {
      const line = (e as { oneLine(): string }).oneLine();
      assert.match(line, /^GET s3:\/\/backups\/ answered more than 8388608 bytes/);
      assert.match(line, /check --s3-endpoint: it does not answer like S3/i);
      return true;
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(stream!.sent() < 64 << 20, `the client stopped reading (${stream!.sent()} bytes sent)`);
  });
});
