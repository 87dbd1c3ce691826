#!/usr/bin/env bash
# The service proxy at scale (issue 18): one sync of the iptables rules for
# 1,000 Services with 10,000 endpoints, after one endpoint changed, and with
# nothing changed, against a bare iptables-restore of the same rules in the
# same run (kubelet/examples/proxy_sync.rs). Runs in a network namespace it
# creates and deletes, so the host's tables are never touched. Root only.
#
#   hack/bench-proxy.sh [--services N] [--endpoints-per-service M] [--rounds R]
#
# With --against KUBE_PROXY (upstream's binary, e.g. the conformance kit's
# KIT/bin/kube-proxy): both proxies in turn on the same cluster (our
# apiserver and etcd inside the namespace), each with its defaults: the
# first sync and the time from a new endpoint to traffic reaching it, as a
# client on the node sees it (hack/lib/proxy-latency.py).
#
#   hack/bench-proxy.sh --against KUBE_PROXY [--services N] [--endpoints-per-service M] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "hack/bench-proxy.sh: needs root (a network namespace, iptables)" >&2
    exit 1
fi
ensure_packages "${PROJECT_PACKAGES[@]}"
ns="mkbench-proxy-$$"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
if [ "${1:-}" = --against ]; then
    kube_proxy="$(realpath "${2:?--against needs the kube-proxy binary}")"
    shift 2
    cargo build --release --quiet -p apiserver --bin apiserver -p kubelet --example service_proxy
    ip netns add "$ns"
    ip netns exec "$ns" python3 hack/lib/proxy-latency.py --apiserver target/release/apiserver \
        --ours target/release/examples/service_proxy --kube-proxy "$kube_proxy" "$@"
    exit
fi
cargo build --release --quiet -p kubelet --example proxy_sync
ip netns add "$ns"
ip netns exec "$ns" target/release/examples/proxy_sync "$@"
