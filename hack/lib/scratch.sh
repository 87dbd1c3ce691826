#!/usr/bin/env bash
# What the scripts that start their own etcd and servers share (sourced):
# a scratch directory and the pids to stop, both cleaned up on exit, free
# loopback ports, and a fresh etcd.
#
#   scratch_init NAME      $work: a new directory ${BENCH_TMPDIR:-/tmp}/NAME-XXXXXX;
#                          $pids: empty; on exit every pid is killed and $work removed
#   free_port              prints a free TCP port on 127.0.0.1
#   start_etcd DIR         an etcd with its data and log in DIR, on free ports;
#                          sets ETCD_URL and ETCD_PID (also in $pids)

scratch_init() {
    work=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/$1-XXXXXX")
    pids=()
    trap scratch_cleanup EXIT
}

scratch_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_etcd() {
    local dir=$1 client peer
    client=$(free_port); peer=$(free_port)
    etcd --name scratch --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "scratch=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
    ETCD_PID=$!
    pids+=("$ETCD_PID")
    ETCD_URL="http://127.0.0.1:$client"
}
