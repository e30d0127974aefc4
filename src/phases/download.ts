/** `etcdadm download` as a phase: the release fetched into the cache (or found there) and its SHA-256 checked. */
import { phase, type Phase } from '../run/phase.js';

const download: Phase = phase<undefined, undefined>({
  name: 'download',
  short: "Fetch the release archive into the cache (or take it from there) and check it against the release's SHA256SUMS",
  async act(ctx) {
    const r = await ctx.download(ctx.plan.release, ctx.log);
    if (!ctx.dryRun) ctx.out(r.archivePath);
  },
});

export const DOWNLOAD_PHASES: readonly Phase[] = [download];
