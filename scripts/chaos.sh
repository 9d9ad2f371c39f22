#!/usr/bin/env bash
# Fault scenarios of issue 16 against real local sites (hostile grant-server and link-port
# clients while traffic flows and a token is redeemed, wrong-code guessing, a link deleted under
# an open connection, a SIGSTOPped peer, a peer back after an outage), printed as a table
# `scenario | expected | observed`. Measures; asserts nothing (tests/tests/reliability.rs does).
#
#   scripts/chaos.sh                   # everything, 120 s outage (about 5 minutes)
#   scripts/chaos.sh --outage 30 flood # some scenarios, shorter outage
#   CHAOS_PROFILE=release scripts/chaos.sh
#
# Needs prlimit (util-linux). Traffic stays on 127.0.0.0/8; every site it starts is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${CHAOS_PROFILE:-debug}"
flags=()
[[ "$profile" == release ]] && flags=(--release)
cargo build --quiet "${flags[@]}" -p kubectl-skupper --bin kubectl-skupper
cargo build --quiet "${flags[@]}" -p skupper-e2e --bin chaos
target="${CARGO_TARGET_DIR:-target}/$profile"
KUBECTL_SKUPPER_BIN="$PWD/$target/kubectl-skupper" exec "$target/chaos" "$@"
