#!/usr/bin/env bash
# check-no-leaks.sh: a killed `cargo test` leaves nothing running once the tests run again.
#
# Runs the harness test that has a real kube cluster (etcd + kube-apiserver) and a local site up
# at the same time (tests/tests/harness.rs), waits until both run, then kills it mid-run:
#
#   1. `cargo` alone gets SIGKILL once the cluster is up: its test process is orphaned and goes
#      on (starting its site); the next run's sweep kills it and what it started, or it ends and
#      cleans up by itself first;
#   2. `cargo` and its test process get SIGKILL (their process group, as a CI timeout does) once
#      the site runs too: no Drop runs; the site (own process group) and etcd/apiserver are
#      left behind, and only the next run's sweep can stop them.
#
# Each time it notes every process of that run by pid and start time (the test process, its
# descendants, the site processes of its test directories, the cluster's etcd and apiserver),
# runs `cargo test --test harness` again, and checks that none of them is alive afterwards.
# Exit 0 when nothing survived, 1 otherwise. Needs what the harness tests need (a built
# kube-apiserver: scripts/kube-apiserver-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export REQUIRE_ALL_TESTS=1 # a cluster that cannot start fails here instead of skipping
tmp=${TMPDIR:-/tmp}
logs=$(mktemp -d "$tmp/check-no-leaks.XXXXXX")
test_name=a_valid_kubeconfig_in_home_changes_nothing_for_local_sites
say() { printf 'check-no-leaks: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

# Field 22 (start time) of /proc/PID/stat, or nothing when PID is gone or a zombie.
start_of() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  rest=${stat##*) }
  set -- $rest
  case $1 in Z | X) return 0 ;; esac
  echo "${20}"
}
descendants() { # pid -> all descendant pids
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { changed = 1; want[root] = 1
          while (changed) { changed = 0
            for (p in parent) if ((parent[p] in want) && !(p in want)) { want[p] = 1; changed = 1 } }
          for (p in want) if (p != root) print p }'
}
# The kse2e-* test directories whose .owner names process "$1 $2".
owned_dirs() {
  local d
  for d in "$tmp"/kse2e-*; do
    [ -f "$d/.owner" ] && [ "$(head -n1 "$d/.owner")" = "$1 $2" ] && echo "$d"
  done
  return 0
}
live_pidfile() { # file -> pid if it names a live process
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$(start_of "$pid")" ] && echo "$pid"
}

say "building the harness tests"
cargo test -q --locked -p skupper-e2e --test harness --no-run 2>"$logs/build.log" || { cat "$logs/build.log" >&2; fail "build"; }

scenario() { # 1: SIGKILL cargo; 2: SIGKILL cargo's process group
  local n=$1 cargo tp tstart deadline site="" apiserver="" etcd="" d p
  say "scenario $n: run 1 ($test_name)"
  set -m # run 1 in a process group of its own, led by cargo
  cargo test -q --locked -p skupper-e2e --test harness -- --exact "$test_name" >"$logs/run1-$n.log" 2>&1 &
  cargo=$!
  set +m
  deadline=$((SECONDS + 300))
  while :; do
    [ -n "$(start_of "$cargo")" ] || { cat "$logs/run1-$n.log" >&2; fail "run 1 ended before its cluster and site were up"; }
    [ $SECONDS -lt $deadline ] || { kill -KILL -- "-$cargo" 2>/dev/null; fail "run 1 had no cluster (and site) within 300 s"; }
    tp=$(ps -o pid= --ppid "$cargo" | head -n1 | tr -d ' ' || true)
    if [ -n "$tp" ] && tstart=$(start_of "$tp") && [ -n "$tstart" ]; then
      site="" apiserver="" etcd=""
      for d in $(owned_dirs "$tp" "$tstart"); do
        for p in "$d"/data/kubectl-skupper/namespaces/*/runtime/router*.pid; do
          p=$(live_pidfile "$p") && site+=" $p"
        done
        p=$(live_pidfile "$d/apiserver.pid") && apiserver=$p
        p=$(live_pidfile "$d/etcd.pid") && etcd=$p
      done
      # Scenario 1 kills as soon as the cluster is up (the orphan has most of its test still to
      # do), scenario 2 once the site runs too.
      [ -n "$apiserver" ] && [ -n "$etcd" ] && { [ "$n" = 1 ] || [ -n "$site" ]; } && break
    fi
    sleep 0.05
  done
  # Everything of run 1, by pid and start time.
  local procs=() pid dirs
  for pid in $(printf '%s\n' "$tp" $(descendants "$tp") $site "$apiserver" "$etcd" | sort -un); do
    p=$(start_of "$pid") && [ -n "$p" ] && procs+=("$pid:$p")
  done
  dirs=$(owned_dirs "$tp" "$tstart")
  if [ "$n" = 1 ]; then
    kill -KILL "$cargo"
    say "SIGKILL cargo (pid $cargo); test process $tp is orphaned"
  else
    kill -KILL -- "-$cargo"
    say "SIGKILL process group $cargo (cargo and test process $tp)"
  fi
  say "run 1 had: test process $tp, site(s)$site, kube-apiserver $apiserver, etcd $etcd; all: ${procs[*]}"
  if [ "$n" = 2 ]; then
    sleep 1
    local left=()
    for p in $site $apiserver $etcd; do [ -n "$(start_of "$p")" ] && left+=("$p"); done
    if [ ${#left[@]} -gt 0 ]; then
      say "left running by the killed run: ${left[*]}"
    else
      # Any test run of this harness sweeps: one started elsewhere on this machine got there first.
      say "nothing of the killed run is running any more (another test run's sweep stopped it first)"
    fi
  fi

  say "scenario $n: run 2 (cargo test --test harness)"
  cargo test -q --locked -p skupper-e2e --test harness >"$logs/run2-$n.log" 2>&1 || { cat "$logs/run2-$n.log" >&2; fail "run 2 failed"; }
  # Which of run 1's processes the sweep of run 2 stopped (its lines also name what the sweep
  # test of tests/tests/harness.rs fakes for itself).
  local stopped=() entry
  for entry in "${procs[@]}"; do
    pid=${entry%%:*}
    grep -h 'stopped what killed test runs left running' "$logs/run2-$n.log" | grep -qE "[[ ]$pid[],]" && stopped+=("$pid")
  done
  if [ ${#stopped[@]} -gt 0 ]; then
    say "run 2's sweep stopped these processes of run 1: ${stopped[*]}"
  else
    say "run 2's sweep stopped no process of run 1 (the orphaned test process had ended and cleaned up itself)"
  fi
  local alive=()
  for entry in "${procs[@]}"; do
    pid=${entry%%:*}
    [ "$(start_of "$pid")" = "${entry#*:}" ] && alive+=("$pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-100))")
  done
  # Also whatever run 1 started after the list above was taken (scenario 1: its orphaned test
  # process went on): any process whose command line or environment names a directory of run 1.
  local q
  for q in /proc/[0-9]*; do
    for d in $dirs; do
      if grep -qsF "$d" "$q/cmdline" "$q/environ"; then
        alive+=("${q#/proc/} ($(tr '\0' ' ' <"$q/cmdline" 2>/dev/null | cut -c1-100), names $d)")
        break
      fi
    done
  done
  if [ ${#alive[@]} -gt 0 ]; then
    printf '  still alive: %s\n' "${alive[@]}" >&2
    fail "scenario $n: ${#alive[@]} process(es) of run 1 survived run 2"
  fi
  for d in $dirs; do [ ! -e "$d" ] || fail "scenario $n: $d of run 1 is still there"; done
  say "scenario $n: none of the ${#procs[@]} processes of run 1 is alive"
}

scenario 1
scenario 2
rm -rf "$logs"
say "OK: a killed cargo test leaves nothing running once the tests run again"
