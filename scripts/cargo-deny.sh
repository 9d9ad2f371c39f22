#!/usr/bin/env bash
# cargo-deny.sh: check the dependency trees against deny.toml (one crypto stack, licenses,
# sources, no unexplained duplicate versions), for the main workspace and for wasm/.
#
#   scripts/cargo-deny.sh            install cargo-deny if needed, then check both workspaces
#   scripts/cargo-deny.sh install    only install (or find) cargo-deny; print its path
#
# cargo-deny is installed from crates.io at a pinned version with `cargo install --locked`
# (its own lockfile), unoptimised, into a cache directory and reused from there: the first time
# 2 min 21 s on our 2-core machine while other builds shared the cores (124 s of CPU; a release
# build took 4.4 min of CPU, 6-7 min), afterwards nothing and no network. Its version must build with the pinned rustc (rust-toolchain.toml):
# cargo-deny 0.20.2 needs rustc 1.88. The checks themselves take ~2 s.
#
# Advisories are not checked: their database is a git repository on GitHub, which our machines
# and CI cannot reach (see deny.toml).
#
# Environment: CARGO_DENY_DIR (install root, default ~/.cache/kubectl-skupper/cargo-deny).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=0.20.2
DIR=${CARGO_DENY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-skupper/cargo-deny}
BIN=$DIR/bin/cargo-deny

say() { printf 'cargo-deny.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

installed_ok() { [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null || true)" = "cargo-deny $VERSION" ]; }

install() {
  installed_ok && return 0
  say "cargo install --locked cargo-deny $VERSION -> $DIR (several minutes, once)"
  local start=$SECONDS
  # From the repository: the pinned toolchain builds it. A temporary target directory (cargo
  # install's default) keeps the project's target/ untouched. --debug: an unoptimised build
  # takes half the CPU time of a release one (about 2 min instead of 4.4 on 2 cores) and the
  # checks still take ~2 s.
  (cd "$ROOT" && cargo install --quiet --locked --debug --force cargo-deny --version "$VERSION" --root "$DIR") ||
    die "installing cargo-deny $VERSION failed (output above); is crates.io reachable?"
  installed_ok || die "$BIN does not report cargo-deny $VERSION after the install"
  say "installed cargo-deny $VERSION in $((SECONDS - start)) s"
}

check() { # <label> <manifest> [cargo-deny options] [-- check options]
  local label=$1 manifest=$2
  shift 2
  say "$label: cargo deny check bans licenses sources"
  # --locked: check exactly the committed Cargo.lock. The same deny.toml for both workspaces.
  local global=() lints=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do global+=("$1"); shift; done
  [ $# -gt 0 ] && shift && lints=("$@")
  "$BIN" --manifest-path "$manifest" --config "$ROOT/deny.toml" --locked "${global[@]}" \
    check --hide-inclusion-graph "${lints[@]}" bans licenses sources
}

case ${1:-check} in
  install) install; printf '%s\n' "$BIN" ;;
  check)
    install
    check "main workspace" "$ROOT/Cargo.toml"
    # For the targets the wasm crates are built for (the policy module embedded in the plugin,
    # the browser module of js/), one at a time: cargo-deny takes a single --target.
    # deny.toml's duplicate skips and license list describe the main tree; in the much smaller
    # wasm tree most of them match nothing, which is fine: silence those three notices there.
    for t in wasm32-wasip1 wasm32-unknown-unknown; do
      check "wasm workspace ($t)" "$ROOT/wasm/Cargo.toml" --target "$t" -- \
        -A unmatched-skip -A unnecessary-skip -A license-not-encountered
    done
    ;;
  *) die "usage: $0 [install]" ;;
esac
