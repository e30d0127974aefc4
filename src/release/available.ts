/**
 * Which etcd versions a release URL offers: GitHub's release list for the default URL, the directory listing of an
 * HTTP mirror (`<a href="v3.6.16/">`), the directories of a file:// mirror. Used to propose upgrade targets; whether
 * one given version is offered is checked by fetching its SHA256SUMS (works for every kind of URL).
 */
import { DEFAULTS } from '../config/defaults.js';
import { compareVersions, parseVersion } from '../config/version.js';
import { describe } from '../errors.js';
import type { Host } from '../host/host.js';
import { fileURLToPath } from 'node:url';
import { fetchText } from './fetch.js';
import { releaseBase, releaseUrls } from './spec.js';

export type Offered = { versions: string[] } | { unavailable: string };

const GITHUB_RELEASES = 'https://api.github.com/repos/etcd-io/etcd/releases?per_page=100';

/** Stable versions (no pre-releases) named like vX.Y.Z in `names`, sorted oldest first, without duplicates. */
export function versionsIn(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    const m = /^v?(\d+\.\d+\.\d+)$/.exec(n.replace(/\/$/, ''));
    if (m && parseVersion(m[1]!)) out.add(m[1]!);
  }
  return [...out].sort(compareVersions);
}

/** The hrefs of an HTML directory listing. */
export function listingNames(html: string): string[] {
  return [...html.matchAll(/href="([^"?#]+)"/g)].map((m) => decodeURIComponent(m[1]!).replace(/^\.\//, ''));
}

export async function offeredVersions(host: Host, releaseUrl: string, connectTimeoutMs: number): Promise<Offered> {
  try {
    if (releaseUrl.startsWith('file://')) return { versions: versionsIn((await host.list(fileURLToPath(new URL(releaseUrl)))) ?? []) };
    if (releaseBase(releaseUrl) === releaseBase(DEFAULTS.releaseUrl)) {
      const text = await fetchText(host, GITHUB_RELEASES, connectTimeoutMs, 8 << 20);
      if (text === undefined) return { unavailable: `${GITHUB_RELEASES} answered 404` };
      const releases = JSON.parse(text) as { tag_name?: string; prerelease?: boolean }[];
      return { versions: versionsIn(releases.filter((r) => !r.prerelease).map((r) => r.tag_name ?? '')) };
    }
    const text = await fetchText(host, `${releaseBase(releaseUrl)}/`, connectTimeoutMs, 8 << 20);
    if (text === undefined) return { unavailable: `${releaseUrl}/ has no directory listing` };
    return { versions: versionsIn(listingNames(text)) };
  } catch (err) {
    return { unavailable: describe(err) };
  }
}

/** Whether `releaseUrl` has etcd `version` (its SHA256SUMS is there). */
export async function offersVersion(host: Host, releaseUrl: string, version: string, connectTimeoutMs: number): Promise<boolean> {
  return (await fetchText(host, releaseUrls({ version, releaseUrl }).sums, connectTimeoutMs)) !== undefined;
}
