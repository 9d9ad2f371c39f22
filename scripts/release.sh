#!/usr/bin/env bash
# Build the release archives of kubectl-skupper and render krew-manifest.yaml from
# packaging/krew/skupper.yaml.tmpl with each archive's real sha256.
#
# Only platforms whose archive was really built here are listed: no placeholder checksums.
# Archives are reproducible (sorted entries, fixed owner and mtime, gzip without a timestamp):
# packaging the same binary again gives the same sha256.
# Usage:
#   scripts/release.sh                      # release build for the host (linux/amd64), writes dist/ and krew-manifest.yaml
#   scripts/release.sh --binary PATH --out DIR [--manifest FILE] [--image]
#                                           # package an already-built binary for the host platform (used by the tests)
# Env: VERSION (default: the workspace version with a leading v), URL_BASE (default: the
# GitHub release download URL of that version), GZIP_LEVEL (1-9, default 9; the tests use 1).
# Other platforms (linux/arm64) are built only when their Rust target and linker are installed.
# The OCI image of the controller and webhook (scripts/image.sh, linux/amd64) is built beside the
# archives and listed in SHA256SUMS: always for a release build (--no-image to skip it), with
# --binary only when --image is given.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
binary=""
manifest=krew-manifest.yaml
image=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --manifest) manifest=$2; shift 2 ;;
    --image) image=1; shift ;;
    --no-image) image=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

version=${VERSION:-v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "release.sh: version $version is not semver with a leading v" >&2; exit 2; }
level=${GZIP_LEVEL:-9}
[[ "$level" =~ ^[1-9]$ ]] || { echo "release.sh: GZIP_LEVEL $level is not 1-9" >&2; exit 2; }
homepage=$(sed -n 's/^repository = "\(.*\)"/\1/p' Cargo.toml | head -n1)
url_base=${URL_BASE:-$homepage/releases/download/$version}
mkdir -p "$out"
rm -f "$out/SHA256SUMS.tmp"

# os/arch (krew selector) -> rust target triple. Only targets this machine can build are attempted.
declare -A triples=([linux/amd64]=x86_64-unknown-linux-gnu [linux/arm64]=aarch64-unknown-linux-gnu)
host_triple=$(rustc -vV | sed -n 's/^host: //p')
installed_targets=$(rustup target list --installed 2>/dev/null || echo "$host_triple")

platforms=""
for sel in linux/amd64 linux/arm64; do
  os=${sel%/*} arch=${sel#*/} triple=${triples[$sel]}
  if [ -n "$binary" ]; then
    [ "$triple" = "$host_triple" ] || continue
    bin=$binary
  else
    if ! grep -qx "$triple" <<<"$installed_targets"; then
      echo "release.sh: skipping $sel: rust target $triple is not installed here" >&2
      continue
    fi
    if [ "$triple" != "$host_triple" ] && ! command -v "${triple%%-*}-linux-gnu-gcc" >/dev/null; then
      echo "release.sh: skipping $sel: no linker for $triple" >&2
      continue
    fi
    echo "release.sh: building $triple" >&2
    RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$PWD=. --remap-path-prefix=$HOME=~" \
      cargo build --release --locked -p kubectl-skupper --target "$triple" >&2
    bin=${CARGO_TARGET_DIR:-target}/$triple/release/kubectl-skupper
  fi
  [ -x "$bin" ] || { echo "release.sh: $bin is not an executable" >&2; exit 1; }
  if [ "$triple" = "$host_triple" ]; then
    # Smoke test: what goes into the archive runs and reports this version.
    "$bin" version >/dev/null || { echo "release.sh: $bin version failed" >&2; exit 1; }
    [ "$("$bin" --version)" = "kubectl-skupper ${version#v}" ] || [ -n "${VERSION:-}" ] \
      || { echo "release.sh: $bin --version is not ${version#v}" >&2; exit 1; }
  fi
  name=kubectl-skupper_${version}_${os}_${arch}.tar.gz
  stage=$(mktemp -d)
  cp "$bin" "$stage/kubectl-skupper"
  # The release profile keeps line tables for profiling; users get the binary without them
  # (about a third of the size). strip is deterministic, so archives stay reproducible.
  if command -v strip >/dev/null; then strip --strip-debug "$stage/kubectl-skupper"; fi
  cp LICENSE README.md "$stage/"
  # Reproducible archive: fixed order, owner and mtime; gzip without a timestamp.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf - kubectl-skupper LICENSE README.md \
    | gzip "-${level}n" > "$out/$name"
  rm -rf "$stage"
  sum=$(sha256sum "$out/$name" | cut -d' ' -f1)
  echo "$sum  $name" >> "$out/SHA256SUMS.tmp"
  if [ "$sel" = linux/amd64 ] && [ "$triple" = "$host_triple" ] && [ "${image:-$([ -z "$binary" ] && echo 1 || echo 0)}" = 1 ]; then
    # The same binary as the archive's (image.sh strips it the same way), same version.
    image_out=$(VERSION=$version scripts/image.sh --binary "$bin" --out "$out") \
      || { echo "release.sh: building the OCI image failed (scripts/image.sh; --no-image skips it)" >&2; exit 1; }
    image_file=$(sed -n 1p <<<"$image_out")
    echo "$(sha256sum "$image_file" | cut -d' ' -f1)  $(basename "$image_file")" >> "$out/SHA256SUMS.tmp"
    echo "release.sh: image $(sed -n 2p <<<"$image_out") in $image_file" >&2
  fi
  platforms+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $url_base/$name
    sha256: \"$sum\"
    files:
    - from: kubectl-skupper
      to: .
    - from: LICENSE
      to: .
    bin: kubectl-skupper
"
done
[ -n "$platforms" ] || { echo "release.sh: no platform was built" >&2; exit 1; }
sort -k2 "$out/SHA256SUMS.tmp" > "$out/SHA256SUMS" && rm -f "$out/SHA256SUMS.tmp"

tmp=$(mktemp)
while IFS= read -r line; do
  case "$line" in
    @PLATFORMS@) printf '%s' "$platforms" ;;
    *) line=${line//@VERSION@/$version}; line=${line//@HOMEPAGE@/$homepage}; printf '%s\n' "$line" ;;
  esac
done < packaging/krew/skupper.yaml.tmpl > "$tmp"
mv "$tmp" "$manifest"
echo "release.sh: wrote $manifest and $(wc -l < "$out/SHA256SUMS") archive(s) in $out" >&2
