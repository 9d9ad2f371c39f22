#!/usr/bin/env bash
# Build the OCI image of kubectl-skupper without a container engine, with Debian's umoci:
# the binary at /kubectl-skupper plus exactly the shared libraries it loads (read with ldd),
# /etc/passwd and /etc/group naming the non-root user 65532, an empty /tmp; entrypoint the
# binary, user 65532:65532, OCI labels. Written as an oci-archive (a tar of an OCI image layout,
# what `skopeo copy oci-archive:FILE docker://REGISTRY/...` pushes):
#   DIR/kubectl-skupper_<version>_linux_amd64.oci.tar
#
# Reproducible: every file mtime, the layer's, the config's `created` and every history entry are
# SOURCE_DATE_EPOCH (default: the last commit's time), the archive is written with sorted names and
# fixed owners, so the same binary gives the same image digest and the same archive bytes.
#
# Usage:
#   scripts/image.sh                         # release build (cargo build --release), writes dist/
#   scripts/image.sh --binary PATH --out DIR # an already-built binary (the tests use the debug one)
# Env: VERSION (default: the workspace version with a leading v), SOURCE_DATE_EPOCH, REVISION
# (default: git rev-parse HEAD), STRIP (default 1: strip the binary's debug info, as release.sh).
# Prints the archive's path and the image digest (sha256 of the manifest) on stdout.
# Exit codes: 0 built; 3 umoci is missing and cannot be installed here; 1 anything else.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'image.sh: %s\n' "$*" >&2; }

if ! command -v umoci >/dev/null; then
  [ "$(id -u)" = 0 ] || { say "umoci is missing (apt package umoci) and installing it needs root"; exit 3; }
  say "installing umoci"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends umoci >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends umoci >/dev/null; }; } \
    || { say "cannot install umoci with apt-get"; exit 3; }
fi

version=${VERSION:-v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { say "version $version is not semver with a leading v"; exit 2; }
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
[[ "$epoch" =~ ^[0-9]+$ ]] || { say "SOURCE_DATE_EPOCH $epoch is not a number of seconds"; exit 2; }
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
source_url=$(sed -n 's/^repository = "\(.*\)"/\1/p' Cargo.toml | head -n1)
licenses=$(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -n1)

arch=$(uname -m)
[ "$arch" = x86_64 ] || { say "only linux/amd64 images are built (this host is $arch)"; exit 1; }
if [ -z "$binary" ]; then
  say "building the release binary"
  RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$PWD=. --remap-path-prefix=$HOME=~" \
    cargo build --release --locked -p kubectl-skupper >&2
  binary=${CARGO_TARGET_DIR:-target}/release/kubectl-skupper
fi
[ -x "$binary" ] || { say "$binary is not an executable"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=kubectl-skupper_${version}_linux_amd64.oci.tar
tag=${version#v}

umoci init --layout "$work/oci"
umoci new --image "$work/oci:$tag"
unpack_opts=()
[ "$(id -u)" = 0 ] || unpack_opts=(--rootless)
umoci unpack "${unpack_opts[@]}" --image "$work/oci:$tag" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs

# The binary, without debug info unless STRIP=0 (strip is deterministic).
install -m 0755 "$binary" "$rootfs/kubectl-skupper"
if [ "${STRIP:-1}" = 1 ] && command -v strip >/dev/null; then strip --strip-debug "$rootfs/kubectl-skupper"; fi

# Exactly the libraries the dynamic loader maps for it, at the paths ldd names (the loader at
# the binary's PT_INTERP path). A static binary has none.
libs=$(ldd "$rootfs/kubectl-skupper" 2>/dev/null | sed -n 's/^[^/]*\(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' | sort -u) || true
if ldd "$rootfs/kubectl-skupper" 2>&1 | grep -q 'not found'; then
  say "the binary needs libraries this host lacks:"; ldd "$rootfs/kubectl-skupper" >&2; exit 1
fi
for lib in $libs; do
  install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done

# The user the pod runs as (runAsUser 65532 in the controller manifest) and an empty /tmp.
install -d -m 0755 "$rootfs/etc"
printf 'root:x:0:0:root:/root:/sbin/nologin\nskupper:x:65532:65532:skupper:/tmp:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nskupper:x:65532:\n' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
install -d -m 1777 "$rootfs/tmp"
chmod 0755 "$rootfs"

# Reproducible layer: one owner, one mtime, no extended attributes.
if [ "$(id -u)" = 0 ]; then chown -R -h 0:0 "$rootfs"; fi
find "$rootfs" -exec setfattr -h -x security.selinux {} + 2>/dev/null || true
find "$rootfs" -depth -exec touch -h -d "@$epoch" {} +

history=(--history.created "$created" --history.created_by "scripts/image.sh $version" --history.author "kubectl-skupper")
umoci repack "${history[@]}" --image "$work/oci:$tag" "$work/bundle" >/dev/null
label() { printf -- '--config.label=org.opencontainers.image.%s=%s\n' "$1" "$2"; }
mapfile -t labels < <(
  label title kubectl-skupper
  label description "kubectl skupper: the Skupper site controller and admission webhook"
  label version "${version#v}"
  label source "$source_url"
  label licenses "$licenses"
  label revision "$revision"
  label created "$created"
)
umoci config --image "$work/oci:$tag" --no-history \
  --created "$created" --author kubectl-skupper --os linux --architecture amd64 \
  --config.user 65532:65532 --config.workingdir / \
  --config.entrypoint /kubectl-skupper --clear config.cmd \
  --config.env PATH=/ \
  "${labels[@]}" >/dev/null
# Drop what umoci new/repack/config left behind (old configs and manifests).
umoci gc --layout "$work/oci"

# The oci-archive: the layout as a tar, sorted, one owner and mtime.
mkdir -p "$out"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode=a+rX,u+w --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work/oci" -cf "$out/$name.tmp" .
mv "$out/$name.tmp" "$out/$name"

manifest=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$work/oci/index.json" | head -n1 | cut -d'"' -f4)
size=$(stat -c %s "$out/$name")
say "wrote $out/$name ($size bytes, image $manifest, created $created)"
printf '%s\n%s\n' "$out/$name" "$manifest"
