#!/bin/bash
# demo.sh — the main job on this machine, no outside infrastructure: installs what is missing, builds, builds the
# local etcd release mirror, brings up 3 lab hosts (network namespaces, lab/hosts.sh), runs `etcdadm init` on the
# first against the mirror, copies the CA to the others as a user would, joins them, and prints the member list and
# health. KEEP=1 leaves the lab up to explore (`LAB=/tmp/etcdadm-demo lab/hosts.sh on 1 /opt/bin/etcdctl.sh member
# list`); otherwise it is torn down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LAB=${LAB:-/tmp/etcdadm-demo}
N=3
H="bash lab/hosts.sh"
$H down "$N" >/dev/null 2>&1 || true
rm -rf "$LAB"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then $H down "$N" >/dev/null 2>&1 || true; rm -rf "$LAB"; fi; }
trap cleanup EXIT
$H up "$N"
ETCDADM=$PWD/dist/etcdadm-linux-amd64   # the shipped executable (scripts/setup.sh makes it)

echo; echo "== eahost1# etcdadm init --release-url http://10.88.0.200 --insecure-release-url"
$H on 1 "$ETCDADM" init --release-url http://10.88.0.200 --insecure-release-url

for i in 2 3; do
  echo; echo "== eahost1# rsync -avR /etc/etcd/pki/ca.* eahost$i:/     (here: through a shared temp dir)"
  x=$(mktemp -d); $H on 1 cp -p /etc/etcd/pki/ca.crt /etc/etcd/pki/ca.key "$x/"
  $H on "$i" sh -c "mkdir -p -m 700 /etc/etcd/pki && cp -p $x/ca.* /etc/etcd/pki/"; rm -rf "$x"
  echo; echo "== eahost$i# etcdadm join https://10.88.0.1:2379 --release-url http://10.88.0.200 --insecure-release-url"
  $H on "$i" "$ETCDADM" join https://10.88.0.1:2379 --release-url http://10.88.0.200 --insecure-release-url
done

echo; echo "== eahost3# etcdctl.sh member list -w table"
$H on 3 /opt/bin/etcdctl.sh member list -w table
echo; echo "== eahost3# etcdctl.sh endpoint health --cluster"
$H on 3 /opt/bin/etcdctl.sh endpoint health --cluster
echo; echo "== eahost2# etcdadm info -o table"
$H on 2 "$ETCDADM" info -o table
