/** A share of a database file that is free, as `--threshold` and `defrag.threshold` take it. */

/** "20%" or "0.2" → 0.2 (0 to below 1); invalid input is undefined. Pure. */
export function parseThreshold(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) / (m[2] ? 100 : 1);
  return n >= 0 && n < 1 ? n : undefined;
}
