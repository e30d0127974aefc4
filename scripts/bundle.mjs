// One esbuild bundle of the CLI (cli/entry.ts → one CommonJS file), shared by scripts/build.mjs (dist/etcdadm.cjs,
// what bin/etcdadm runs) and scripts/dist.mjs (the executables). Needs the compiled tree in build/ (tsc first): the
// command tree embedded for completion is read from it.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);
export const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

const git = (...args) => {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, TZ: 'UTC' } }).toString().trim();
  } catch {
    return 'unknown'; // not a git checkout
  }
};

/** Version, commit and build date: the commit's date (or SOURCE_DATE_EPOCH), never the clock's, so builds repeat. */
export function buildInfo() {
  const commit = git('rev-parse', '--short=12', 'HEAD');
  const buildDate = process.env.SOURCE_DATE_EPOCH
    ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString().replace('.000Z', 'Z')
    : git('log', '-1', '--format=%cd', '--date=format-local:%Y-%m-%dT%H:%M:%SZ');
  return { version: pkg.version, commit, buildDate, epoch: Math.floor(Date.parse(buildDate) / 1000) || 0 };
}

/** The command tree from the compiled definitions (what --help prints), whole and compact. */
export async function cliTree() {
  const { buildProgram } = await import(new URL('build/src/cli/main.js', root).href);
  const { describeCommand, compactTree } = await import(new URL('build/src/cli/tree.js', root).href);
  const full = describeCommand(await buildProgram('all'));
  return { full, compact: compactTree(full) };
}

/**
 * Bundle the CLI to `outfile`. `hooks`: keep the test hooks (src/host/testhooks.ts: ETCDADM_TEST_HOLD / _FAIL);
 * a release build has none, not even the reading of those variables.
 */
export async function bundle({ outfile, hooks, sourcemap = false }) {
  const info = buildInfo();
  const { compact } = await cliTree();
  await build({
    absWorkingDir: new URL('.', root).pathname,
    entryPoints: ['src/cli/entry.ts'],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile,
    sourcemap: sourcemap ? 'linked' : false,
    // smaller to parse at every start (-40 ms on --help); identifiers kept so stack traces stay readable
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    inject: ['scripts/headers-shim.mjs'],
    define: {
      ETCDADM_TEST_HOOKS: hooks ? 'true' : 'false',
      ETCDADM_VERSION: JSON.stringify(info.version),
      ETCDADM_COMMIT: JSON.stringify(info.commit),
      ETCDADM_BUILD_DATE: JSON.stringify(info.buildDate),
      ETCDADM_CLI_TREE: JSON.stringify(JSON.stringify(compact)),
      // import.meta.url does not exist in CommonJS output
      'import.meta.url': 'ETCDADM_IMPORT_META_URL',
      'globalThis.Headers': 'undefined',
    },
    banner: { js: 'const ETCDADM_IMPORT_META_URL = require("url").pathToFileURL(__filename).href;' },
  });
  return info;
}
