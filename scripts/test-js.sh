#!/usr/bin/env bash
# test-js.sh: the browser-side token inspection, end to end, in one command from a fresh clone:
#   1. toolchain: scripts/wasm-toolchain.sh install --chromium (no-op when present; apt needs root)
#   2. npm dependencies of js/ (npm ci, from js/package-lock.json)
#   3. kubectl-skupper (cargo build), then REAL fixtures: a site is started on a random 127.x
#      address, issues tokens and a link file, and is stopped (js/test/fixtures/make-generated.sh)
#   4. build: wasm/web -> js/pkg (scripts/build-wasm.sh), page -> js/dist/token-inspector.html
#   5. tests: the bindings' Rust unit tests (native), node --test on the package, the headless
#      Chromium test of the single-file page (screenshot in js/dist/token-inspector.png)
#   6. size report with budgets (js/scripts/size-report.mjs; exit 1 when over budget)
#
#   scripts/test-js.sh                 everything
#   SKIP_INSTALL=1 scripts/test-js.sh  assume the toolchain and chromium are installed
#
# Every test must run (REQUIRE_ALL_TESTS=1 unless set otherwise): a missing Chromium, page or
# fixture fails the node tests instead of skipping them. Counts (cargo's output, node's TAP) go
# to $TEST_SUMMARY_DIR (default <target>/test-summary), where scripts/test.sh sums them up.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JS=$ROOT/js
step=""
export REQUIRE_ALL_TESTS=${REQUIRE_ALL_TESTS:-1}
SUMMARY=${TEST_SUMMARY_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/test-summary}
mkdir -p "$SUMMARY"
# node --test with the usual output on the terminal and TAP (for the counts) in a file.
node_test() { # <tap file> <test file>
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$1" "$2"
}

say() { printf '\n== test-js: %s\n' "$*" >&2; }
begin() { step=$*; say "$step"; }
on_exit() {
  local rc=$?
  [ "$rc" = 0 ] || printf '\ntest-js: FAILED at step: %s (exit %s)\n' "$step" "$rc" >&2
}
trap on_exit EXIT

begin "toolchain (wasm, wasm-bindgen, wasm-opt, chromium)"
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
  "$ROOT/scripts/wasm-toolchain.sh" check quiet
  [ -x /usr/bin/chromium ] || { echo "test-js: /usr/bin/chromium is missing (scripts/wasm-toolchain.sh install --chromium)" >&2; exit 1; }
else
  "$ROOT/scripts/wasm-toolchain.sh" install --chromium
fi

begin "npm dependencies"
command -v npm >/dev/null || { echo "test-js: npm is missing: install Node.js 20 or later" >&2; exit 1; }
if [ ! -f "$JS/node_modules/.package-lock.json" ] || [ "$JS/package-lock.json" -nt "$JS/node_modules/.package-lock.json" ]; then
  (cd "$JS" && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "up to date" >&2
fi

begin "kubectl-skupper and generated fixtures"
(cd "$ROOT" && cargo build --quiet -p kubectl-skupper)
KUBECTL_SKUPPER=${CARGO_TARGET_DIR:-$ROOT/target}/debug/kubectl-skupper bash "$JS/test/fixtures/make-generated.sh"

begin "build: wasm bindings and the single-file page"
"$ROOT/scripts/build-wasm.sh"
(cd "$JS" && node scripts/build-page.mjs)

begin "Rust unit tests of the bindings (wasm/web, native)"
(cd "$ROOT/wasm" && cargo test --quiet -p skupper-web) 2>&1 | tee "$SUMMARY/wasm-bindings.log"

begin "node tests (package surface)"
(cd "$JS" && node_test "$SUMMARY/js-node.tap" test/api.test.mjs)

begin "headless Chromium test (single-file page from disk)"
(cd "$JS" && node_test "$SUMMARY/js-browser.tap" test/page.browser.test.mjs)

begin "size report"
(cd "$JS" && node scripts/size-report.mjs)
step=""
say "all passed"
