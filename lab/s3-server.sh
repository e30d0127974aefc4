#!/bin/bash
# s3-server.sh build | start DIR PORT | stop | status
# A real S3-compatible server on loopback for backup tests: Versity's S3 gateway (versitygw, Apache-2.0), built from
# its Go module with the machine's Go, serving the directory DIR with its posix backend (a bucket is a directory
# DIR/BUCKET, an object a file in it). It checks AWS SigV4 signatures, so wrong credentials are refused (403).
#   build             go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION (default v1.8.0) into
#                     $LAB_CACHE/bin/versitygw, with GOMODCACHE/GOCACHE under $LAB_CACHE/go (LAB_CACHE defaults to
#                     /var/cache/etcdadm-lab). Kept when `versitygw --version` is that version already (about 4 min
#                     on 2 cores from empty caches; a 58 MiB binary).
#   start DIR PORT    build if needed, then run it detached on 127.0.0.1:PORT serving DIR (created if missing);
#                     object metadata goes to the sidecar dir DIR/../.meta-NAME ($S3_META_DIR), not into xattrs.
#                     Root credentials: access key $S3_ACCESS_KEY (default testkey), secret $S3_SECRET_KEY (default
#                     testsecret); region us-east-1. Writes its PID to $S3_PID_FILE (default
#                     /run/etcdadm-lab/s3-server.pid) and its request log next to it (.log), and returns once it
#                     answers HTTP (fails after 10 s).
#                     S3_LISTEN=10.88.0.X S3_NETNS=NAME: listen on that lab address inside the lab's network namespace
#                     NAME instead (e.g. S3_NETNS=eamirror S3_LISTEN=10.88.0.200, the mirror host of lab/hosts.sh, so
#                     that lab hosts reach it); only 127.0.0.1 (default) or a 10.88.0.x address inside a netns.
#                     S3_TLS_CERT=FILE S3_TLS_KEY=FILE: serve HTTPS with that certificate (PEM) instead of HTTP.
#   stop              kill the PID in $S3_PID_FILE (only if that process is versitygw) and wait for it to exit.
#   status            say whether it runs (exit 1 if not).
# Example, signing with curl (7.88 does not send x-amz-content-sha256 by itself, and versitygw requires it: 400):
#   bash lab/s3-server.sh start /tmp/s3 9000
#   S3=(--aws-sigv4 aws:amz:us-east-1:s3 --user testkey:testsecret -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
#   curl "${S3[@]}" -X PUT http://127.0.0.1:9000/backups                  # create the bucket (DIR/backups/)
#   curl "${S3[@]}" -T snap.db http://127.0.0.1:9000/backups/snap.db      # put (DIR/backups/snap.db)
#   curl "${S3[@]}" -o got.db http://127.0.0.1:9000/backups/snap.db       # get
#   bash lab/s3-server.sh stop
# A wrong secret gets 403 SignatureDoesNotMatch, an unknown access key 404 XAdminUserNotFound, no signature 403.
# One server per PID file: give each its own S3_PID_FILE to run several.
set -euo pipefail
LAB_CACHE=${LAB_CACHE:-/var/cache/etcdadm-lab}
VERSION=${VERSITYGW_VERSION:-v1.8.0}
BIN=$LAB_CACHE/bin/versitygw
PID_FILE=${S3_PID_FILE:-/run/etcdadm-lab/s3-server.pid}
LOG=${PID_FILE%.pid}.log

usage() { echo "usage: $0 build | start DIR PORT | stop | status" >&2; exit 2; }

build() {
  if [ -x "$BIN" ] && [[ $("$BIN" --version 2>/dev/null) == *"Version  : $VERSION"* ]]; then return 0; fi
  command -v go >/dev/null || { echo "s3-server.sh: no 'go' on PATH (needed to build versitygw)" >&2; exit 1; }
  local start=$SECONDS
  echo "== versitygw $VERSION: building (go install, $(go env GOVERSION))" >&2
  mkdir -p "$LAB_CACHE/bin"
  # the -X values are what versitygw's Makefile sets (--version prints them)
  if ! env GOBIN="$LAB_CACHE/bin" GOMODCACHE="$LAB_CACHE/go/mod" GOCACHE="$LAB_CACHE/go/build" GOTOOLCHAIN=local \
       CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags "-X=main.Version=$VERSION -X=main.Build=go-module" \
       "github.com/versity/versitygw/cmd/versitygw@$VERSION" > "$LAB_CACHE/bin/versitygw.build.log" 2>&1; then
    grep -v '^go: downloading ' "$LAB_CACHE/bin/versitygw.build.log" | tail -30 >&2
    echo "s3-server.sh: building versitygw $VERSION failed; full log: $LAB_CACHE/bin/versitygw.build.log" >&2; exit 1
  fi
  echo "== versitygw $VERSION: built $BIN ($(du -h "$BIN" | cut -f1), $((SECONDS - start)) s)" >&2
}

running_pid() { # the PID in PID_FILE, if that process is alive and is versitygw
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$BIN")" ] && echo "$pid"
}

case ${1:-} in
  build)
    [ $# -eq 1 ] || usage
    build ;;
  start)
    [ $# -eq 3 ] || usage
    dir=$2 port=$3
    [[ $port =~ ^[0-9]+$ ]] || { echo "s3-server.sh: not a port: $port" >&2; exit 2; }
    if pid=$(running_pid); then echo "s3-server.sh: already running (PID $pid, $PID_FILE)" >&2; exit 1; fi
    build
    # versitygw refuses a sidecar dir whose path merely starts with the root's (/x/root.meta for /x/root), hence .meta-
    dir=$(realpath -m "$dir"); meta=$(realpath -m "${S3_META_DIR:-$(dirname "$dir")/.meta-$(basename "$dir")}")
    [[ $meta != "$dir"* ]] || { echo "s3-server.sh: the metadata dir $meta must not start with $dir" >&2; exit 2; }
    mkdir -p "$dir" "$meta" "$(dirname "$PID_FILE")"
    listen=${S3_LISTEN:-127.0.0.1} netns=${S3_NETNS:-}
    inns=()
    if [ -n "$netns" ]; then
      [[ $listen =~ ^10\.88\.0\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 253 ] \
        || { echo "s3-server.sh: inside a netns, S3_LISTEN must be a lab address 10.88.0.x, not $listen" >&2; exit 2; }
      ip netns list | grep -qw -- "$netns" || { echo "s3-server.sh: no network namespace $netns (bash lab/hosts.sh up N)" >&2; exit 1; }
      inns=(ip netns exec "$netns")
    elif [ "$listen" != 127.0.0.1 ]; then
      echo "s3-server.sh: S3_LISTEN=$listen needs S3_NETNS (a lab namespace); outside one only 127.0.0.1" >&2; exit 2
    fi
    url=http://$listen:$port tls=()
    if [ -n "${S3_TLS_CERT:-}" ]; then
      tls=(--cert "$(realpath "$S3_TLS_CERT")" --key "$(realpath "${S3_TLS_KEY:?S3_TLS_KEY with S3_TLS_CERT}")")
      url=https://$listen:$port
    fi
    # env -i: no VGW_* variable of the caller's changes the server
    ( cd / && exec "${inns[@]}" env -i PATH=/usr/bin:/bin ROOT_ACCESS_KEY="${S3_ACCESS_KEY:-testkey}" ROOT_SECRET_KEY="${S3_SECRET_KEY:-testsecret}" \
        setsid "$BIN" --port "$listen:$port" "${tls[@]}" posix --sidecar "$meta" "$dir" ) > "$LOG" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$PID_FILE"
    for _ in $(seq 100); do
      if ! kill -0 "$pid" 2>/dev/null; then
        cat "$LOG" >&2; rm -f "$PID_FILE"; echo "s3-server.sh: versitygw exited at start; log above ($LOG)" >&2; exit 1
      fi
      code=$("${inns[@]}" curl -sk -o /dev/null -m 1 -w '%{http_code}' "$url/" || true)
      if [ -n "$code" ] && [ "$code" != 000 ]; then
        echo "s3-server.sh: versitygw $VERSION serving $dir on $url (PID $pid, log $LOG)" >&2; exit 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true; rm -f "$PID_FILE"
    cat "$LOG" >&2; echo "s3-server.sh: versitygw did not answer on $url within 10 s" >&2; exit 1 ;;
  stop)
    [ $# -eq 1 ] || usage
    if pid=$(running_pid); then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
      echo "s3-server.sh: stopped PID $pid" >&2
    fi
    rm -f "$PID_FILE" ;;
  status)
    [ $# -eq 1 ] || usage
    if pid=$(running_pid); then echo "running: PID $pid ($PID_FILE, log $LOG)"; else echo "not running"; exit 1; fi ;;
  *) usage ;;
esac
