#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then builds and runs
# every test (Rust unit, property and end-to-end tests, the no_std build of core, the Wasm
# and JavaScript tests in Node and headless Chromium), and checks formatting and lints.
#
# Every test must run: REQUIRE_ALL_TESTS=1 is exported, so a test that cannot run here (no
# kube-apiserver, no zsh or fish, no Chromium, no wasm toolchain, ...) FAILS instead of
# skipping. `REQUIRE_ALL_TESTS=0 scripts/test.sh` turns those into skips, counted in the
# summary printed at the end: tests run and skipped per suite.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { printf '\n==> %s\n' "$*"; current=$*; }
die() { printf '\ntest.sh: %s\n' "$*" >&2; exit 1; }
start=$(date +%s)
current=""

export REQUIRE_ALL_TESTS=${REQUIRE_ALL_TESTS:-1}
target=${CARGO_TARGET_DIR:-$root/target}
# A one-off build: incremental state would only take disk (gigabytes here), never time.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export TEST_SUMMARY_DIR=$target/test-summary
export SKUPPER_E2E_SKIP_LOG=$TEST_SUMMARY_DIR/skips.tsv
rm -rf "$TEST_SUMMARY_DIR"
mkdir -p "$TEST_SUMMARY_DIR"

# --- the summary: tests run and skipped per suite, also after a failure (what ran so far) ---
# `cargo test` output: the sums of its `test result:` lines -> "passed failed ignored".
cargo_counts() {
  [ -f "$1" ] || return 1
  awk '/^test result: /{
         for (i = 1; i <= NF; i++) {
           if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i; if ($(i+1) ~ /^ignored;?$/) g += $i
         } n++ }
       END { if (n) print p+0, f+0, g+0; else exit 1 }' "$1"
}
# node --test TAP file -> "passed failed skipped".
tap_counts() {
  [ -f "$1" ] || return 1
  awk '/^# pass /{p=$3} /^# fail /{f=$3} /^# cancelled /{c=$3} /^# skipped /{s=$3} /^# todo /{t=$3} /^# tests /{n=1}
       END { if (n) print p+0, f+c+0, s+t+0; else exit 1 }' "$1"
}
total_pass=0 total_fail=0 total_skip=0
suite_line=""
add_suite() { # name passed failed skipped
  suite_line+="${suite_line:+; }$1 $(($2 + $3)) run, $4 skipped"
  [ "$3" = 0 ] || suite_line+=" ($3 failed)"
  total_pass=$((total_pass + $2)) total_fail=$((total_fail + $3)) total_skip=$((total_skip + $4))
}
summary() {
  local rc=$? c p f s helper
  if c=$(cargo_counts "$TEST_SUMMARY_DIR/cargo-test.log"); then
    read -r p f s <<<"$c"
    # Tests that called skupper_e2e::skip passed as far as cargo knows: they did not run.
    helper=$( [ -f "$SKUPPER_E2E_SKIP_LOG" ] && wc -l <"$SKUPPER_E2E_SKIP_LOG" || echo 0)
    add_suite "cargo test" $((p - helper)) "$f" $((s + helper))
  fi
  if c=$(cargo_counts "$TEST_SUMMARY_DIR/no-kubernetes.log"); then read -r p f s <<<"$c"; add_suite "plugin without kubernetes" "$p" "$f" "$s"; fi
  if c=$(cargo_counts "$TEST_SUMMARY_DIR/policy.log"); then read -r p f s <<<"$c"; add_suite "policy module" "$p" "$f" "$s"; fi
  if c=$(cargo_counts "$TEST_SUMMARY_DIR/wasm-bindings.log"); then read -r p f s <<<"$c"; add_suite "wasm bindings" "$p" "$f" "$s"; fi
  if c=$(tap_counts "$TEST_SUMMARY_DIR/js-node.tap"); then read -r p f s <<<"$c"; add_suite "js node" "$p" "$f" "$s"; fi
  if c=$(tap_counts "$TEST_SUMMARY_DIR/js-browser.tap"); then read -r p f s <<<"$c"; add_suite "js browser" "$p" "$f" "$s"; fi
  if [ "$total_skip" != 0 ]; then
    printf '\nskipped (did not run here):\n' >&2
    [ -f "$SKUPPER_E2E_SKIP_LOG" ] && awk -F'\t' '{ printf "  %s::%s: %s\n", $1, $2, $3 }' "$SKUPPER_E2E_SKIP_LOG" >&2
    grep -h '^test .* \.\.\. ignored' "$TEST_SUMMARY_DIR"/*.log 2>/dev/null |
      sed -E 's/^test (.*) \.\.\. ignored(, )?(.*)$/  #[ignore]d: \1: \3/' >&2 || true
    for f in "$TEST_SUMMARY_DIR"/js-*.tap; do
      [ -f "$f" ] && sed -n "s/^ *ok [0-9]* - \(.*\) # SKIP \(.*\)/  $(basename "$f" .tap): \1: \2/p" "$f" >&2
    done
  fi
  if [ -n "$suite_line" ]; then
    printf '\n==> tests per suite: %s\n' "$suite_line"
  fi
  if [ "$rc" = 0 ] && [ "$total_skip" = 0 ]; then
    printf '==> all tests passed in %ss\n' "$(($(date +%s) - start))"
  elif [ "$rc" = 0 ]; then
    printf '==> all tests that ran passed in %ss; %s did not run (REQUIRE_ALL_TESTS=%s)\n' \
      "$(($(date +%s) - start))" "$total_skip" "$REQUIRE_ALL_TESTS"
  else
    printf '\n==> FAILED at step: %s (exit %s)\n' "$current" "$rc" >&2
  fi
  # Disk: a full disk fails the build in the middle of some crate, so say how much was used.
  printf '==> disk: build directory %s, %s free\n' "$(du -sh "$target" 2>/dev/null | cut -f1)" "$(free_disk)"
  if [ -n "$suite_line" ]; then
    printf 'summary: %s passed, %s failed, %s skipped\n' "$total_pass" "$total_fail" "$total_skip"
  fi
}
trap summary EXIT
free_disk() { mkdir -p "$target" && df -Ph "$target" | awk 'NR == 2 { print $4 }'; }
echo "disk: $(free_disk) free where the build goes ($target); a clean run uses about 4 GB"

step "Rust toolchain (rust-toolchain.toml)"
# Before anything runs cargo: rustup fails every cargo command when the pinned toolchain is missing.
scripts/rust-toolchain.sh

step "kubectl (1.26 or later: kubectl completes plugin commands from 1.26 on)"
kubectl_hint="install kubectl 1.26 or later on PATH (the upstream release binary, or your cloud SDK's kubectl; Debian 12's kubernetes-client package is 1.20, too old)"
command -v kubectl >/dev/null 2>&1 || die "kubectl is missing: $kubectl_hint"
kubectl_version=$(kubectl version --client -o json 2>/dev/null |
  python3 -c 'import json,sys; v=json.load(sys.stdin)["clientVersion"]; print(v["major"].rstrip("+"), v["minor"].rstrip("+"), v.get("gitVersion",""))' 2>/dev/null) ||
  die "cannot tell the version of $(command -v kubectl) (kubectl version --client -o json failed): $kubectl_hint"
read -r kmajor kminor kgit <<<"$kubectl_version"
if [ "$kmajor" -lt 1 ] || { [ "$kmajor" = 1 ] && [ "$kminor" -lt 26 ]; }; then
  die "$(command -v kubectl) is kubectl $kgit, older than 1.26: $kubectl_hint"
fi
echo "$(command -v kubectl): $kgit"

step "installing test dependencies"
scripts/install-test-deps.sh
# What the end-to-end tests run as real programs: missing, a failure here (said plainly, before
# the build), or with REQUIRE_ALL_TESTS=0 the tests that need it are counted skips.
for tool in zsh fish squid tinyproxy; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] && continue
  msg="$tool is missing after scripts/install-test-deps.sh (Debian package $tool): the end-to-end tests need it"
  case ${REQUIRE_ALL_TESTS,,} in 1 | true | yes) die "$msg" ;; *) echo "test.sh: $msg (REQUIRE_ALL_TESTS=$REQUIRE_ALL_TESTS: its tests will skip or fail)" >&2 ;; esac
done
# The wasm toolchain first: the policy-module staleness test in `cargo test` rebuilds the module.
scripts/wasm-toolchain.sh install

step "kube-apiserver 1.20 and etcd for the Kubernetes tests (built once, then cached)"
scripts/kube-apiserver-build.sh >/dev/null ||
  die "building kube-apiserver failed (scripts/kube-apiserver-build.sh, output above): the Kubernetes tests cannot run"
kas=$(scripts/kube-apiserver-build.sh path)
kas_version=$("$kas" --version 2>&1) || die "$kas does not run: $kas_version"
[ "$kas_version" = "Kubernetes v1.20.2" ] || die "$kas is '$kas_version', not Kubernetes v1.20.2"
command -v etcd >/dev/null 2>&1 || die "etcd is missing (apt package etcd-server; scripts/kube-apiserver-build.sh installs it)"
echo "$kas: $kas_version; $(etcd --version 2>/dev/null | head -n1)"

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# wasm/ is a workspace of its own with the same lints; natively, as its unit tests run (the
# wasm32-only ABI modules are linted by rustc in scripts/build-policy.sh).
cargo clippy --manifest-path wasm/Cargo.toml --all-targets --locked -- -D warnings

step "crate boundaries: the router and the webhook host reach neither the CLI nor a platform"
for crate in skupper-router skupper-webhook-host; do
  deps=$(cargo tree --locked -p "$crate" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
  for forbidden in kubectl-skupper kube kube-client kube-runtime k8s-openapi clap; do
    if grep -qx "$forbidden" <<<"$deps"; then
      die "$crate depends on $forbidden (cargo tree -p $crate -i $forbidden): it must not reach the CLI or a platform"
    fi
  done
done
if grep -qx wasmtime <<<"$(cargo tree --locked -p skupper-router -e normal --prefix none --format '{p}' | awk '{print $1}')"; then
  die "skupper-router depends on wasmtime: only the webhook host runs Wasm"
fi
echo "skupper-router and skupper-webhook-host: no CLI, platform or Kubernetes crate in their trees"

step "dependencies: cargo deny (one TLS stack, licenses, sources, duplicate versions; deny.toml)"
# Installs cargo-deny once into ~/.cache/kubectl-skupper/cargo-deny (an unoptimised build, 2-3 min on 2 cores), then
# checks the main and the wasm/ workspace. The TLS rule (no openssl, native-tls, aws-lc-rs) is
# one of its bans.
scripts/cargo-deny.sh

step "the plugin without the Kubernetes platform"
cargo clippy -p kubectl-skupper --no-default-features --all-targets --locked -- -D warnings
cargo test -p kubectl-skupper --no-default-features --locked --no-fail-fast 2>&1 | tee "$TEST_SUMMARY_DIR/no-kubernetes.log"

step "cargo test (unit, property and end-to-end tests)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$TEST_SUMMARY_DIR/cargo-test.log"

step "core builds without std"
scripts/check-no-std.sh

step "policy module (native unit tests of its entry points)"
cargo test --manifest-path wasm/Cargo.toml --locked -p skupper-policy 2>&1 | tee "$TEST_SUMMARY_DIR/policy.log"

step "wasm bindings, npm package and the token inspector page"
scripts/test-js.sh
current=""
