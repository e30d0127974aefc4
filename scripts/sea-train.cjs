// Build step (scripts/dist.mjs): run the bundle once the way scripts/sea-main.cjs will, then write the V8 code cache
// of everything that run compiled. The run is `etcdadm status` asking 127.0.0.1:1 with certificates from a
// directory that does not exist: it only reads, and fails at the certificates — after the start-up, the command
// tree, the host record, the plan and the client set-up that every command shares have been compiled.
//   node scripts/sea-train.cjs <bundle.cjs> <cache out>
const { readFileSync, writeFileSync, mkdtempSync, rmSync } = require('node:fs');
const { Script } = require('node:vm');
const { wrap } = require('node:module');
const { join } = require('node:path');
const { tmpdir } = require('node:os');

const [bundle, out] = process.argv.slice(2);
const script = new Script(wrap(readFileSync(bundle, 'utf8')), { filename: 'etcdadm.cjs' });
const dir = mkdtempSync(join(tmpdir(), 'etcdadm-train-'));
process.argv = [process.execPath, process.execPath, 'status', '--endpoints', 'https://127.0.0.1:1', '--certs-dir', join(dir, 'none'), '--log-level', 'error'];
process.on('exit', () => {
  writeFileSync(out, script.createCachedData());
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = 0; // the command's own failure is expected
});
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, require, mod, process.execPath, '/');
