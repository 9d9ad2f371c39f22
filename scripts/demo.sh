#!/usr/bin/env bash
# The main job: a multi-site application network on this host, on the local platform.
#
#   west  accepts links; a real HTTP server is exposed there with a connector
#   east  links to west with a token (issue on west, redeem on east)
#   south links to west with a Link resource (`link generate` on west, `system apply` on south)
#
# east and south reach the server through listeners; `link status` and `site status` are shown.
# Everything runs on 127.0.0.1 under a temporary XDG_DATA_HOME and is stopped at the end
# (set KEEP=1 to leave the sites running and print how to stop them).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ kubectl skupper %s\n' "$*" >&2; "$bin" "$@"; }

say "building kubectl-skupper"
cargo build --locked -p kubectl-skupper
bin=$PWD/target/debug/kubectl-skupper

work=$(mktemp -d /tmp/skupper-demo.XXXXXX)
export XDG_DATA_HOME=$work/data
# This demo is the local platform's, whatever kubeconfig this machine has.
export SKUPPER_PLATFORM=local
server_pid=""
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    printf '\nSites left running. Stop them with:\n  XDG_DATA_HOME=%s %s -n <west|east|south> system stop\n' "$XDG_DATA_HOME" "$bin"
    return
  fi
  for ns in east south west; do "$bin" -n "$ns" system stop >/dev/null 2>&1 || true; done
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "three sites: west accepts links, east and south will link to it"
run -n west site create west --enable-link-access
run -n east site create east
run -n south site create south
for ns in west east south; do run -n "$ns" system start; done

say "link east -> west with a token (usable once, for 15 minutes)"
run -n west token issue "$work/west.token"
run -n east token redeem "$work/west.token"

say "link south -> west with a Link resource and its client certificate"
run -n west link generate --cost 2 > "$work/link-to-west.yaml"
run -n south system apply -f "$work/link-to-west.yaml"

say "a real HTTP server on west, exposed with a connector; listeners on east and south"
mkdir -p "$work/www" && echo "hello from west, through the application network" > "$work/www/hello.txt"
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$port" >"$work/http.log" 2>&1 &
server_pid=$!
run -n west connector create backend "$port" --routing-key backend --host 127.0.0.1
east_port=$(free_port); south_port=$(free_port)
run -n east listener create backend "$east_port" --routing-key backend --host 127.0.0.1
run -n south listener create backend "$south_port" --routing-key backend --host 127.0.0.1

say "waiting for the links to be Ready"
for ns in east south; do
  for _ in $(seq 1 150); do
    "$bin" -n "$ns" link status | grep -q Ready && break
    sleep 0.2
  done
done
run -n east link status
run -n south link status

say "traffic: east and south fetch from west's server through the links"
for p in "$east_port" "$south_port"; do
  for _ in $(seq 1 50); do
    out=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$p/hello.txt', timeout=2).read().decode().strip())" 2>/dev/null) && break
    sleep 0.2
  done
  printf '$ curl http://127.0.0.1:%s/hello.txt\n%s\n' "$p" "${out:-<no answer>}"
done

say "status"
# Status files are refreshed every second: wait for the matches the traffic above already used.
for q in "east listener" "south listener" "west connector"; do
  set -- $q
  for _ in $(seq 1 50); do
    "$bin" -n "$1" "$2" status | grep -q Ready && break
    sleep 0.2
  done
done
run -n west site status
run -n east listener status
run -n west connector status
