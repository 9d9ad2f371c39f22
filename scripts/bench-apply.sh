#!/usr/bin/env bash
# Time of `system apply` of N documents into a fresh local site, median of RUNS runs, for two
# inputs: N Listeners, and N/2 Links each with its TLS Secret (Links are checked against each
# other and against the site's Links for duplicates). One apply takes at most 8 MiB, so the
# documents are applied in batches of at most BATCH (one apply when N <= BATCH). Each run is
# checked: every apply must succeed and the site must then hold exactly N resources (plus its
# Site). Measures; asserts nothing about speed.
#
#   scripts/bench-apply.sh                         # N=4000, RUNS=3, target/debug/kubectl-skupper
#   N="4000 20000 100000" RUNS=1 scripts/bench-apply.sh
#   N=1000 RUNS=5 scripts/bench-apply.sh path/to/kubectl-skupper
#
# Works in a temporary directory (XDG_DATA_HOME); starts no site.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/kubectl-skupper}"
sizes="${N:-4000}"
runs="${RUNS:-3}"
# 25,000 documents of either input stay well below 8 MiB (about 3.4 and 5.3 MiB).
batch="${BATCH:-25000}"
[[ -x "$bin" ]] || { echo "no binary at $bin: build it with cargo build -p kubectl-skupper" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

listeners() {
  for ((i = 0; i < $1; i++)); do
    printf -- '---\napiVersion: skupper.io/v2alpha1\nkind: Listener\nmetadata:\n  name: l%d\nspec:\n  routingKey: k%d\n  host: 127.0.0.1\n  port: %d\n' \
      "$i" "$i" $((10000 + i % 50000))
  done
}
links() {
  for ((i = 0; i < $1 / 2; i++)); do
    printf -- '---\napiVersion: skupper.io/v2alpha1\nkind: Link\nmetadata:\n  name: link%d\nspec:\n  tlsCredentials: s%d\n  cost: 1\n  endpoints:\n  - name: inter-router\n    host: host%d.example\n    port: "55671"\n  - name: edge\n    host: host%d.example\n    port: "45671"\n' \
      "$i" "$i" "$i" "$i"
    printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s%d\ntype: kubernetes.io/tls\ndata:\n  tls.crt: YQ==\n  tls.key: YQ==\n  ca.crt: YQ==\n' "$i"
  done
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for n in $sizes; do
  for input in listeners links; do
    # The input, split into files of at most $batch documents (keep BATCH even: a Link then
    # stays with its Secret).
    rm -f "$work"/batch-*.yaml
    "$input" "$n" | awk -v batch="$batch" -v dir="$work" \
      '/^---$/ { if (docs % batch == 0) file = sprintf("%s/batch-%06d.yaml", dir, docs / batch); docs++ } { print > file }'
    files=("$work"/batch-*.yaml)
    times=()
    for ((r = 0; r < runs; r++)); do
      export XDG_DATA_HOME="$work/data-$input-$r"
      "$bin" site create west >/dev/null 2>&1
      start=$(date +%s.%N)
      for f in "${files[@]}"; do
        if ! out=$("$bin" system apply -f "$f" 2>&1); then
          echo "system apply -f $(basename "$f") failed ($input, N=$n):" >&2
          echo "$out" >&2
          exit 1
        fi
      done
      end=$(date +%s.%N)
      held=$(find "$XDG_DATA_HOME/kubectl-skupper/namespaces/default/input/resources" -name '*.yaml' | wc -l)
      if ((held != n + 1)); then
        echo "$input, N=$n: the site holds $held resource files, expected $((n + 1))" >&2
        exit 1
      fi
      times+=("$(echo "$end - $start" | bc)")
      rm -rf "$XDG_DATA_HOME"
    done
    med="$(printf '%s\n' "${times[@]}" | median)"
    printf '%-9s %6d documents in %d apply(s): median %6.2f s, %6.0f documents/s  (runs: %s)\n' "$input" "$n" \
      "${#files[@]}" "$med" "$(echo "$n / $med" | bc -l)" "${times[*]}"
  done
done
