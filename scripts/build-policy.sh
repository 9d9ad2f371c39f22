#!/usr/bin/env bash
# build-policy.sh: build the Link admission policy module (wasm/policy, wasm32-wasip1) and
# install it as kubectl-plugin/assets/skupper-policy.wasm, the module `kubectl skupper webhook`
# embeds. The module is committed so a plain `cargo build` needs no wasm toolchain; this script
# is how it is (re)built, reproducibly.
#
#   scripts/build-policy.sh           build and install the module
#   scripts/build-policy.sh --check   build into a temporary file and compare with the committed
#                                     module: exit 0 same, 1 stale (re-run without --check)
#   scripts/build-policy.sh --probe   exit 0 if the wasm toolchain is installed, 3 if not
#
# Toolchain: Debian's rustc-web with -Zbuild-std (scripts/wasm-toolchain.sh install). Builds are
# reproducible: release profile of wasm/Cargo.toml, symbols stripped, no wasm-opt, paths trimmed
# and the checkout seen through a fixed path (see below), so the bytes do not depend on where the
# repository or CARGO_HOME live. Same rustc-web version => same bytes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
asset=$root/kubectl-plugin/assets/skupper-policy.wasm
target_dir=${POLICY_TARGET_DIR:-$root/wasm/target}
built=$target_dir/wasm32-wasip1/release/skupper_policy.wasm

say() { printf 'build-policy: %s\n' "$*" >&2; }

toolchain_ok() {
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -x /usr/bin/rust-lld ] &&
    [ -d /usr/lib/rustlib/src/rust/library/std ] &&
    [ -e /usr/lib/rustlib/wasm32-wasip1/lib/self-contained/libc.a ] &&
    /usr/bin/rustc --version 2>/dev/null | grep -q '^rustc 1\.9'
}

mode=${1:-install}
case $mode in
  --probe) toolchain_ok && exit 0 || exit 3 ;;
  --check | install) ;;
  *) echo "usage: $0 [--check|--probe]" >&2; exit 2 ;;
esac

toolchain_ok || {
  say "the wasm toolchain (Debian rustc-web 1.9x, rust-web-src, rust-lld, wasi-libc) is missing;"
  say "install it with: scripts/wasm-toolchain.sh install"
  exit 3
}

# Path independence. cargo's trim-paths (-Ztrim-paths) rewrites the absolute paths rustc embeds
# (workspace, registry, std sources). But core lies outside the wasm/ workspace, and cargo hashes
# such a path dependency's absolute path into its metadata, which decides function order in the
# output. So cargo always sees the sources at one fixed path, a symlink to this checkout, taken
# under a lock so two checkouts on one machine do not swap it under each other.
# -Cstrip=symbols: no `name` section (a third of the module); the host reports traps without
# wasm backtraces anyway.
link=/tmp/kubectl-skupper-policy-src
say "$(/usr/bin/rustc --version): cargo build --release --target wasm32-wasip1 -p skupper-policy"
locked=()
[ -f "$root/wasm/Cargo.lock" ] && locked=(--locked)
(
  flock 9
  ln -sfn "$root" "$link"
  # Debian cargo + rustc (rustup's proxies come first in PATH); RUSTC_BOOTSTRAP only here.
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cstrip=symbols" CARGO_TARGET_DIR="$target_dir" \
    CARGO_PROFILE_RELEASE_TRIM_PATHS=all \
    /usr/bin/cargo build --quiet --release "${locked[@]}" --manifest-path "$link/wasm/Cargo.toml" \
    --target wasm32-wasip1 -p skupper-policy -Zbuild-std=std,panic_abort -Ztrim-paths
) 9>"$link.lock"
[ -f "$built" ] || { say "cargo produced no $built"; exit 1; }

if [ "$mode" = --check ]; then
  if cmp -s "$built" "$asset"; then
    say "kubectl-plugin/assets/skupper-policy.wasm is up to date ($(wc -c <"$asset") bytes)"
    exit 0
  fi
  say "kubectl-plugin/assets/skupper-policy.wasm is stale: the policy sources (wasm/policy, core)"
  say "changed since it was built. Run scripts/build-policy.sh and commit the module."
  exit 1
fi
mkdir -p "$(dirname "$asset")"
install -m 0644 "$built" "$asset.tmp" && mv "$asset.tmp" "$asset"
sha=$(sha256sum "$asset" | cut -d' ' -f1)
say "installed kubectl-plugin/assets/skupper-policy.wasm ($(wc -c <"$asset") bytes, sha256 $sha)"
