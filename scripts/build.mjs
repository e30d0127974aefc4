// Build: type-check + compile everything (sources, tests, bench) to build/ with tsc (the tests run on that), then
// bundle the CLI into one CommonJS file dist/etcdadm.cjs with esbuild (what bin/etcdadm runs). The executables
// and the .deb are `npm run dist` (scripts/dist.mjs).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { bundle } from './bundle.mjs';

rmSync(new URL('../build', import.meta.url), { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
await bundle({ outfile: 'dist/etcdadm.cjs', hooks: process.env.ETCDADM_RELEASE !== '1', sourcemap: true });
