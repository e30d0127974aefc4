#!/bin/bash
# gen-etcd-flags.sh [VERSION...]
# Regenerates the per-minor etcd flag lists in src/config/etcd-flags.ts (the block between the BEGIN/END GENERATED
# markers) from real etcd binaries, taken from the local release mirror (lab/release-mirror.sh builds it).
# Default versions: 3.4.23 3.5.30 3.6.16 3.7.3. With several patch versions of one minor, the newest one's list is
# kept. The mirror's other patches gave the same lists when checked (3.5.35 as 3.5.30, 3.6.14 as 3.6.16); 3.5.30
# stays the 3.5 source as etcdadm's default version.
#
# The list of a version is what its `etcd` binary really accepts:
#   1. every `--flag` that `etcd --help` documents;
#   2. plus flags that etcd defines but --help leaves out (3.5.30 has e.g. --experimental-snapshot-catchup-entries):
#      every dash-separated lower-case name found in the binary is offered to etcd as an ETCD_<NAME>=0 environment
#      variable (env -i, no flags). etcd maps each of its flags to ETCD_<FLAG>, logs "unrecognized environment
#      variable" for every ETCD_* variable that is not a flag, and then stops on the deliberately invalid
#      ETCD_HEARTBEAT_INTERVAL=x (or a candidate's invalid "0") before it would start a server. Candidates it does not
#      call unrecognized are flags. One to two minutes per version (some 2000 runs of etcd).
# Left out: deprecated flags etcd parses but ignores (e.g. --peer-heartbeat-interval), flags --help documents that
# the binary does not define (3.7.3 documents --discovery and --discovery-proxy but rejects them), and `version`,
# `help` and `config-file`, which are no settings (ETCD_CONFIG_FILE would even make etcd ignore every other variable).
# Kept: flags etcd accepts although --help calls them deprecated (3.6's experimental-* flags, which 3.7 removed;
# see lab/ETCD-VERSIONS.md).
# KEEP_TMP=1 keeps the work dir (binaries, candidate batches, etcd's logs) for debugging.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
MIRROR=${ETCDADM_MIRROR_DIR:-/var/cache/etcdadm-lab/mirror}
OUT=src/config/etcd-flags.ts
VERSIONS=$(printf '%s\n' "${@:-3.4.23 3.5.30 3.6.16 3.7.3}" | tr ' ' '\n' | sed '/^$/d' | sort -V)
SENTINEL=ETCD_HEARTBEAT_INTERVAL=x        # a real flag with an invalid value: etcd stops once it has read env
BOGUS=ETCD_ETCDADM_NO_SUCH_FLAG           # must come back as unrecognized from every batch

tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] && echo "work dir: $tmp" >&2 || rm -rf "$tmp"' EXIT
grep -q '^// BEGIN GENERATED' "$OUT" && grep -q '^// END GENERATED' "$OUT" || { echo "$OUT has no GENERATED markers" >&2; exit 1; }

to_env() { awk '{ e = toupper($0); gsub(/-/, "_", e); print "ETCD_" e }'; }

declare -A LIST_OF   # minor -> file with that minor's flags
declare -A SOURCE_OF # minor -> patch version the list came from
for v in $VERSIONS; do
  [[ $v =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { echo "not a version: $v" >&2; exit 1; }
  minor=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}
  tarball=$MIRROR/v$v/etcd-v$v-linux-amd64.tar.gz
  [ -s "$tarball" ] || { echo "no $tarball: run 'bash lab/release-mirror.sh' first" >&2; exit 1; }
  dir=$tmp/$v
  mkdir -p "$dir/bin" "$dir/run"
  tar -xzf "$tarball" -C "$dir/bin" --strip-components=1
  etcd=$dir/bin/etcd
  reported=$("$etcd" --version | sed -n 's/^etcd Version: //p')
  [ "$reported" = "$v" ] || { echo "$tarball holds etcd '$reported', not $v" >&2; exit 1; }

  # 1. documented flags (option lines are indented by two spaces: "  --name 'default'")
  "$etcd" --help 2>&1 | sed -nE 's/^  --([a-z0-9][a-z0-9-]*).*/\1/p' | sort -u > "$dir/help"
  [ "$(wc -l < "$dir/help")" -ge 50 ] || { echo "etcd $v --help lists only $(wc -l < "$dir/help") flags" >&2; exit 1; }

  # 2. candidates: the documented flags + every dash-separated substring of the binary's lower-case runs (Go lays
  #    its string literals out back to back, so a flag name is a substring of a longer run)
  grep -aoE '[a-z0-9-]{6,}' "$etcd" | grep -- - | sort -u | awk -v help="$dir/help" '
    BEGIN { while ((getline f < help) > 0) out[f] = 1 }
    {
      n = length($0)
      for (s = 1; s <= n; s++) {
        if (substr($0, s, 1) !~ /[a-z]/) continue
        for (e = s + 3; e <= n && e - s < 64; e++) {
          c = substr($0, s, e - s + 1)
          if (c ~ /^[a-z][a-z0-9]*(-[a-z0-9]+)+$/) out[c] = 1
        }
      }
    }
    END { for (c in out) print c }' \
    | grep -vxE 'config-file|version|help|heartbeat-interval' | to_env | sed 's/$/=0/' | sort -u > "$dir/candidates"

  # batches of 90: etcd 3.5 logs through zap, whose sampling drops repeats of a message after the first 100 a second
  split -a 4 -l 90 "$dir/candidates" "$dir/batch."
  : > "$dir/defined"
  for batch in "$dir"/batch.*; do
    mapfile -t vars < "$batch"
    (cd "$dir/run" && env -i "${vars[@]}" "$BOGUS=0" "$SENTINEL" timeout 60 "$etcd" > "$batch.log" 2>&1) || true
    # etcd names the last invalid value it met (the sentinel's or a candidate's "0"): either way it stopped there
    grep -qE 'invalid value .{1,8} for ETCD_[A-Z0-9_]+' "$batch.log" || { echo "etcd $v did not stop at an invalid value; see $batch.log" >&2; exit 1; }
    grep 'unrecognized environment variable' "$batch.log" | grep -oE 'ETCD_[A-Z0-9_]+=' | sed 's/=$//' > "$batch.rejected"
    grep -qx "$BOGUS" "$batch.rejected" || { echo "etcd $v did not report $BOGUS as unrecognized; see $batch.log" >&2; exit 1; }
    sort -u -o "$batch.rejected" "$batch.rejected"
    sed 's/=.*//' "$batch" | sort -u | comm -23 - "$batch.rejected" >> "$dir/defined"
  done
  { sed 's/^ETCD_//' "$dir/defined" | tr 'A-Z_' 'a-z-'; echo heartbeat-interval; } | sort -u > "$dir/all"

  # 3. leave out the deprecated flags etcd parses but ignores (flags.IgnoredFlag): they need no value like a boolean
  #    flag, yet take any value. ($SENTINEL stops etcd after the command line was parsed.)
  : > "$dir/ignored"
  while read -r f; do
    no_value=$(cd "$dir/run" && env -i "$SENTINEL" timeout 10 "$etcd" "--$f" 2>&1 || true)
    any_value=$(cd "$dir/run" && env -i "$SENTINEL" timeout 10 "$etcd" "--$f=not-a-value" 2>&1 || true)
    if [[ $no_value == *ETCD_HEARTBEAT_INTERVAL* && $any_value == *ETCD_HEARTBEAT_INTERVAL* ]]; then echo "$f" >> "$dir/ignored"; fi
  done < "$dir/all"
  comm -23 "$dir/all" "$dir/ignored" > "$dir/flags"

  missing=$(comm -23 "$dir/help" "$dir/flags" | tr '\n' ' ')
  [ -z "$missing" ] || echo "etcd $v: documented but ignored or unknown, left out: $missing" >&2
  hidden=$(comm -13 "$dir/help" "$dir/flags" | tr '\n' ' ')
  echo "etcd $v: $(wc -l < "$dir/flags") flags ($(wc -l < "$dir/help") in --help; not in --help: ${hidden:-none}; ignored, left out: $(tr '\n' ' ' < "$dir/ignored"))" >&2
  LIST_OF[$minor]=$dir/flags
  SOURCE_OF[$minor]=$v
done

minors=$(printf '%s\n' "${!SOURCE_OF[@]}" | sort -V)
{
  echo "// BEGIN GENERATED by scripts/gen-etcd-flags.sh from the etcd binaries $(for m in $minors; do printf '%s ' "${SOURCE_OF[$m]}"; done | sed 's/ $//'); do not edit by hand"
  echo "/** The etcd release each minor's flag list was taken from. */"
  echo "export const ETCD_FLAG_SOURCES = {"
  for m in $minors; do echo "  '$m': '${SOURCE_OF[$m]}',"; done
  echo "} as const;"
  echo ""
  echo "/** The flags (without --) each etcd minor version accepts, sorted. */"
  echo "export const ETCD_FLAGS: Record<keyof typeof ETCD_FLAG_SOURCES, readonly string[]> = {"
  for m in $minors; do
    echo "  '$m': ["
    sed "s/.*/    '&',/" "${LIST_OF[$m]}"
    echo "  ],"
  done
  echo "};"
  echo "// END GENERATED"
} > "$tmp/generated.ts"

awk -v gen="$tmp/generated.ts" '
  /^\/\/ BEGIN GENERATED/ { while ((getline l < gen) > 0) print l; skip = 1; next }
  /^\/\/ END GENERATED/ { skip = 0; next }
  !skip { print }' "$OUT" > "$tmp/out.ts"
cat "$tmp/out.ts" > "$OUT"
echo "wrote $OUT" >&2
