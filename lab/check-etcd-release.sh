#!/bin/bash
# check-etcd-release.sh VERSION [MIRROR_DIR]
# Smoke test of one tarball of the local release mirror (lab/release-mirror.sh, lab/build-etcd.sh): checks
# SHA256SUMS, the layout (one top dir etcd-vX.Y.Z-linux-amd64/), that etcd --version, etcdctl version and etcdutl
# version (where shipped) report VERSION, then starts that etcd on two free 127.0.0.1 ports with a temp data dir,
# does `etcdctl put a b` and `get a` against it, and kills it by its PID. Leaves nothing behind. A few seconds.
set -euo pipefail
export LC_ALL=C
[ $# -ge 1 ] || { echo "usage: $0 VERSION [MIRROR_DIR]" >&2; exit 2; }
v=${1#v}
MIRROR=${2:-${ETCDADM_MIRROR_DIR:-/var/cache/etcdadm-lab/mirror}}
n=etcd-v$v-linux-amd64
dir=$MIRROR/v$v
fail() { echo "etcd v$v: $*" >&2; exit 1; }
[ -s "$dir/$n.tar.gz" ] && [ -s "$dir/SHA256SUMS" ] || fail "no $dir/$n.tar.gz with SHA256SUMS"
(cd "$dir" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match"
grep -qE "^[0-9a-f]{64}  $n\.tar\.gz$" "$dir/SHA256SUMS" || fail "SHA256SUMS is not '<sha256>  $n.tar.gz'"
tops=$(tar -tzf "$dir/$n.tar.gz" | cut -d/ -f1 | sort -u)
[ "$tops" = "$n" ] || fail "top dirs of the tarball: $tops"

tmp=$(mktemp -d)
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$tmp"; }
trap cleanup EXIT
tar -xzf "$dir/$n.tar.gz" -C "$tmp"
b=$tmp/$n
got=$("$b/etcd" --version | sed -n 's/^etcd Version: //p'); [ "$got" = "$v" ] || fail "etcd --version says '$got'"
got=$("$b/etcdctl" version | sed -n 's/^etcdctl version: //p'); [ "$got" = "$v" ] || fail "etcdctl version says '$got'"
tools="etcd etcdctl"
if [ -x "$b/etcdutl" ]; then
  got=$("$b/etcdutl" version | sed -n 's/^etcdutl version: //p'); [ "$got" = "$v" ] || fail "etcdutl version says '$got'"
  tools="$tools etcdutl"
fi

read -r cport pport < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
c=http://127.0.0.1:$cport p=http://127.0.0.1:$pport
(cd "$tmp" && exec env -i "$b/etcd" --name s --data-dir "$tmp/data" --listen-client-urls "$c" --advertise-client-urls "$c" \
  --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "s=$p" > "$tmp/etcd.log" 2>&1) &
pid=$!
ctl() { env -i "$b/etcdctl" --endpoints "$c" --dial-timeout 2s --command-timeout 5s "$@"; }
for _ in $(seq 100); do ctl endpoint health >/dev/null 2>&1 && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
ctl put a b > "$tmp/put" 2>&1 || { cat "$tmp/put" "$tmp/etcd.log" >&2; fail "etcdctl put failed"; }
got=$(ctl get a --print-value-only) || { tail -20 "$tmp/etcd.log" >&2; fail "etcdctl get failed"; }
[ "$got" = b ] || fail "etcdctl get a returned '$got'"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "etcd v$v: ok ($tools report $v; put/get on 127.0.0.1:$cport)"
