#!/usr/bin/env bash
# The local lab: a whole cluster on this machine.
#
#   hack/local-up-cluster.sh [--name NAME] [--nodes N] [up|down|status]
#
# `up` (the default) installs what is missing, builds release binaries, starts
# etcd, the apiserver, the scheduler and the controller-manager, writes an
# admin kubeconfig, applies manifests/examples/ and prints `export
# KUBECONFIG=...` last. Nodes (kubelets in network namespaces) join once the
# kubelet's node agent exists; until then pods stay Pending, which the script
# says. `down` stops every process of the lab and removes its directory;
# `status` shows what runs. Several labs with different names run side by
# side: each picks its own free ports and keeps its state in its own directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source hack/lib/deps.sh

NAME=lab
NODES=2
ACTION=up
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME=$2; shift 2 ;;
        --name=*) NAME=${1#--name=}; shift ;;
        --nodes) NODES=$2; shift 2 ;;
        --nodes=*) NODES=${1#--nodes=}; shift ;;
        up|down|status) ACTION=$1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$NAME" in
    *[!a-z0-9-]*|"") echo "--name must be lower-case letters, digits and dashes" >&2; exit 2 ;;
esac

LAB_DIR=${LAB_DIR:-/var/tmp/minik8s-$NAME}
BIN=$ROOT/target/release

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# stop PIDFILE: TERM, then KILL after 5 s.
stop() {
    local pidfile=$1
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

down() {
    if [ ! -d "$LAB_DIR" ]; then
        echo "lab $NAME is not running"
        return 0
    fi
    for pidfile in "$LAB_DIR"/pids/*.pid; do
        [ -e "$pidfile" ] && stop "$pidfile"
    done
    rm -rf "$LAB_DIR"
    echo "lab $NAME is down"
}

status() {
    if [ ! -d "$LAB_DIR" ]; then
        echo "lab $NAME is not running"
        return 0
    fi
    for pidfile in "$LAB_DIR"/pids/*.pid; do
        [ -e "$pidfile" ] || continue
        local comp pid
        comp=$(basename "$pidfile" .pid)
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then echo "$comp: running (pid $pid)"; else echo "$comp: dead"; fi
    done
    echo "export KUBECONFIG=$LAB_DIR/kubeconfig"
}

# start NAME CMD...: runs a component in the background, logs to logs/NAME.log.
start() {
    local comp=$1; shift
    "$@" >"$LAB_DIR/logs/$comp.log" 2>&1 &
    echo $! >"$LAB_DIR/pids/$comp.pid"
}

wait_for() {
    local what=$1; shift
    for _ in $(seq 100); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "$what did not come up; see $LAB_DIR/logs/" >&2
    return 1
}

up() {
    if [ -d "$LAB_DIR" ]; then
        echo ">>> cleaning up an earlier lab $NAME"
        down >/dev/null
    fi
    ensure_packages "${PROJECT_PACKAGES[@]}"
    echo ">>> building release binaries"
    cargo build --release --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p kubectl

    mkdir -p "$LAB_DIR"/{logs,pids,etcd}
    local etcd_port peer_port api_port
    etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
    echo ">>> etcd on 127.0.0.1:$etcd_port"
    start etcd etcd --name "minik8s-$NAME" --data-dir "$LAB_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "minik8s-$NAME=http://127.0.0.1:$peer_port"
    wait_for etcd etcdctl --endpoints "http://127.0.0.1:$etcd_port" endpoint health

    echo ">>> apiserver on http://127.0.0.1:$api_port"
    start apiserver "$BIN/apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --port "$api_port"
    wait_for apiserver curl -fsS "http://127.0.0.1:$api_port/readyz"

    cat >"$LAB_DIR/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $NAME
  cluster:
    server: http://127.0.0.1:$api_port
users:
- name: admin
  user: {}
contexts:
- name: $NAME
  context:
    cluster: $NAME
    user: admin
current-context: $NAME
KUBECONFIG
    export KUBECONFIG=$LAB_DIR/kubeconfig

    if "$BIN/scheduler" --help 2>/dev/null | grep -q -- --kubeconfig; then
        echo ">>> scheduler"
        start scheduler "$BIN/scheduler" --kubeconfig "$KUBECONFIG" --leader-elect=true \
            --port "$(free_port)"
    else
        echo ">>> scheduler: not built yet, skipped"
    fi
    if "$BIN/controller-manager" --help 2>/dev/null | grep -q -- --kubeconfig; then
        echo ">>> controller-manager"
        start controller-manager "$BIN/controller-manager" --kubeconfig "$KUBECONFIG" \
            --leader-elect=true --cluster-cidr 10.244.0.0/16 --node-cidr-mask-size 24 \
            --port "$(free_port)"
    else
        echo ">>> controller-manager: not built yet, skipped"
    fi
    echo ">>> nodes: the kubelet's node agent is not built yet; $NODES node(s) will join once it is"

    echo ">>> applying manifests/examples/"
    kubectl --cache-dir "$LAB_DIR/kube-cache" apply -f manifests/examples/
    kubectl --cache-dir "$LAB_DIR/kube-cache" get all

    echo
    echo "Lab $NAME is up. Logs: $LAB_DIR/logs/. Stop it with: hack/local-up-cluster.sh --name $NAME down"
    echo "export KUBECONFIG=$LAB_DIR/kubeconfig"
}

case "$ACTION" in
    up) up ;;
    down) down ;;
    status) status ;;
esac
