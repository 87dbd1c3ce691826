#!/usr/bin/env bash
# Benchmarks the apiserver in one run (release build) and prints a table of
# figures with their ratios; record them in docs/benchmarks.md.
#   hack/bench-apiserver.sh            the apiserver against raw etcd
#   hack/bench-apiserver.sh security   TLS + Node,RBAC (a user bound to a
#                                      Role) against AlwaysAllow over TLS
#   hack/bench-apiserver.sh crd        a custom resource against a ConfigMap
#                                      (creates/s, watch delivery) and the
#                                      time from CRD create to its kind served
#   hack/bench-apiserver.sh upstream KUBE_APISERVER
#                                      watch delivery under paced load
#                                      (apiload.py, 300 pod creates/s), ours
#                                      and upstream's side by side, rounds
#                                      alternating (ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh
ensure_packages etcd-server etcd-client protobuf-compiler
if [[ "${1:-}" == upstream ]]; then
    [ -n "${2:-}" ] || { echo "usage: $0 upstream PATH/kube-apiserver" >&2; exit 2; }
    cargo build --release --quiet -p apiserver --bin apiserver
    OURS=target/release/apiserver UPSTREAM=$(realpath "$2") source hack/lib/bench-upstream-apiserver.sh
    exit 0
fi
bench=bench-apiserver
[[ "${1:-}" == security ]] && bench=bench-security
[[ "${1:-}" == crd ]] && bench=bench-crd
cargo build --release --quiet -p apiserver -p tests --bin apiserver --bin "$bench"
exec "target/release/$bench"
