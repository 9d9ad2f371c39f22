#!/usr/bin/env bash
# Time of `system apply` of N documents into a fresh local site, median of RUNS runs, for two
# inputs: N Listeners, and N/2 Links each with its TLS Secret (Links are checked against each
# other for duplicates). Measures; asserts nothing.
#
#   scripts/bench-apply.sh                       # N=4000, RUNS=3, target/debug/kubectl-skupper
#   N=1000 RUNS=5 scripts/bench-apply.sh path/to/kubectl-skupper
#
# Works in a temporary directory (XDG_DATA_HOME); starts no site.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/kubectl-skupper}"
n="${N:-4000}"
runs="${RUNS:-3}"
[[ -x "$bin" ]] || { echo "no binary at $bin: build it with cargo build -p kubectl-skupper" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for ((i = 0; i < n; i++)); do
  printf -- '---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l%d\nspec:\n  routingKey: k%d\n  host: 127.0.0.1\n  port: %d\n' \
    "$i" "$i" $((10000 + i % 50000))
done >"$work/listeners.yaml"
for ((i = 0; i < n / 2; i++)); do
  printf -- '---\napiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: link%d\nspec:\n  tlsCredentials: s%d\n  cost: 1\n  endpoints:\n  - name: inter-router\n    host: host%d.example\n    port: "55671"\n  - name: edge\n    host: host%d.example\n    port: "45671"\n' \
    "$i" "$i" "$i" "$i"
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s%d\ntype: kubernetes.io/tls\ndata:\n  tls.crt: YQ==\n  tls.key: YQ==\n  ca.crt: YQ==\n' "$i"
done >"$work/links.yaml"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for input in listeners links; do
  times=()
  for ((r = 0; r < runs; r++)); do
    export XDG_DATA_HOME="$work/data-$input-$r"
    "$bin" site create west >/dev/null 2>&1
    start=$(date +%s.%N)
    "$bin" system apply -f "$work/$input.yaml" >/dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
    rm -rf "$XDG_DATA_HOME"
  done
  printf '%-9s %5d documents: median %6.2f s  (runs: %s)\n' "$input" "$n" \
    "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"
done
