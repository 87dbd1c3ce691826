#!/usr/bin/env bash
# Fault injection under load: a 3-node lab whose components are killed with
# SIGKILL in turn, at random moments, while writes, 50 watchers, a kube-rs
# reflector and a rolling Deployment run (tests/src/chaos/). Prints what must
# be zero (lost writes, missed/duplicated/out-of-order watch events,
# container restarts, pods not Running) and each component's recovery time,
# and exits non-zero if anything failed. Too long for hack/test.sh.
#
#   hack/chaos.sh [--duration 5m] [--seed N] [--writes-per-second 20]
#                 [--watchers 50] [--release]
#
# --release runs the lab on release binaries (the default is the debug
# binaries hack/test.sh builds). The report is also written to
# target/chaos-report.md and the lab's logs to target/chaos-logs/. The lab is
# removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh

PROFILE=debug
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --release) PROFILE=release; shift ;;
        --duration|--seed|--writes-per-second|--watchers) ARGS+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

ensure_packages "${PROJECT_PACKAGES[@]}"
echo ">>> building ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo build --release --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p container-runtime -p kubeadm
else
    cargo build --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p container-runtime -p kubeadm
fi
cargo build --quiet -p tests --bin chaos

NAME="chaos-$$"
# The lab's logs are kept in target/chaos-logs/ (the lab itself is removed).
cleanup() {
    rm -rf target/chaos-logs
    cp -rL "/var/tmp/minik8s-$NAME/logs" target/chaos-logs 2>/dev/null || true
    bash hack/local-up-cluster.sh --name "$NAME" down >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo ">>> starting a 3-node lab ($NAME)"
LAB_BIN=$PWD/target/$PROFILE bash hack/local-up-cluster.sh --name "$NAME" --nodes 3 --no-demo up >/dev/null
target/debug/chaos --lab-name "$NAME" --repo . --nodes 3 "${ARGS[@]}" | tee target/chaos-report.md
