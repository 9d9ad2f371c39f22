#!/usr/bin/env bash
# rust-toolchain.sh: make the toolchain that rust-toolchain.toml pins usable through rustup.
#
# rust-toolchain.toml names an exact release (channel = "1.95.0"); rustup then runs cargo, rustc,
# rustfmt and clippy from the toolchain of that name, and fails every cargo command with
# "toolchain '1.95.0-<host>' is not installed" when there is none. Our machines (developers' and
# CI's) have one rustup toolchain, `stable`, and cannot download another one. When that stable
# toolchain IS the pinned release, this script registers it under the pinned name as well (a
# link beside it in $RUSTUP_HOME/toolchains: `rustup toolchain link` refuses official names such
# as 1.95.0); when it is another release, it stops and says what to do. Idempotent: nothing
# changes, and nothing is downloaded, when the pinned toolchain is already there.
#
#   scripts/rust-toolchain.sh          ensure the pinned toolchain; print its rustc version
#
# The wasm crates do not use this toolchain: they are built with Debian's rustc-web called by
# full path (scripts/wasm-toolchain.sh), which is not a rustup proxy and ignores the file.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILE=$ROOT/rust-toolchain.toml

say() { printf 'rust-toolchain: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -f "$FILE" ] || die "$FILE is missing"
channel=$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' "$FILE" | head -n1)
[ -n "$channel" ] || die "no 'channel = \"X.Y.Z\"' line in rust-toolchain.toml"

if ! command -v rustup >/dev/null 2>&1; then
  # Without rustup nothing reads rust-toolchain.toml: check that the cargo in PATH is the pin.
  have=$(rustc --version 2>/dev/null || true)
  [[ $have == "rustc $channel "* ]] ||
    die "rustup is not installed and 'rustc --version' says '${have:-nothing}', not $channel: install rustup and Rust $channel"
  say "$have (no rustup: rust-toolchain.toml is not read; the rustc in PATH matches it)"
  exit 0
fi

# Everything below runs rustup with an explicit toolchain, from outside the repository, so the
# toolchain file itself (possibly not satisfiable yet) is not consulted.
cd /
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
host=$(rustup show 2>/dev/null | sed -n 's/^Default host: //p')
[ -n "$host" ] || die "cannot tell rustup's default host ('rustup show' prints no 'Default host:')"
pinned=$channel-$host

version_of() { rustup run "$1" rustc --version 2>/dev/null || true; }

if ! rustup toolchain list | grep -q "^$pinned\( \|$\)"; then
  # Which installed toolchain is the pinned release? (stable, normally.)
  found=""
  while read -r tc _; do
    [ -n "$tc" ] || continue
    if [[ $(version_of "$tc") == "rustc $channel "* ]]; then found=$tc; break; fi
  done < <(rustup toolchain list)
  if [ -z "$found" ]; then
    die "rust-toolchain.toml pins Rust $channel, which is not installed, and no installed toolchain \
($(rustup toolchain list | awk '{print $1}' | paste -sd, -)) is $channel. Install it (rustup toolchain install $channel \
--profile minimal -c rustfmt,clippy) or, if this machine's Rust is the project's new compiler, update channel in \
rust-toolchain.toml together with rust-version in Cargo.toml"
  fi
  src=$rustup_home/toolchains/$found
  [ -d "$src" ] || die "rustup lists $found but $src is not a directory"
  ln -sfn "$src" "$rustup_home/toolchains/$pinned"
  say "registered $found as $pinned (the same Rust $channel)"
fi

# The components the file asks for: rustup cannot add them to a toolchain registered this way.
for tool in rustfmt clippy-driver; do
  rustup run "$pinned" "$tool" --version >/dev/null 2>&1 ||
    die "$tool is missing from $pinned: rustup component add --toolchain $pinned ${tool%-driver}"
done
say "$(version_of "$pinned") with rustfmt and clippy"
