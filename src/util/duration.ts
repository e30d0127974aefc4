/** Durations as etcdadm's flags take them (`--every 1h`, `--validity 365d`): whole numbers of d, h, m and s. Pure. */
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** `90m`, `1h`, `1h30m`, `365d`, `90d12h`: in ms; undefined when the text is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || !/^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+)([dhms])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}
