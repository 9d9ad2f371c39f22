#!/usr/bin/env bash
# Debian packages the end-to-end tests start as real peers: squid (with basic_ncsa_auth),
# htpasswd (apache2-utils), tinyproxy, stunnel4 and iperf3 for the benchmark; zsh and fish, whose
# completion scripts the kubectl_plugin tests check in the shells themselves; umoci to build the
# OCI image without a container engine (scripts/image.sh, tests/tests/image.rs). Idempotent: a
# second run with everything installed does nothing and needs no network.
set -euo pipefail
pkgs=(squid apache2-utils tinyproxy stunnel4 iperf3 python3 zsh fish umoci)
missing=()
for p in "${pkgs[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "install-test-deps.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
echo "install-test-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d-style guard: the packages must not start their system services; tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
