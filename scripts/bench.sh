#!/usr/bin/env bash
# The link benchmark: direct TCP vs a stunnel pair vs two of our sites, one run on 127.0.0.1.
# Prints a table and writes it to target/linkbench/latest.md (pass --quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo build --release --locked -p kubectl-skupper -p skupper-e2e --bin kubectl-skupper --bin linkbench
# 10,000 idle proxied connections need more descriptors than the default soft limit.
ulimit -n "$(ulimit -Hn)"
exec target/release/linkbench --binary target/release/kubectl-skupper "$@"
