#!/bin/bash
# gen-etcd-flag-renames.sh [VERSION]
# Regenerates ETCD_FLAG_RENAMES in src/config/etcd-flags.ts (the block between the BEGIN/END GENERATED RENAMES
# markers) from the --help of a real etcd binary of the release mirror (default 3.6.16). etcd 3.6 deprecated its
# --experimental-* flags, and its --help names each one's successor: "Use '--corrupt-check-time' instead" (a flag)
# or "Use '--feature-gates=InitialCorruptCheck=true' instead" (a feature gate). 3.7 removed the old names.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
MIRROR=${ETCDADM_MIRROR_DIR:-/var/cache/etcdadm-lab/mirror}
OUT=src/config/etcd-flags.ts
V=${1:-3.6.16}
[[ $V =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { echo "not a version: $V" >&2; exit 1; }
minor=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}
tarball=$MIRROR/v$V/etcd-v$V-linux-amd64.tar.gz
[ -s "$tarball" ] || { echo "no $tarball: run 'bash lab/release-mirror.sh' first" >&2; exit 1; }
grep -q '^// BEGIN GENERATED RENAMES' "$OUT" && grep -q '^// END GENERATED RENAMES' "$OUT" || { echo "$OUT has no GENERATED RENAMES markers" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp" --strip-components=1
# option lines are "  --name 'default'"; the deprecation note is on the description line below
"$tmp/etcd" --help 2>&1 | awk '/^  --/ { f = substr($1, 3) } /Use .--[a-zA-Z0-9=-]+. instead/ { print f, $0 }' \
  | sed -E "s/^([a-z0-9-]+) .*Use '--([^']+)' instead.*/\1 \2/" > "$tmp/renames"
[ "$(wc -l < "$tmp/renames")" -ge 10 ] || { echo "etcd $V --help names only $(wc -l < "$tmp/renames") successors" >&2; exit 1; }
{
  echo "// BEGIN GENERATED RENAMES by scripts/gen-etcd-flag-renames.sh from etcd $V --help; do not edit by hand"
  echo "/** The successor etcd $minor names for each flag it deprecated: another flag, or a feature gate set to true. */"
  echo "export const ETCD_FLAG_RENAMES: Readonly<Record<string, { since: string; flag: string } | { since: string; gate: string }>> = {"
  while read -r old new; do
    if [[ $new =~ ^feature-gates=([A-Za-z]+)=true$ ]]; then echo "  '$old': { since: '$minor', gate: '${BASH_REMATCH[1]}' },"
    else echo "  '$old': { since: '$minor', flag: '$new' },"; fi
  done < <(sort "$tmp/renames")
  echo "};"
  echo "// END GENERATED RENAMES"
} > "$tmp/generated.ts"
awk -v gen="$tmp/generated.ts" '
  /^\/\/ BEGIN GENERATED RENAMES/ { while ((getline l < gen) > 0) print l; skip = 1; next }
  /^\/\/ END GENERATED RENAMES/ { skip = 0; next }
  !skip { print }' "$OUT" > "$tmp/out.ts"
cat "$tmp/out.ts" > "$OUT"
echo "wrote $(grep -c "since: '$minor'" "$OUT") renames to $OUT" >&2
