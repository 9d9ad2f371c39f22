#!/usr/bin/env bash
# build-wasm.sh: build the browser bindings (wasm/web, crate skupper-web) for
# wasm32-unknown-unknown and turn them into the ES module the JS package loads:
#   js/pkg/skupper_web.js, js/pkg/skupper_web.d.ts, js/pkg/skupper_web_bg.wasm
#
#   scripts/build-wasm.sh            size-optimised build (profile `web`; what the package and page ship)
#   scripts/build-wasm.sh --no-opt   skip wasm-opt (faster; bigger module)
#
# Toolchain: Debian rustc-web with -Zbuild-std (scripts/wasm-toolchain.sh install). Steps:
# cargo (Debian cargo + rustc, build-std) -> wasm-bindgen --target web (CLI version == crate pin)
# -> wasm-opt -Oz from npm binaryen (Debian's binaryen 108 breaks the externref table that
# wasm-bindgen emits). The module is not stripped: wasm-bindgen needs its target_features section.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/js/pkg
TARGET_DIR=${WEB_TARGET_DIR:-$ROOT/wasm/target}
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
optimize=1

say() { printf 'build-wasm: %s\n' "$*" >&2; }

for a in "$@"; do
  case $a in
    --no-opt) optimize=0 ;;
    *) say "usage: $0 [--no-opt]"; exit 2 ;;
  esac
done

"$ROOT/scripts/wasm-toolchain.sh" check quiet 2>/dev/null || {
  "$ROOT/scripts/wasm-toolchain.sh" check quiet || true
  say "the wasm toolchain is incomplete: run scripts/wasm-toolchain.sh install (as root), then retry"
  exit 1
}
eval "$("$ROOT/scripts/wasm-toolchain.sh" env)"

# Paths in panic locations would leak the build machine's layout into the module: remap them.
rustflags="--remap-path-prefix=$ROOT=/kubectl-skupper --remap-path-prefix=$CARGO_HOME=/cargo"
rustflags+=" --remap-path-prefix=/usr/lib/rustlib/src/rust=/rust"
# A panic is a bug (inputs never panic by design) and already aborts the module; immediate-abort
# drops the panic-message machinery with it (-6% gzipped). Unstable, like -Zbuild-std.
rustflags+=" -Zunstable-options -Cpanic=immediate-abort"

say "cargo build (wasm32-unknown-unknown, profile web, build-std)"
RUSTC=$WASM_RUSTC RUSTC_BOOTSTRAP=1 RUSTFLAGS=$rustflags CARGO_TARGET_DIR=$TARGET_DIR \
  "$WASM_CARGO" build --quiet --profile web --target wasm32-unknown-unknown \
  --manifest-path "$ROOT/wasm/Cargo.toml" -p skupper-web -Zbuild-std=std,panic_abort

built=$TARGET_DIR/wasm32-unknown-unknown/web/skupper_web.wasm
[ -f "$built" ] || { say "cargo finished but $built is missing"; exit 1; }

# Build into a temporary directory and move into place at the end: nothing half-written in js/pkg.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
say "wasm-bindgen $WASM_BINDGEN_VERSION --target web"
wasm-bindgen --target web --out-dir "$stage" --out-name skupper_web "$built"
if [ "$optimize" = 1 ]; then
  say "wasm-opt -Oz"
  "$WASM_OPT" -Oz --enable-reference-types --enable-multivalue --enable-bulk-memory \
    --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals \
    "$stage/skupper_web_bg.wasm" -o "$stage/skupper_web_bg.opt.wasm"
  mv "$stage/skupper_web_bg.opt.wasm" "$stage/skupper_web_bg.wasm"
fi
rm -rf "$OUT"
mkdir -p "$OUT"
cp "$stage"/skupper_web.js "$stage"/skupper_web.d.ts "$stage"/skupper_web_bg.wasm "$OUT"/
say "wrote $OUT ($(wc -c <"$OUT/skupper_web_bg.wasm") bytes of wasm)"
