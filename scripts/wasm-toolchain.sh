#!/usr/bin/env bash
# The toolchain for kubectl-skupper's wasm crates (wasm/) and the JS package (js/).
#
# rustup cannot download wasm32 standard libraries on our machines, so wasm builds use Debian's
# rustc-web (bookworm-security, 1.9x) with -Zbuild-std over its rust-web-src, linked by rust-lld.
# This script installs that, plus the tools the browser build needs, and does nothing (no
# network, well under a second) when everything is already there.
#
#   scripts/wasm-toolchain.sh install [--chromium]   install what is missing (apt needs root or sudo)
#   scripts/wasm-toolchain.sh check                  list each piece; exit 1 if one is missing
#   scripts/wasm-toolchain.sh env                    print `export` lines (eval them) for build scripts
#   scripts/wasm-toolchain.sh cargo <sub> [args..]   Debian cargo for wasm: build-std, Debian rustc
#
# What `install` provides:
#   apt:   rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc (+ chromium with --chromium)
#          adding a bookworm-security source when none is configured (rustc-web 1.85 in bookworm
#          main is too old for our crates);
#   link:  <sysroot>/lib/rustlib/wasm32-wasip1/lib/self-contained -> /usr/lib/wasm32-wasi, where
#          rustc looks for crt1-command.o and libc.a when building std for wasm32-wasip1;
#   cargo: wasm-bindgen-cli at exactly the version wasm/Cargo.toml pins for the wasm-bindgen crate
#          (they must match), with rustup's cargo and --locked;
#   npm:   binaryen (its wasm-opt; Debian's binaryen 108 mangles wasm-bindgen's externref table).
#
# Environment: WASM_TOOLS_DIR (npm tools, default ~/.cache/kubectl-skupper/wasm-tools),
#              APT_UPDATE=1 to force `apt-get update`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINARYEN_VERSION=132.0.0
APT_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc)
BROWSER_PACKAGES=(chromium)
SYSROOT=/usr
WASIP1_SELF_CONTAINED=$SYSROOT/lib/rustlib/wasm32-wasip1/lib/self-contained
WASI_LIBC=/usr/lib/wasm32-wasi
WASM_TOOLS_DIR=${WASM_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-skupper/wasm-tools}
WASM_OPT=$WASM_TOOLS_DIR/node_modules/.bin/wasm-opt

say() { printf 'wasm-toolchain: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# The wasm-bindgen version pinned in wasm/Cargo.toml ([workspace.dependencies]); the CLI must match.
bindgen_version() {
  local v
  v=$(sed -n 's/^wasm-bindgen *= *{* *\(version *= *\)*"=\([0-9][0-9.]*\)".*/\2/p' "$ROOT/wasm/Cargo.toml" | head -n1)
  [ -n "$v" ] || die "no exact 'wasm-bindgen = \"=X.Y.Z\"' pin found in wasm/Cargo.toml; add one"
  printf '%s\n' "$v"
}

installed() { # package -> 0 if dpkg has it installed
  local s
  s=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [ "$s" = installed ]
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (run this script as root or install sudo)"; fi
}

# Run quietly; print the captured output only if the command fails.
run_quiet() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "failed: $*"
  fi
}

has_security_source() {
  grep -rqs -- 'bookworm-security' /etc/apt/sources.list /etc/apt/sources.list.d/
}

# True when apt already knows a 1.9x rustc-web (no `apt-get update` needed).
apt_knows_new_rustc() {
  local policy
  policy=$(apt-cache policy rustc-web 2>/dev/null || true) # captured: no SIGPIPE under pipefail
  [[ $policy == *"Candidate: 1.9"* ]]
}

apt_install() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  local update=${APT_UPDATE:-0}
  if ! has_security_source; then
    say "adding the bookworm-security apt source (rustc-web 1.9x, lld-22, chromium live there)"
    echo 'deb http://deb.debian.org/debian-security bookworm-security main' |
      as_root tee /etc/apt/sources.list.d/kubectl-skupper-bookworm-security.list >/dev/null
    update=1
  fi
  apt_knows_new_rustc || update=1
  if [ "$update" = 1 ]; then
    say "apt-get update"
    run_quiet as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  say "apt-get install ${missing[*]}"
  run_quiet as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
}

link_wasip1_libc() {
  [ -d "$WASI_LIBC" ] || die "$WASI_LIBC is missing: apt-get install wasi-libc"
  [ "$(readlink "$WASIP1_SELF_CONTAINED" 2>/dev/null || true)" = "$WASI_LIBC" ] && return 0
  as_root mkdir -p "$(dirname "$WASIP1_SELF_CONTAINED")"
  as_root ln -sfn "$WASI_LIBC" "$WASIP1_SELF_CONTAINED"
  say "linked $WASIP1_SELF_CONTAINED -> $WASI_LIBC"
}

rustup_cargo() { # the rustup (stable) cargo, never Debian's /usr/bin/cargo
  local c
  for c in "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" "$(command -v cargo || true)"; do
    if [ -n "$c" ] && [ -x "$c" ] && [ "$c" != /usr/bin/cargo ]; then printf '%s\n' "$c"; return 0; fi
  done
  return 1
}

bindgen_ok() {
  local want=$1 have
  have=$(wasm-bindgen --version 2>/dev/null || true)
  [ "$have" = "wasm-bindgen $want" ]
}

install_bindgen_cli() {
  local v cargo
  v=$(bindgen_version)
  bindgen_ok "$v" && return 0
  cargo=$(rustup_cargo) || die "wasm-bindgen-cli $v is needed and rustup's cargo was not found"
  say "cargo install wasm-bindgen-cli $v (takes ~2 min on 2 cores)"
  # --locked first (the CLI's own lockfile); if a locked dependency is not available from the
  # registry we reach (yanked, or a mirror snapshot behind it), resolve afresh: the CLI version,
  # which is what must match the crate, stays pinned either way.
  local log
  if ! log=$("$cargo" install --quiet --locked --force wasm-bindgen-cli --version "$v" 2>&1); then
    say "locked install failed ($(grep -m1 '^error' <<<"$log" || echo "${log##*$'\n'}")); retrying without --locked"
    run_quiet "$cargo" install --quiet --force wasm-bindgen-cli --version "$v"
  fi
  bindgen_ok "$v" || die "wasm-bindgen $v installed but another one comes first in PATH: $(command -v wasm-bindgen)"
}

wasm_opt_ok() { # reads npm's package.json: running wasm-opt (node) costs ~0.5 s
  local manifest=$WASM_TOOLS_DIR/node_modules/binaryen/package.json
  [ -x "$WASM_OPT" ] && [ -f "$manifest" ] &&
    grep -q "\"version\": *\"$BINARYEN_VERSION\"" "$manifest"
}

install_wasm_opt() {
  wasm_opt_ok && return 0
  command -v npm >/dev/null || die "npm is needed to install binaryen (wasm-opt); install Node.js 20+"
  say "npm install binaryen@$BINARYEN_VERSION -> $WASM_TOOLS_DIR"
  mkdir -p "$WASM_TOOLS_DIR"
  run_quiet npm install --prefix "$WASM_TOOLS_DIR" --no-audit --no-fund --save-exact \
    "binaryen@$BINARYEN_VERSION"
  wasm_opt_ok || die "wasm-opt from binaryen $BINARYEN_VERSION does not run: $WASM_OPT"
}

check() { # $1 = quiet: only the verdict (no version banners, which start node and chromium)
  local bad=0 v
  v=$(bindgen_version)
  for f in /usr/bin/rustc /usr/bin/cargo /usr/bin/rust-lld; do
    [ -x "$f" ] || { say "missing $f (scripts/wasm-toolchain.sh install)"; bad=1; }
  done
  [ -d "$SYSROOT/lib/rustlib/src/rust/library/std" ] || { say "missing rust-web-src (std sources)"; bad=1; }
  [ -e "$WASIP1_SELF_CONTAINED/libc.a" ] || { say "wasm32-wasip1 libc not linked"; bad=1; }
  bindgen_ok "$v" || { say "wasm-bindgen-cli $v not in PATH"; bad=1; }
  wasm_opt_ok || { say "wasm-opt (binaryen $BINARYEN_VERSION) missing at $WASM_OPT"; bad=1; }
  if [ "$bad" = 0 ] && [ "${1:-}" != quiet ]; then
    say "rustc: $(/usr/bin/rustc --version)"
    say "wasm-bindgen: $(wasm-bindgen --version); wasm-opt: $("$WASM_OPT" --version)"
    if [ -x /usr/bin/chromium ]; then say "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"; fi
  fi
  return $bad
}

print_env() {
  printf 'export WASM_RUSTC=/usr/bin/rustc\n'
  printf 'export WASM_CARGO=/usr/bin/cargo\n'
  printf 'export WASM_OPT=%q\n' "$WASM_OPT"
  printf 'export WASM_BINDGEN_VERSION=%q\n' "$(bindgen_version)"
}

cmd=${1:-install}
[ $# -gt 0 ] && shift
case $cmd in
  install)
    packages=("${APT_PACKAGES[@]}")
    for a in "$@"; do
      case $a in
        --chromium) packages+=("${BROWSER_PACKAGES[@]}") ;;
        *) die "unknown option $a (usage: install [--chromium])" ;;
      esac
    done
    apt_install "${packages[@]}"
    link_wasip1_libc
    install_bindgen_cli
    install_wasm_opt
    check quiet || die "toolchain incomplete after install"
    ;;
  check) check ;;
  env) print_env ;;
  cargo)
    [ $# -gt 0 ] || die "usage: cargo <subcommand> [args..]"
    sub=$1
    shift
    # Debian cargo + Debian rustc (not the rustup proxies first in PATH); nightly flags via
    # RUSTC_BOOTSTRAP for -Zbuild-std, scoped to this process only.
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 exec /usr/bin/cargo "$sub" -Zbuild-std=std,panic_abort "$@"
    ;;
  *) die "usage: $0 install [--chromium] | check | env | cargo <subcommand> [args..]" ;;
esac
