#!/bin/bash
# deb.sh VERSION EPOCH — dist/etcdadm_VERSION_amd64.deb from what scripts/dist.mjs made (the executable, the man
# pages and completion scripts in build/dist), with Debian's own tools: dpkg-shlibdeps for Depends, dpkg-deb to
# build. Reproducible: every file's mtime is EPOCH (the commit's date), gzip -n, root:root, sorted by dpkg-deb.
# What it installs: /usr/bin/etcdadm, a man page per command, bash/zsh/fish completions, README, copyright,
# changelog. Lintian's findings and the overrides' reasons: scripts/lintian-overrides.
set -euo pipefail
VERSION=$1 EPOCH=$2
cd "$(dirname "$0")/.."
W=build/dist/deb
R=$W/root
rm -rf "$W"
mkdir -p "$R/DEBIAN" "$R/usr/bin" "$R/usr/share/man/man1" "$R/usr/share/doc/etcdadm" "$R/usr/share/lintian/overrides" \
  "$R/usr/share/bash-completion/completions" "$R/usr/share/zsh/vendor-completions" "$R/usr/share/fish/vendor_completions.d"

install -m 0755 dist/etcdadm-linux-amd64 "$R/usr/bin/etcdadm"
for m in build/dist/man/*.1; do gzip -9n < "$m" > "$R/usr/share/man/man1/$(basename "$m").gz"; done
install -m 0644 build/dist/completion/etcdadm.bash "$R/usr/share/bash-completion/completions/etcdadm"
install -m 0644 build/dist/completion/etcdadm.zsh "$R/usr/share/zsh/vendor-completions/_etcdadm"
install -m 0644 build/dist/completion/etcdadm.fish "$R/usr/share/fish/vendor_completions.d/etcdadm.fish"
install -m 0644 README.md "$R/usr/share/doc/etcdadm/README.md"
install -d -m 0755 "$R/usr/share/doc/etcdadm/docs"
install -m 0644 docs/*.md "$R/usr/share/doc/etcdadm/docs/"
install -m 0644 scripts/lintian-overrides "$R/usr/share/lintian/overrides/etcdadm"

date=$(date -u -R -d "@$EPOCH")
cat > "$R/usr/share/doc/etcdadm/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: etcdadm
Source: https://github.com/kubernetes-sigs/etcdadm

Files: *
Copyright: 2018-2026 etcdadm maintainers
License: Apache-2.0

Files: usr/bin/etcdadm
Copyright: 2018-2026 etcdadm maintainers; Node.js contributors and the projects it bundles (embedded runtime)
License: Apache-2.0 and Expat
Comment: /usr/bin/etcdadm is a Node.js single executable application: the Node.js $(node -p process.version)
 runtime (MIT, with the licences of the libraries it bundles: OpenSSL Apache-2.0, zlib, libuv, V8 BSD-3-Clause …)
 carrying etcdadm's code and the npm libraries it uses (commander, yaml, valibot, @peculiar/x509, asn1js, tar,
 @connectrpc/connect, @bufbuild/protobuf, aws4: MIT, Apache-2.0, BSD, ISC).

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in compliance
 with the License. You may obtain a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can be found in
 "/usr/share/common-licenses/Apache-2.0".

License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
 documentation files (the "Software"), to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
 to permit persons to whom the Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or substantial portions
 of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
 THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
 CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
 IN THE SOFTWARE.
EOF
printf 'etcdadm (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- etcdadm maintainers <maintainers@etcdadm.invalid>  %s\n' \
  "$VERSION" "$VERSION" "$date" | gzip -9n > "$R/usr/share/doc/etcdadm/changelog.gz"

# Depends from the executable's shared libraries, as Debian computes them
mkdir -p "$W/src/debian"
printf 'Source: etcdadm\n\nPackage: etcdadm\nArchitecture: amd64\n' > "$W/src/debian/control"
depends=$(cd "$W/src" && dpkg-shlibdeps -O "../root/usr/bin/etcdadm" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
cat > "$R/DEBIAN/control" <<EOF
Package: etcdadm
Version: $VERSION
Architecture: amd64
Maintainer: etcdadm maintainers <maintainers@etcdadm.invalid>
Installed-Size: $size
Depends: $depends
Recommends: systemd
Section: admin
Priority: optional
Homepage: https://github.com/kubernetes-sigs/etcdadm
Description: create and operate TLS-secured etcd clusters on Linux hosts
 etcdadm turns bare Linux hosts into a TLS-secured etcd cluster and operates it
 for its whole life: init, join and reset; status and members; rolling upgrades
 and downgrades of etcd; snapshots, scheduled backups (also to S3), restore and
 quorum-loss recovery; certificate renewal and CA rotation.
 .
 One self-contained executable: no language runtime to install.
EOF
(cd "$R" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$R/DEBIAN/md5sums"
chmod 0644 "$R/DEBIAN/control" "$R/DEBIAN/md5sums"
find "$R" -type d -exec chmod 0755 {} +
find "$R" -exec touch -h -d "@$EPOCH" {} +
SOURCE_DATE_EPOCH=$EPOCH dpkg-deb --root-owner-group -Zxz --build "$R" "dist/etcdadm_${VERSION}_amd64.deb" >/dev/null
