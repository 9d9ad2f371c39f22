#!/usr/bin/env bash
# kube-apiserver-build.sh: install a real kube-apiserver (v1.20.2) and etcd for the webhook's
# end-to-end tests, from Debian packages only.
#
# Debian ships no kube-apiserver binary, but bookworm's `kubernetes` SOURCE package (the one
# Debian builds kubectl from) holds the whole upstream 1.20.2 tree with vendor/. We build
# cmd/kube-apiserver from it with Debian's Go 1.19; etcd is Debian's `etcd-server` (3.4).
# Nothing comes from GitHub or the Go proxy.
#
#   scripts/kube-apiserver-build.sh          build if missing, print the binary's path
#   scripts/kube-apiserver-build.sh path     print where the binary is (or would be); no build
#
# Needs root for apt. The binary is cached in $KUBE_APISERVER_DIR (default
# ~/.cache/kubectl-skupper/kube-apiserver-v1.20.2); a second run returns at once.
# Takes ~4 min and ~1 GB of RAM on 2 cores the first time.
set -euo pipefail

version=1.20.2
out_dir=${KUBE_APISERVER_DIR:-${HOME}/.cache/kubectl-skupper/kube-apiserver-v${version}}
bin="${out_dir}/kube-apiserver"

log() { printf 'kube-apiserver-build: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [ "${1:-}" = path ]; then echo "$bin"; exit 0; fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
[ "$(id -u)" = 0 ] || die "needs root (apt-get); run it as root or set KUBE_APISERVER_DIR to a prebuilt binary's directory"
export DEBIAN_FRONTEND=noninteractive

# apt only knows binary packages out of the box: add source entries for the same suites.
src_list=/etc/apt/sources.list.d/kubectl-skupper-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  log "adding deb-src entries for bookworm to ${src_list}"
  cat > "$src_list" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi

# rsync: the Kubernetes makefiles copy generated files with it.
needed=(golang-1.19-go etcd-server golang-github-modern-go-reflect2-dev make rsync openssl curl ca-certificates)
log "apt-get update + install ${needed[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null

work=$(mktemp -d /tmp/kube-apiserver-build.XXXXXX)
# Deleting 27k files takes a while on a busy box: do it in the background.
cleanup() { (rm -rf "$work" &) ; }
trap cleanup EXIT

cd "$work"
log "fetching the kubernetes source package into ${work}"
apt-get source --download-only kubernetes >/dev/null 2>&1 || die "apt-get source kubernetes failed (is deb.debian.org reachable?)"
orig=$(find . -maxdepth 1 -name "kubernetes_*.orig.tar.gz" | head -n1)
[ -n "$orig" ] || die "no kubernetes_*.orig.tar.gz was downloaded"
tar xzf "$orig"
tree=$(find "$work" -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[ -d "$tree/cmd/kube-apiserver" ] || die "the source package has no cmd/kube-apiserver (not bookworm's 1.20.2?)"

# Go >= 1.18 makes the vendored reflect2 1.0.1 crash the apiserver on the first custom
# resource write (json-iterator map encoder); Debian's reflect2 1.0.2 has the same API.
rm -rf "$tree/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"

export PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 GOCACHE="$work/gocache" GOFLAGS=
# The OpenAPI definitions are generated at build time and are not in the tarball.
log "generating OpenAPI definitions"
(cd "$tree" && make gen_openapi >/dev/null)

# Module mode wants go.mod updates it cannot fetch: build in GOPATH mode like debian/rules.
mkdir -p "$work/gopath/src/k8s.io"
ln -s "$tree" "$work/gopath/src/k8s.io/kubernetes"
ldflags="-s -w"
for pkg in component-base/version client-go/pkg/version; do
  for kv in gitVersion=v${version} gitMajor=1 gitMinor=20 gitTreeState=clean; do
    ldflags+=" -X k8s.io/kubernetes/vendor/k8s.io/${pkg}.${kv}"
  done
done
mkdir -p "$out_dir"
log "go build ./cmd/kube-apiserver (a few minutes)"
(cd "$work/gopath/src/k8s.io/kubernetes" && GO111MODULE=off GOPATH="$work/gopath" \
  go build -tags providerless -trimpath -ldflags "$ldflags" -o "$bin.tmp" ./cmd/kube-apiserver)
mv "$bin.tmp" "$bin"
"$bin" --version >&2
echo "$bin"
