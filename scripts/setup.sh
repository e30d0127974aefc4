#!/bin/bash
# setup.sh — everything a fresh Debian machine (root, Node 20, Go >= 1.26) needs to build etcdadm and run its tests and
# demo: Debian packages (openssh-server and sudo for the SSH Host tests, installed without starting the system's sshd),
# npm dependencies, the build, the executable and the .deb (what the e2e tests run), the local etcd release mirror,
# the S3 server of the backup tests (versitygw, built from its Go module once, about 4 min; then cached) and the
# lab's systemctl stand-in.
# Idempotent and quick once done; the first time, building etcd 3.5.35/3.6/3.7 for the mirror from Go modules takes
# about 6 min (lab/build-etcd.sh; its caches under /var/cache/etcdadm-lab keep later runs instant).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for c in ip:iproute2 openssl:openssl python3:python3 systemd-nspawn:systemd-container debootstrap:debootstrap \
         nsenter:util-linux curl:curl ss:iproute2 gzip:gzip strip:binutils dpkg-shlibdeps:dpkg-dev lintian:lintian \
         zsh:zsh fish:fish man:man-db ssh:openssh-client ssh-keygen:openssh-client /usr/sbin/sshd:openssh-server \
         sudo:sudo; do
  command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
if [ ! -s /usr/share/keyrings/debian-archive-keyring.gpg ]; then need+=(debian-archive-keyring); fi
if [ ${#need[@]} -gt 0 ] || ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  echo "== apt-get update"
  apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  # openssh-server is only for the SSH Host tests, which run their own sshd on 127.0.0.1: installing it must not
  # start the system's sshd on 0.0.0.0:22. A policy-rc.d answering 101 ("forbidden") keeps invoke-rc.d and
  # deb-systemd-invoke from starting it (one already there is left as it is); disabled after, so no boot starts it.
  (
    if [[ " ${need[*]} " == *" openssh-server "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
      printf '#!/bin/sh\n# scripts/setup.sh: no service starts while it installs packages\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  )
  if [[ " ${need[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null; then
    systemctl disable ssh.service >/dev/null 2>&1 || true
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== build"
npm run -s build
echo "== the executable and the .deb (scripts/dist.mjs)"
node scripts/dist.mjs >/dev/null 2>&1 || node scripts/dist.mjs

echo "== etcd release mirror (lab/release-mirror.sh)"
# its progress (and the Go builds' "== etcd vX.Y.Z: ..." lines) goes to stderr; stdout is only the mirror's file list
bash lab/release-mirror.sh >/dev/null

echo "== S3 server for the backup tests (lab/s3-server.sh build: versitygw, cached)"
bash lab/s3-server.sh build

# Prometheus's own rule checker for the monitoring rules test: promtool out of Debian's prometheus package, extracted
# (installing the package would start a Prometheus server on every address)
PROMTOOL_DIR=${PROMTOOL_DIR:-/var/cache/etcdadm-lab/promtool}
if [ ! -x "$PROMTOOL_DIR/x/usr/bin/promtool" ]; then
  echo "== promtool (Debian's prometheus package, extracted)"
  mkdir -p "$PROMTOOL_DIR"
  (cd "$PROMTOOL_DIR" && apt-get -qq -o APT::Sandbox::User=root download prometheus && dpkg-deb -x prometheus_*.deb x)
fi

# the daemonless systemctl the netns lab hosts use (downloaded once from Debian, not installed on this machine)
SHIM_DIR=${SHIM_DIR:-/var/cache/etcdadm-lab/systemctl-shim}
if [ ! -x "$SHIM_DIR/x/usr/bin/systemctl" ]; then
  echo "== systemctl stand-in for lab hosts"
  mkdir -p "$SHIM_DIR"
  (cd "$SHIM_DIR" && apt-get -qq -o APT::Sandbox::User=root download systemctl && dpkg-deb -x systemctl_*.deb x)
fi
