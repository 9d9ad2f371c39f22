#!/usr/bin/env bash
# The Kubernetes platform's benchmark: redeem-to-Ready latency, idle memory of a controller, and
# the time to apply N Listeners, each beside the same on the local platform in one run, on a
# real kube-apiserver 1.20 + etcd on 127.0.0.1 (built once by scripts/kube-apiserver-build.sh).
# Prints a table and writes it to target/kubebench/latest.md.
#
#   scripts/kube-bench.sh [--runs N] [--listeners N]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
scripts/kube-apiserver-build.sh >/dev/null
cargo build --release --locked -p kubectl-skupper -p skupper-e2e --bin kubectl-skupper --bin kubebench
# 1,000 listeners each hold a socket; the site processes and controllers need the descriptors.
ulimit -n "$(ulimit -Hn)"
export KUBECTL_SKUPPER_BIN=$PWD/target/release/kubectl-skupper
exec target/release/kubebench "$@"
