#!/bin/bash
# build-etcd.sh VERSION OUT_DIR
# Builds etcd VERSION (e.g. 3.6.16) from etcd's published Go modules and writes it in the upstream release layout,
# like lab/release-mirror.sh does for Debian's binaries (release-mirror.sh calls this for its Go-built versions):
#   OUT_DIR/vX.Y.Z/etcd-vX.Y.Z-linux-amd64.tar.gz   (one top dir etcd-vX.Y.Z-linux-amd64/: etcd, etcdctl, etcdutl)
#   OUT_DIR/vX.Y.Z/SHA256SUMS                        ("<sha256>  <tarball>")
# `go install go.etcd.io/etcd/server/v3@vX` does not work: server, etcdctl and etcdutl carry relative replace
# directives (`go.etcd.io/etcd/api/v3 => ../api` ...). So the three modules are downloaded from the Go module proxy,
# then every go.etcd.io/etcd module they require through such a replace (api, client/pkg, client/v3, pkg, and for
# 3.5 also client/v2 and raft), at the version they require; each is copied into the directory its replace names
# (the repository's layout), and etcd (from server/), etcdctl and etcdutl are built there with the local Go:
#   CGO_ENABLED=0 GOTOOLCHAIN=local go build -mod=readonly -trimpath
# The version etcd reports is compiled in from api/version; the build sets only version.GitSHA (to "go-modules").
# Needs Go at least as new as the `go` line of the modules' go.mod (3.5.35, 3.6.16 and 3.7.x: go 1.26.0) and the
# Go module proxy. From empty caches a version takes about 2 min on 2 cores (the four of release-mirror.sh about
# 6 min in a row, as they share dependencies); cached, nothing is rebuilt. Caches, so only a new machine pays:
#   $LAB_CACHE/go/mod, $LAB_CACHE/go/build        Go's module and build caches (GOMODCACHE, GOCACHE)
#   $LAB_CACHE/etcd-src/vX.Y.Z/src, .../bin       the assembled sources and the three binaries (build.log: go's output)
# (LAB_CACHE defaults to /var/cache/etcdadm-lab.) Idempotent: an existing tarball with its SHA256SUMS is kept, and
# built binaries are packaged again without a rebuild. Progress goes to stderr.
set -euo pipefail
export LC_ALL=C
[ $# -eq 2 ] || { echo "usage: $0 VERSION OUT_DIR" >&2; exit 2; }
v=${1#v}
[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "not a version: $1" >&2; exit 2; }
OUT=$2
LAB_CACHE=${LAB_CACHE:-/var/cache/etcdadm-lab}
n=etcd-v$v-linux-amd64
if [ -s "$OUT/v$v/$n.tar.gz" ] && [ -s "$OUT/v$v/SHA256SUMS" ]; then exit 0; fi

export GOMODCACHE=$LAB_CACHE/go/mod GOCACHE=$LAB_CACHE/go/build
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly GOOS=linux GOARCH=amd64
SRC=$LAB_CACHE/etcd-src/v$v
BIN=$SRC/bin
start=$SECONDS
say() { echo "== etcd v$v: $* ($((SECONDS - start)) s)" >&2; }
command -v go >/dev/null || { echo "etcd v$v: no 'go' on PATH (needed to build etcd from its Go modules)" >&2; exit 1; }
gover=$(go env GOVERSION); gover=${gover#go}

# newer_than A B: Go version A is newer than B (1.26 is 1.26.0)
newer_than() {
  local a=$1 b=$2; [[ $a == *.*.* ]] || a=$a.0; [[ $b == *.*.* ]] || b=$b.0
  [ "$a" != "$b" ] && [ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | tail -1)" = "$a" ]
}

if [ ! -f "$BIN/.complete" ]; then
  say "downloading modules"
  rm -rf "$SRC"; mkdir -p "$SRC/src" "$BIN"
  # modules to place: "module version dir" (dir relative to the repository root)
  todo=("go.etcd.io/etcd/server/v3 v$v server" "go.etcd.io/etcd/etcdctl/v3 v$v etcdctl" "go.etcd.io/etcd/etcdutl/v3 v$v etcdutl")
  declare -A placed=()
  : > "$SRC/modules"
  while [ ${#todo[@]} -gt 0 ]; do
    read -r mod ver dir <<< "${todo[0]}"; todo=("${todo[@]:1}")
    [ -n "${placed[$dir]:-}" ] && { [ "${placed[$dir]}" = "$mod@$ver" ] || { echo "etcd v$v: $dir wanted as ${placed[$dir]} and as $mod@$ver" >&2; exit 1; }; continue; }
    json=$(cd "$SRC" && go mod download -json "$mod@$ver") || { echo "etcd v$v: cannot download $mod@$ver: $json" >&2; exit 1; }
    mdir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<< "$json")
    [ -d "$mdir" ] || { echo "etcd v$v: no module dir for $mod@$ver: $json" >&2; exit 1; }
    mkdir -p "$SRC/src/$dir"
    cp -a "$mdir/." "$SRC/src/$dir/"
    chmod -R u+w "$SRC/src/$dir"
    placed[$dir]=$mod@$ver
    echo "$mod@$ver -> $dir/" >> "$SRC/modules"
    needs=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$SRC/src/$dir/go.mod")
    if [ -n "$needs" ] && newer_than "$needs" "$gover"; then
      echo "etcd v$v: $mod@$ver needs Go $needs (go.mod), this machine has Go $gover (GOTOOLCHAIN=local)" >&2; exit 1
    fi
    # go.etcd.io/etcd modules it requires that a relative replace points into the repository: place those too
    while read -r rmod rdir; do
      rver=$(awk -v m="$rmod" '
        /^require[[:space:]]*\(/ { inreq = 1; next }
        inreq && /^\)/ { inreq = 0; next }
        { line = $0; sub(/\/\/.*/, "", line); k = split(line, f, /[[:space:]]+/); i = (f[1] == "" ? 2 : 1) }
        inreq && f[i] == m { print f[i + 1]; exit }
        !inreq && f[i] == "require" && f[i + 1] == m { print f[i + 2]; exit }' "$SRC/src/$dir/go.mod")
      [ -n "$rver" ] || continue
      target=$(realpath -m --relative-to="$SRC/src" "$SRC/src/$dir/$rdir")
      case $target in ..*|/*) echo "etcd v$v: $mod replaces $rmod with $rdir, outside the repository" >&2; exit 1;; esac
      todo+=("$rmod $rver $target")
    done < <(awk '
      /^replace[[:space:]]*\(/ { inrep = 1; next }
      inrep && /^\)/ { inrep = 0; next }
      { line = $0; sub(/^replace[[:space:]]+/, "", line); if (!inrep && line == $0) next
        if (split(line, f, /[[:space:]]*=>[[:space:]]*/) != 2) next
        split(f[1], l, /[[:space:]]+/); m = (l[1] == "" ? l[2] : l[1]); t = f[2]; sub(/[[:space:]].*/, "", t)
        if (m ~ /^go\.etcd\.io\/etcd\// && t ~ /^\.\.?\//) print m, t }' "$SRC/src/$dir/go.mod")
  done
  say "modules placed: $(sed 's/ -> .*//' "$SRC/modules" | sort | tr '\n' ' ')"

  for b in etcd etcdctl etcdutl; do
    case $b in etcd) d=server;; *) d=$b;; esac
    say "building $b (in $d/; the first build also downloads its dependencies)"
    if ! (cd "$SRC/src/$d" && go build -trimpath -ldflags "-X go.etcd.io/etcd/api/v3/version.GitSHA=go-modules" \
            -o "$BIN/$b.tmp" .) >> "$SRC/build.log" 2>&1; then
      grep -v '^go: downloading ' "$SRC/build.log" | tail -40 >&2
      echo "etcd v$v: building $b failed; full log: $SRC/build.log" >&2; exit 1
    fi
    mv "$BIN/$b.tmp" "$BIN/$b"
  done
  go version > "$BIN/.complete"
else
  say "binaries cached in $BIN"
fi

got=$("$BIN/etcd" --version | sed -n 's/^etcd Version: //p')
[ "$got" = "$v" ] || { echo "etcd v$v: the built etcd reports version '$got'" >&2; exit 1; }
got=$("$BIN/etcdctl" version | sed -n 's/^etcdctl version: //p')
[ "$got" = "$v" ] || { echo "etcd v$v: the built etcdctl reports version '$got'" >&2; exit 1; }
got=$("$BIN/etcdutl" version | sed -n 's/^etcdutl version: //p')
[ "$got" = "$v" ] || { echo "etcd v$v: the built etcdutl reports version '$got'" >&2; exit 1; }

say "packaging"
st=$(mktemp -d); trap 'rm -rf "$st"' EXIT
mkdir "$st/$n"
for b in etcd etcdctl etcdutl; do install -m 0755 "$BIN/$b" "$st/$n/$b"; done
{ echo "etcd v$v (built from etcd's Go modules with $(cat "$BIN/.complete" | sed 's/^go version //'), CGO_ENABLED=0 -trimpath)"
  echo; sed 's/^/    /' "$SRC/modules"; } > "$st/$n/README.md"
mkdir -p "$OUT/v$v"
tar -C "$st" --owner=0 --group=0 --numeric-owner --mtime=2024-01-01 --sort=name -cf - "$n" | gzip -1 -n > "$OUT/v$v/$n.tar.gz.tmp"
mv "$OUT/v$v/$n.tar.gz.tmp" "$OUT/v$v/$n.tar.gz"
(cd "$OUT/v$v" && sha256sum "$n.tar.gz" > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
say "done: $OUT/v$v/$n.tar.gz"
