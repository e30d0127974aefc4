#!/bin/bash
# hosts.sh — a lab of N Linux "hosts" on one machine, for etcdadm's end-to-end tests and demo. Needs root.
#
#   hosts.sh up N            bridge eabr0 (10.88.0.254/24), hosts eahost1..N at 10.88.0.1..N (FAMILY=6: IPv6 only at
#                            fd00::1..N; FAMILY=dual: both), and a release mirror
#                            host "mirror" at 10.88.0.200:80 serving $MIRROR_DIR (see release-mirror.sh)
#   hosts.sh on I CMD...     run CMD on host I (its network, mount and UTS namespaces), cwd /root
#   hosts.sh down N          kill everything in the namespaces, delete netns/veths/bridge; keep $LAB/hostI dirs
#
# Each host has: its own network stack (lo + eth0) and hostname (eahostI, which etcdadm uses as the default member
# name), /etc/hosts naming every host, copy-on-write /etc /var /opt /usr/local /root (overlayfs: $LAB/hostI/etc.upper
# etc. hold exactly what was written on that host, readable from outside), and a private tmpfs /run.
# With SHIM=1 (default) Debian's daemonless 'systemctl' (docker-systemctl-replacement, a Python re-implementation
# that reads unit files and runs ExecStart itself) is bind-mounted over /usr/bin/systemctl inside each host, so
# daemon-reload / enable --now / is-active / is-enabled / stop / disable work. It does not restart a crashed
# service and does not apply Nice=. For real systemd as PID 1, see nspawn-hosts.sh.
# /tmp, /work and everything not listed above are shared with the real machine: use them to pass files in.
# Running `up` again with the same $LAB keeps each host's upper dirs: that emulates a reboot.
# Safety: addresses exist only inside this machine (no default route, no forwarding).
set -euo pipefail
LAB=${LAB:-/tmp/etcdadm-lab}
MIRROR_DIR=${MIRROR_DIR:-/var/cache/etcdadm-lab/mirror}
SHIM_DIR=${SHIM_DIR:-/var/cache/etcdadm-lab/systemctl-shim}
SHIM=${SHIM:-1}
ROUTE=${ROUTE:-0}   # 1: give each host an on-link default route (real hosts have one; nothing answers beyond the bridge)
FAMILY=${FAMILY:-4} # 4: hosts at 10.88.0.I; 6: IPv6 only, hosts at fd00::I/64; dual: both

netns_add() { # name ip vethname [ip6]
  ip netns add "$1"
  ip link add "$3" type veth peer name eth0 netns "$1"
  ip link set "$3" master eabr0 up
  [ -n "$2" ] && ip -n "$1" addr add "$2/24" dev eth0
  [ -n "${4:-}" ] && ip -n "$1" addr add "$4/64" dev eth0 nodad
  ip -n "$1" link set eth0 up
  ip -n "$1" link set lo up
}

ensure_shim() {
  [ -x "$SHIM_DIR/x/usr/bin/systemctl" ] && return 0
  mkdir -p "$SHIM_DIR"
  (cd "$SHIM_DIR" && apt-get -qq -o APT::Sandbox::User=root download systemctl && dpkg-deb -x systemctl_*.deb x)
}

host_up() { # i N
  local i=$1 N=$2 R=$LAB/host$1 hosts d j k
  local v4=10.88.0.$i v6=
  case "$FAMILY" in 6) v4= ; v6=fd00::$i;; dual) v6=fd00::$i;; esac
  netns_add "eahost$i" "$v4" "eaveth$i" "$v6"
  if [ "$ROUTE" = 1 ]; then
    [ -n "$v4" ] && ip -n "eahost$i" route add default dev eth0
    [ -n "$v6" ] && ip -n "eahost$i" -6 route add default dev eth0
  fi
  mkdir -p "$R"; rm -f "$R/holder.pid"
  for d in etc var opt usr-local root; do mkdir -p "$R/$d.upper" "$R/$d.work"; done
  hosts="127.0.0.1 localhost\n10.88.0.200 mirror\n"
  for j in $(seq 1 "$N"); do
    [ "$FAMILY" != 6 ] && hosts+="10.88.0.$j eahost$j\n"
    [ "$FAMILY" != 4 ] && hosts+="fd00::$j eahost$j\n"
  done
  # the holder: enters the netns, makes private mount + UTS namespaces, sets them up, then sleeps forever so that
  # later commands can join the same namespaces with nsenter.
  ip netns exec "eahost$i" unshare --mount --uts --propagation private -- sh -c '
    set -e; R='"$R"'; i='"$i"'
    hostname eahost$i
    for d in etc var opt root; do
      mount -t overlay overlay -o lowerdir=/$d,upperdir=$R/$d.upper,workdir=$R/$d.work /$d; done
    mount -t overlay overlay -o lowerdir=/usr/local,upperdir=$R/usr-local.upper,workdir=$R/usr-local.work /usr/local
    mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/lock /run/systemd /run/netns
    printf "'"$hosts"'" > /etc/hosts; echo eahost$i > /etc/hostname
    if [ '"$SHIM"' = 1 ]; then mount --bind '"$SHIM_DIR"'/x/usr/bin/systemctl /usr/bin/systemctl; fi
    echo $$ > $R/holder.pid
    exec sleep infinity' > "$R/holder.log" 2>&1 < /dev/null &
  for k in $(seq 100); do
    [ -s "$R/holder.pid" ] && [ "$(cat "/proc/$(cat "$R/holder.pid")/comm" 2>/dev/null)" = sleep ] && return 0; sleep 0.02; done
  echo "host $i failed to come up:"; cat "$R/holder.log"; return 1
}

on() { # i cmd...
  local i=$1 H; shift; H=$(cat "$LAB/host$i/holder.pid")
  exec nsenter --net="/run/netns/eahost$i" --mount="/proc/$H/ns/mnt" --uts="/proc/$H/ns/uts" --wd=/root -- "$@"
}

up() {
  local N=${1:-3} i k
  [ "$SHIM" = 1 ] && ensure_shim
  mkdir -p "$LAB"
  if ! ip link show eabr0 >/dev/null 2>&1; then
    ip link add eabr0 type bridge; ip addr add 10.88.0.254/24 dev eabr0; ip link set eabr0 up
  fi
  [ "$FAMILY" != 4 ] && { ip addr add fd00::fe/64 dev eabr0 nodad 2>/dev/null || true; }
  for i in $(seq 1 "$N"); do host_up "$i" "$N"; done
  netns_add eamirror 10.88.0.200 eavethm
  if [ -d "$MIRROR_DIR" ]; then
    ip netns exec eamirror setsid /usr/bin/python3 -m http.server 80 --bind 10.88.0.200 --directory "$MIRROR_DIR" \
      > "$LAB/mirror.log" 2>&1 < /dev/null &
    for k in $(seq 100); do ip netns exec eamirror bash -c 'exec 3<>/dev/tcp/10.88.0.200/80' 2>/dev/null && break; sleep 0.05; done
  fi
}

down() {
  local N=${1:-3} ns p i
  for ns in $(for i in $(seq 1 "$N"); do echo "eahost$i"; done) eamirror; do
    ip netns list | grep -qw "$ns" || continue
    for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null || true; done
  done
  sleep 0.3   # the overlay mounts go away with the last process of each mount namespace
  for ns in $(for i in $(seq 1 "$N"); do echo "eahost$i"; done) eamirror; do ip netns del "$ns" 2>/dev/null || true; done
  for i in $(seq 1 "$N"); do ip link del "eaveth$i" 2>/dev/null || true; done
  ip link del eavethm 2>/dev/null || true
  ip link del eabr0 2>/dev/null || true
}

cmd=${1:?usage: hosts.sh up N | on I CMD... | down N}; shift
case $cmd in up) up "$@";; on) on "$@";; down) down "$@";; *) echo "unknown $cmd"; exit 2;; esac
