// npm run dist: the self-contained executable dist/etcdadm-linux-amd64 — a Node.js single-executable application
// (the node that runs this script, stripped of its symbols, with the release bundle and its V8 code cache injected
// by postject) — and the same made with the test hooks for the tests that inject faults
// (build/dist/etcdadm-hooks-linux-amd64), then the man pages, the completion scripts and the .deb (scripts/deb.sh).
// Run after `npm run build` (it reads the compiled command definitions). Why this way: README, "The executable".
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { bundle, cliTree } from './bundle.mjs';

const root = new URL('..', import.meta.url).pathname;
const work = `${root}build/dist`;
const { inject } = createRequire(import.meta.url)('postject');

/**
 * One executable from one bundle: a SEA blob whose main script (scripts/sea-main.cjs) runs the bundle, an asset,
 * with the code cache trained on it (scripts/sea-train.cjs); a stripped node; the blob injected. `bare`: the
 * bundle itself as the main script, without a cache (the bench's empty baseline).
 */
async function executable(bundleFile, out, { bare = false } = {}) {
  const blob = `${bundleFile}.blob`;
  const config = `${bundleFile}.sea.json`;
  // V8 writes its code cache with this process's random hash seed, so two builds differ in those bytes (a fixed
  // --hash-seed makes V8 reject the cache at start-up): ETCDADM_REPRODUCIBLE=1 leaves the cache out for a
  // byte-identical executable (about 50 ms slower to start)
  const useCodeCache = process.env.ETCDADM_REPRODUCIBLE !== '1';
  const cache = `${bundleFile}.cache`;
  if (useCodeCache && !bare) execFileSync(process.execPath, [`${root}scripts/sea-train.cjs`, bundleFile, cache], { stdio: 'pipe', timeout: 60_000 });
  else writeFileSync(cache, '');
  // paths relative to the bundle's directory: the blob records the main script's name, and a build elsewhere must
  // give the same bytes
  const main = bare ? basename(bundleFile) : 'sea-main.cjs';
  if (!bare) copyFileSync(`${root}scripts/sea-main.cjs`, `${dirname(bundleFile)}/sea-main.cjs`);
  const assets = bare ? {} : { assets: { 'etcdadm.cjs': basename(bundleFile), 'etcdadm.cache': basename(cache) } };
  writeFileSync(config, JSON.stringify({ main, output: basename(blob), disableExperimentalSEAWarning: true, useCodeCache, ...assets }));
  execFileSync(process.execPath, ['--experimental-sea-config', basename(config)], { cwd: dirname(bundleFile), stdio: 'pipe' });
  const tmp = `${out}.tmp`;
  copyFileSync(process.execPath, tmp);
  chmodSync(tmp, 0o755);
  // the runtime's debug symbols are 12 MB nobody on a host reads (and lintian asks for a stripped binary)
  execFileSync('strip', ['--strip-all', '--remove-section=.comment', tmp]);
  await inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
  execFileSync('mv', ['-f', tmp, out]);
  return createHash('sha256').update(readFileSync(out)).digest('hex');
}

// `--empty DIR`: an executable made the same way around an empty script (the bench's baseline for start-up time)
const empty = process.argv.indexOf('--empty');
if (empty > 0) {
  const dir = process.argv[empty + 1];
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/empty.cjs`, '');
  await executable(`${dir}/empty.cjs`, `${dir}/empty-linux-amd64`, { bare: true });
  process.exit(0);
}

// `--executable-only DIR`: only the shipped executable, into DIR (the reproducibility test builds it twice)
const only = process.argv.indexOf('--executable-only');
if (only > 0) {
  const dir = process.argv[only + 1];
  mkdirSync(dir, { recursive: true });
  await bundle({ outfile: `${dir}/etcdadm-release.cjs`, hooks: false });
  process.stdout.write(`${await executable(`${dir}/etcdadm-release.cjs`, `${dir}/etcdadm-linux-amd64`)}\n`);
  process.exit(0);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(`${root}dist`, { recursive: true });

const info = await bundle({ outfile: `${work}/etcdadm-release.cjs`, hooks: false });
await bundle({ outfile: `${work}/etcdadm-hooks.cjs`, hooks: true });
const sha = await executable(`${work}/etcdadm-release.cjs`, `${root}dist/etcdadm-linux-amd64`);
await executable(`${work}/etcdadm-hooks.cjs`, `${work}/etcdadm-hooks-linux-amd64`);

// man pages and completion scripts from the same definitions as --help
const { full } = await cliTree();
const { manPages } = await import(`${root}build/src/cli/man.js`);
const { completionScript } = await import(`${root}build/src/cli/completion.js`);
mkdirSync(`${work}/man`, { recursive: true });
for (const page of manPages(full, { version: info.version, date: info.buildDate.slice(0, 10) })) writeFileSync(`${work}/man/${page.name}.1`, page.text);
mkdirSync(`${work}/completion`, { recursive: true });
for (const shell of ['bash', 'zsh', 'fish']) writeFileSync(`${work}/completion/etcdadm.${shell}`, completionScript(shell, full));

execFileSync('bash', [`${root}scripts/deb.sh`, info.version, String(info.epoch)], { stdio: 'inherit' });
process.stdout.write(`dist/etcdadm-linux-amd64 sha256=${sha}\ndist/etcdadm_${info.version}_amd64.deb\n`);
