/**
 * Hold points for tests, and nothing else: with ETCDADM_TEST_HOLD=<point>[,<point>...] in its environment, etcdadm
 * stops at that point — prints `etcdadm-test-hold <point>` to stderr and waits — so that a test can SIGKILL it exactly
 * there, or look at the world in that state. It waits forever, or, with ETCDADM_TEST_RELEASE=<file>, until that file
 * exists (then it goes on). Points: `after:<phase>` (the runner, once the phase completed), `member-added` (join,
 * right after the member add), `write:<path>` (an atomic write of <path>, half of the temp file written and synced).
 * With ETCDADM_TEST_FAIL=<point>, etcdadm fails there instead (one error line, the run rolled back as any failure
 * is): how the tests inject a fault right after a run's first change. Without the variables every call is a no-op,
 * and a release build (ETCDADM_RELEASE=1 npm run build) has none of it: the variables are not even read.
 */
import { access } from 'node:fs/promises';

/**
 * false in a release build (scripts/build.mjs, ETCDADM_RELEASE=1): every hook below is compiled out there. Written out
 * at each use (not kept in a variable) so that esbuild folds the condition and drops the reads of the variables.
 */
declare const ETCDADM_TEST_HOOKS: boolean | undefined;

const list = (v: string | undefined) => new Set((v ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const points = typeof ETCDADM_TEST_HOOKS === 'undefined' || ETCDADM_TEST_HOOKS ? list(process.env.ETCDADM_TEST_HOLD) : new Set<string>();

/** Whether a hold is set for `point`. */
export function holdsAt(point: string): boolean {
  return points.size > 0 && points.has(point);
}

/** Never returns when a hold is set for `point`. */
export async function testHold(point: string): Promise<void> {
  if (!holdsAt(point)) return;
  process.stderr.write(`etcdadm-test-hold ${point}\n`);
  const release = typeof ETCDADM_TEST_HOOKS === 'undefined' || ETCDADM_TEST_HOOKS ? process.env.ETCDADM_TEST_RELEASE : undefined;
  for (;;) {
    if (release && (await access(release).then(() => true, () => false))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const failures = typeof ETCDADM_TEST_HOOKS === 'undefined' || ETCDADM_TEST_HOOKS ? list(process.env.ETCDADM_TEST_FAIL) : new Set<string>();

/** Throws when a fault is injected at `point` (ETCDADM_TEST_FAIL). */
export function testFail(point: string): void {
  if (failures.size > 0 && failures.has(point)) throw new Error(`a fault injected by the test at ${point}`);
}
