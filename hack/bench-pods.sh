#!/usr/bin/env bash
# Benchmarks pod startup on a real lab: a Deployment of 30 replicas on 3
# nodes, from `kubectl apply` to all pods Ready, per-pod latency p50/p99 and
# the kubelets' RSS, against one container started through the runtime alone
# in the same run. Needs root. Record the figures in docs/benchmarks.md.
#
#   hack/bench-pods.sh [--replicas 30] [--nodes 3] [--lab-root DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh
ensure_packages "${PROJECT_PACKAGES[@]}"
cargo build --release --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p container-runtime -p tests \
    --bin apiserver --bin scheduler --bin controller-manager --bin kubelet --bin bench-pods
exec target/release/bench-pods "$@"
