#!/usr/bin/env bash
# Benchmarks two workloads on a real lab, each against a reference in the
# same run: a StatefulSet pod with a provisioned local-path claim against an
# emptyDir pod (created -> Running), and an HPA's reaction from load start to
# the new replicas Ready against the rollout alone. Needs root. Record the
# figures in docs/benchmarks.md.
#
#   hack/bench-workloads.sh [--rounds 5] [--skip-hpa]
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh
ensure_packages "${PROJECT_PACKAGES[@]}"
cargo build --release --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p container-runtime -p tests \
    --bin apiserver --bin scheduler --bin controller-manager --bin kubelet --bin bench-workloads
exec target/release/bench-workloads "$@"
