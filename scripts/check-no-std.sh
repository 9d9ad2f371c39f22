#!/usr/bin/env bash
# Proves that skupper-core is `no_std` + alloc: builds it for x86_64-unknown-none, a target that
# has no `std` at all, so any dependency (or feature) that pulls in std fails the build.
#
# rustup cannot download standard libraries for extra targets on our machines, so this uses
# Debian's rustc-web with RUSTC_BOOTSTRAP=1 and -Zbuild-std=core,alloc over rust-web-src
# (see shared reference wasm-pipeline.md). The build goes to its own target dir so it never
# disturbs the normal (rustup stable) builds in target/.
#
#   scripts/check-no-std.sh            install the toolchain if missing, then build
#   NO_STD_TARGET=thumbv7em-none-eabi scripts/check-no-std.sh   another std-less target
#
# Exit status: 0 when core builds without std, non-zero otherwise (the compiler says which
# crate needed std).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${NO_STD_TARGET:-x86_64-unknown-none}
TARGET_DIR=${NO_STD_TARGET_DIR:-$ROOT/target/no-std}
APT_PACKAGES=(rustc-web cargo-web rust-web-src)

say() { printf 'check-no-std: %s\n' "$*" >&2; }

installed() {
  local s
  s=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [ "$s" = installed ]
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root to run: $*"; exit 1; fi
}

install_toolchain() {
  if [ -f "$ROOT/scripts/wasm-toolchain.sh" ]; then
    # The project's installer: idempotent, no network when everything is present.
    bash "$ROOT/scripts/wasm-toolchain.sh" install >&2
    return
  fi
  local missing=() p policy
  for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  # Capture first: `apt-cache policy | grep -q` can fail spuriously under pipefail.
  policy=$(apt-cache policy rustc-web 2>/dev/null || true)
  if [[ "$policy" != *"Candidate: 1.9"* ]]; then
    if ! grep -rqs bookworm-security /etc/apt/sources.list /etc/apt/sources.list.d/; then
      say "adding the bookworm-security apt source (rustc-web 1.9x lives there)"
      echo "deb http://deb.debian.org/debian-security bookworm-security main" |
        as_root tee /etc/apt/sources.list.d/bookworm-security.list >/dev/null
    fi
    say "apt-get update"
    as_root apt-get update -qq
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_toolchain
for f in /usr/bin/rustc /usr/bin/cargo; do
  [ -x "$f" ] || { say "$f is missing: install rustc-web and cargo-web"; exit 1; }
done
[ -d /usr/lib/rustlib/src/rust/library/alloc ] || { say "rust sources missing: install rust-web-src"; exit 1; }

say "$(/usr/bin/rustc --version); building skupper-core for $TARGET (core + alloc only) into $TARGET_DIR"
# Debian's cargo by full path (rustup's proxies come first in PATH) with Debian's rustc.
cd "$ROOT"
# Twice: as the policy module and the browser use it, and with the JSON schemas the CRDs are
# generated from (feature `schema`).
for features in "" schema; do
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build \
    -p skupper-core \
    --lib \
    ${features:+--features "$features"} \
    --target "$TARGET" \
    -Zbuild-std=core,alloc \
    --target-dir "$TARGET_DIR"
  say "ok: skupper-core${features:+ (features: $features)} builds for $TARGET without std"
done
