#!/usr/bin/env bash
# Generate the TypeScript for proto/**.proto into src/etcd/gen/ with protoc + protoc-gen-es (v2).
# The output is committed, so that building etcdadm needs no protoc. It is deterministic: the same protoc and
# protoc-gen-es versions always give byte-identical files (the output dir is wiped and files are fed in sorted order).
# Usage: bash scripts/gen-proto.sh   (from anywhere; needs protoc on PATH or $PROTOC, and `npm ci` done)
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

protoc="${PROTOC:-$(command -v protoc || true)}"
plugin="$root/node_modules/.bin/protoc-gen-es"
out="src/etcd/gen"

if [[ -z "$protoc" || ! -x "$protoc" ]]; then
  echo "gen-proto: protoc not found (apt-get install protobuf-compiler, or set PROTOC)" >&2
  exit 1
fi
if [[ ! -x "$plugin" ]]; then
  echo "gen-proto: $plugin not found (run npm ci first)" >&2
  exit 1
fi

mapfile -t protos < <(cd proto && find . -name '*.proto' -printf '%P\n' | sort)
if [[ ${#protos[@]} -eq 0 ]]; then
  echo "gen-proto: no .proto files under proto/" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out"
"$protoc" \
  --proto_path=proto \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$out" \
  --es_opt=target=ts,import_extension=js \
  "${protos[@]}"

echo "gen-proto: $("$protoc" --version), $("$plugin" --version): wrote $(cd "$out" && find . -name '*.ts' | sort | tr '\n' ' ')"
