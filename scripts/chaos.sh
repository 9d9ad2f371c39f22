#!/usr/bin/env bash
# Fault scenarios of issue 16 against real local sites, printed as a table
# `scenario | expected | observed`: hostile grant-server and link-port clients while traffic
# flows and a token is redeemed, token files that are FIFOs or devices, busy ports, /dev/zero,
# 100 MB and deeply nested input, a killed apply, a 4,000-document apply, over-long names,
# umask 000, certificates against their CA, a connector backend that goes away, duplicate keys,
# `system status` of a killed site, wrong-code guessing, a link deleted under an open
# connection, a SIGSTOPped peer, a peer back after an outage. Measures; asserts nothing
# (tests/tests/reliability.rs and reliability_local.rs do).
#
#   scripts/chaos.sh                   # everything, 120 s outage (about 5 minutes)
#   scripts/chaos.sh --outage 30 flood # some scenarios, shorter outage
#   scripts/chaos.sh --help            # the scenario names
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
