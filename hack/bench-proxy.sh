#!/usr/bin/env bash
# The service proxy at scale (issue 18): one sync of the iptables rules for
# 1,000 Services with 10,000 endpoints, after one endpoint changed, and with
# nothing changed, against a bare iptables-restore of the same rules in the
# same run (kubelet/examples/proxy_sync.rs). Runs in a network namespace it
# creates and deletes, so the host's tables are never touched. Root only.
#
#   hack/bench-proxy.sh [--services N] [--endpoints-per-service M] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "hack/bench-proxy.sh: needs root (a network namespace, iptables)" >&2
    exit 1
fi
ensure_packages "${PROJECT_PACKAGES[@]}"
cargo build --release --quiet -p kubelet --example proxy_sync
ns="mkbench-proxy-$$"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
ip netns exec "$ns" target/release/examples/proxy_sync "$@"
