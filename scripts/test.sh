#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then builds and runs
# every test (Rust unit, property and end-to-end tests, the no_std build of core, the Wasm
# and JavaScript tests in Node and headless Chromium), and checks formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "installing test dependencies"
scripts/install-test-deps.sh
# The wasm toolchain first: the policy-module staleness test in `cargo test` rebuilds the module.
scripts/wasm-toolchain.sh install

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property and end-to-end tests)"
cargo test --workspace --locked

step "core builds without std"
scripts/check-no-std.sh

step "policy module (native unit tests of its entry points)"
cargo test --manifest-path wasm/Cargo.toml --locked -p skupper-policy

step "wasm bindings, npm package and the token inspector page"
scripts/test-js.sh

printf '\n==> all tests passed in %ss\n' "$(( $(date +%s) - start ))"
