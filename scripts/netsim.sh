#!/usr/bin/env bash
# Network scale by simulation: 100 and 1,000 sites' real routing tables joined by in-memory
# links (kubectl-plugin/router/src/netsim.rs), in a random mesh and a hub-and-spoke. Prints a
# table: messages, bytes and flooding rounds to converge from nothing, after a site joins and
# after a link fails; one route computation; memory per site. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --locked -p skupper-router --lib netsim_scale -- --ignored --nocapture --test-threads 1
