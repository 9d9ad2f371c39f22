#!/usr/bin/env bash
# The link benchmark: direct TCP vs a plain relay pair vs a stunnel pair vs our sites (one link,
# and two hops A-B-C), one run on 127.0.0.1. Prints the tables and writes them to
# target/linkbench/latest.md (--quick for a smoke run, --only PARTS, --runs N; see the top
# comment of tests/src/bin/linkbench.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo build --release --locked -p kubectl-skupper -p skupper-e2e --bin kubectl-skupper --bin linkbench
# 10,000 idle proxied connections need more descriptors than the default soft limit.
ulimit -n "$(ulimit -Hn)"
exec target/release/linkbench --binary target/release/kubectl-skupper "$@"
