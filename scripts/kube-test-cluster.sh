#!/usr/bin/env bash
# kube-test-cluster.sh: a real, throwaway Kubernetes API server for end-to-end tests: etcd and
# kube-apiserver 1.20 on 127.0.0.1 only (no kubelet, no controller-manager, no scheduler).
#
#   scripts/kube-test-cluster.sh start DIR   start both; prints `export KUBECONFIG=... KUBE_TEST_KUBECONFIG=...`
#   scripts/kube-test-cluster.sh stop DIR    stop both by the pids in DIR (apiserver first)
#
# DIR receives the PKI, kubeconfig, logs and pid files. Auth: a static bearer token in
# system:masters. Only the namespaces default and kube-* exist, and namespaces are never
# finalized (no controller-manager): create a fresh one per test.
#
# Exit codes of `start`: 0 running; 3 this machine cannot have it: etcd, kubectl or the apiserver
# is missing and installing it needs root, or apt cannot install a package - callers may skip
# (tests do, except under REQUIRE_ALL_TESTS=1); 1 anything else, a real failure - including a
# failed build of the apiserver (scripts/kube-apiserver-build.sh), which is never a skip.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1 dir=$2

say() { printf 'kube-test-cluster: %s\n' "$*" >&2; }
unavailable() { say "$*"; exit 3; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Debian packages, installed only when missing; exit 3 when that is impossible.
need_package() { # <command> <package>
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || unavailable "$1 is missing (apt package $2) and installing it needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2" >/dev/null; } \
    || unavailable "cannot install $2 with apt-get"
}

stop_pid() { # <pidfile> <seconds to wait before SIGKILL>
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

start() {
  need_package etcd etcd-server
  need_package kubectl kubernetes-client
  need_package openssl openssl
  need_package curl curl
  local kas
  kas=$("$here/kube-apiserver-build.sh" path)
  if [ ! -x "$kas" ]; then
    [ "$(id -u)" = 0 ] || unavailable "kube-apiserver is not built ($kas) and building it needs root"
    say "building kube-apiserver from Debian's kubernetes source package (first time only, ~4 min)"
    "$here/kube-apiserver-build.sh" >/dev/null || { say "building kube-apiserver failed (see above)"; exit 1; }
  fi

  mkdir -p "$dir/pki"
  dir=$(cd "$dir" && pwd)
  local pki=$dir/pki
  # One CA for the apiserver's serving cert; service-account keys are mandatory flags in 1.20.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kube-test-ca \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$pki/san.cnf"
  openssl x509 -req -days 2 -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -extfile "$pki/san.cnf" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  local token
  token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "$token,kube-test-admin,kube-test-admin,system:masters" >"$dir/tokens.csv"

  local etcd_client etcd_peer kas_port
  etcd_client=$(free_port) etcd_peer=$(free_port) kas_port=$(free_port)
  etcd --name kube-test --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" \
    --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "kube-test=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"

  # --disable-admission-plugins=ServiceAccount: no controller-manager will ever create tokens.
  "$kas" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$kas_port" --insecure-port=0 \
    --etcd-servers="http://127.0.0.1:$etcd_client" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --disable-admission-plugins=ServiceAccount \
    >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"

  local ready=
  for _ in $(seq 300); do # up to 60 s; ~4 s on an idle 2-core machine
    if curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" \
      "https://127.0.0.1:$kas_port/readyz" >/dev/null 2>&1; then
      ready=1
      break
    fi
    kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$ready" ]; then
    say "kube-apiserver did not become ready; last lines of $dir/apiserver.log:"
    tail -n 20 "$dir/apiserver.log" >&2 || true
    stop
    exit 1
  fi

  cat >"$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kube-test
  cluster:
    server: https://127.0.0.1:$kas_port
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: kube-test-admin
  user:
    token: $token
contexts:
- name: kube-test
  context: {cluster: kube-test, user: kube-test-admin, namespace: default}
current-context: kube-test
KUBECONFIG
  echo "export KUBECONFIG=$dir/kubeconfig KUBE_TEST_KUBECONFIG=$dir/kubeconfig"
}

stop() {
  # The apiserver first: without etcd it hangs on SIGTERM, retrying.
  stop_pid "$dir/apiserver.pid" 10
  stop_pid "$dir/etcd.pid" 5
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
