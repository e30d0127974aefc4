#!/bin/bash
# demo.sh — the main job on this machine, no outside infrastructure: installs what is missing, builds, builds the
# local etcd release mirror, brings up lab hosts (network namespaces, lab/hosts.sh), runs `etcdadm init` on the
# first against the mirror, and shows the member healthy. KEEP=1 leaves the lab up to explore
# (`LAB=/tmp/etcdadm-demo lab/hosts.sh on 1 /opt/bin/etcdctl.sh member list`); otherwise it is torn down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAB=${LAB:-/tmp/etcdadm-demo}
N=1
H="bash lab/hosts.sh"
$H down "$N" >/dev/null 2>&1 || true
rm -rf "$LAB"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then $H down "$N" >/dev/null 2>&1 || true; rm -rf "$LAB"; fi; }
trap cleanup EXIT
$H up "$N"
ETCDADM=$PWD/bin/etcdadm

echo; echo "== eahost1# etcdadm init --release-url http://10.88.0.200"
$H on 1 "$ETCDADM" init --release-url http://10.88.0.200

echo; echo "== eahost1# etcdctl.sh endpoint health"
$H on 1 /opt/bin/etcdctl.sh endpoint health
echo; echo "== eahost1# etcdctl.sh member list -w table"
$H on 1 /opt/bin/etcdctl.sh member list -w table
