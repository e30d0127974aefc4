/**
 * The dependency rules (.dependency-cruiser.cjs): src/ keeps them, and each rule fails on a module that breaks it
 * (a copy of the rules run on a scratch tree of such modules), so the check cannot pass by accident.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../helpers/lab.js';

const DEPCRUISE = join(REPO, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

function cruise(cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DEPCRUISE, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('dependency rules', () => {
  it('src/ keeps them: no node:fs or child_process outside src/host/, no layer imported upwards, no cycle', async () => {
    const r = await cruise(REPO);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /no dependency violations found/);
  });

  it('fail on a module that breaks each of them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcdadm-deps-'));
    try {
      cpSync(join(REPO, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
      const files: Record<string, string> = {
        'src/cluster/reads-files.ts': "import { readFile } from 'node:fs/promises';\nexport const r = readFile;\n",
        'src/release/runs-programs.ts': "import { spawn } from 'node:child_process';\nexport const s = spawn;\n",
        'src/host/ok.ts': "import { readFile } from 'node:fs/promises';\nexport const ok = readFile;\n",
        'src/pki/up.ts': "import { p } from '../phases/p.js';\nexport const u = p;\n",
        'src/phases/p.ts': "export const p = 1;\n",
        'src/host/knows.ts': "import { c } from '../cluster/c.js';\nexport const k = c;\n",
        'src/cluster/c.ts': "export const c = 1;\n",
        'src/run/r.ts': "import { m } from '../cli/m.js';\nexport const r = m;\n",
        'src/cli/m.ts': "export const m = 1;\n",
        'src/config/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
        'src/config/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
      };
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      const r = await cruise(dir);
      assert.notEqual(r.code, 0, r.out);
      for (const line of [
        /machine-access-outside-host: src\/cluster\/reads-files\.ts → (node:)?fs\/promises/,
        /machine-access-outside-host: src\/release\/runs-programs\.ts → (node:)?child_process/,
        /phases-only-from-cli: src\/pki\/up\.ts → src\/phases\/p\.ts/,
        /host-below-concerns: src\/host\/knows\.ts → src\/cluster\/c\.ts/,
        /nothing-imports-cli: src\/run\/r\.ts → src\/cli\/m\.ts/,
        /no-circular: src\/config\/a\.ts → /,
      ])
        assert.match(r.out, line);
      assert.doesNotMatch(r.out, /src\/host\/ok\.ts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
