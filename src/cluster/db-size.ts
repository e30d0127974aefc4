/** A member's database file: how much of it is free. Pure, and light: `status`'s table and `defrag` both read it. */

/** The share of a database file that is free, (file size − size in use) / file size (0..1); 0 for an empty or unknown size. */
export function fragmentation(dbSize: number | null, dbSizeInUse: number | null): number {
  if (!dbSize || dbSizeInUse === null || dbSize <= 0) return 0;
  return Math.max(0, (dbSize - dbSizeInUse) / dbSize);
}

/** `0.873` → `87.3%`. */
export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** Bytes in MiB with one decimal: `16.0 MiB`. */
export const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
