/**
 * The one grammar of etcd versions, used by the configuration schema, the release module and the version rules:
 * `X.Y.Z` with an optional `-prerelease`, and at most one leading `v` ("v3.5.30" is what people copy from release
 * pages). Pure.
 */

export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** The prerelease suffix without its dash ("rc.1"), when there is one. */
  pre?: string;
}

const VERSION = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

/** The parts of `text`, or undefined when it is not a version ("vv3.5.30", "3.5", " 3.5.30 " are not). */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), ...(m[4] ? { pre: m[4] } : {}) };
}

/** "3.5.30" for "v3.5.30"; undefined when `text` is not a version. */
export function normalizeVersion(text: string): string | undefined {
  const v = parseVersion(text);
  return v ? formatVersion(v) : undefined;
}

export function formatVersion(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}${v.pre ? `-${v.pre}` : ''}`;
}

/** "3.5" of "3.5.30". */
export function minorOf(v: Version | string): string {
  const p = typeof v === 'string' ? parseVersion(v) : v;
  if (!p) throw new RangeError(`not a version: ${String(v)}`);
  return `${p.major}.${p.minor}`;
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b` (a prerelease is older than its release). */
export function compareVersions(a: Version | string, b: Version | string): number {
  const x = typeof a === 'string' ? parseVersion(a) : a;
  const y = typeof b === 'string' ? parseVersion(b) : b;
  if (!x || !y) throw new RangeError(`not a version: ${String(x ? b : a)}`);
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch || comparePre(x.pre, y.pre);
}

function comparePre(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a < b ? -1 : 1;
}

/** Whether `v` is at least `major.minor`. */
export function atLeastMinor(v: Version | string, major: number, minor: number): boolean {
  const p = typeof v === 'string' ? parseVersion(v) : v;
  return p !== undefined && (p.major > major || (p.major === major && p.minor >= minor));
}
