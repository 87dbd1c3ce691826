#!/usr/bin/env bash
# Our kubectl against the upstream one, process start to exit, side by side
# on the same apiserver: `get pods` over 1,000 pods (cold and warm discovery
# cache) and `apply -f` of 50 objects. Prints a Markdown table.
#
# usage: hack/bench-kubectl.sh [RUNS]            (starts etcd + apiserver)
#        SERVER=http://127.0.0.1:8080 hack/bench-kubectl.sh [RUNS]
#
# Our binary: target/release/kubectl if built (cargo build --release -p
# kubectl), else target/debug/kubectl. Upstream: /usr/bin/kubectl (or $KUBECTL).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
OURS=${OURS:-target/release/kubectl}
[ -x "$OURS" ] || OURS=target/debug/kubectl
REAL=${KUBECTL:-/usr/bin/kubectl}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -z "${SERVER:-}" ]; then
    EP=$(free_port); PP=$(free_port); AP=$(free_port)
    etcd --name bench --data-dir "$WORK/etcd" \
        --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
        --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
        --initial-cluster "bench=http://127.0.0.1:$PP" >"$WORK/etcd.log" 2>&1 &
    PIDS+=($!)
    sleep 1
    target/debug/apiserver --etcd-servers "http://127.0.0.1:$EP" --bind-address 127.0.0.1 \
        --port "$AP" >"$WORK/apiserver.log" 2>&1 &
    PIDS+=($!)
    SERVER="http://127.0.0.1:$AP"
    for _ in $(seq 100); do curl -sf "$SERVER/readyz" >/dev/null && break; sleep 0.1; done
fi
export KUBECONFIG=/dev/null

NS=bench-$$
"$REAL" --server "$SERVER" create namespace "$NS" >/dev/null
# 1,000 pods (no scheduler needed: they stay Pending, which is all `get` reads).
python3 - "$SERVER" "$NS" <<'PY'
import json, sys, urllib.request, concurrent.futures
server, ns = sys.argv[1], sys.argv[2]
def make(i):
    body = json.dumps({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"pod-{i:04d}", "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}).encode()
    req = urllib.request.Request(f"{server}/api/v1/namespaces/{ns}/pods", data=body,
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    list(ex.map(make, range(1000)))
PY
# 50 objects for apply.
for i in $(seq -w 1 50); do
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%s}\ndata: {k: v%s}\n---\n' "$i" "$i"
done >"$WORK/fifty.yaml"

# time_ms CMD...: wall time of one run in milliseconds.
time_ms() {
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s%N)
    echo $(((e - s) / 1000000))
}

# stats: mean / median / min of numbers on stdin.
stats() { sort -n | awk '{a[NR]=$1; s+=$1} END {printf "%.0f | %.0f | %.0f", s/NR, a[int((NR+1)/2)], a[1]}'; }

bench() { # name binary mode args...
    local name=$1 bin=$2 mode=$3; shift 3
    local cache="$WORK/cache-$name-$RANDOM"
    mkdir -p "$cache"
    for _ in $(seq "$RUNS"); do
        [ "$mode" = cold ] && rm -rf "$cache" && mkdir -p "$cache"
        time_ms "$bin" --server "$SERVER" --cache-dir "$cache" "$@"
    done | stats
}

# Both must print the same table (ages aside) before they are timed.
noage() { awk '{$NF=""; print}'; }
if ! diff <("$OURS" --server "$SERVER" -n "$NS" get pods | noage) <("$REAL" --server "$SERVER" -n "$NS" get pods | noage) >/dev/null; then
    echo "outputs differ; not benchmarking" >&2
    exit 1
fi
# Create the 50 objects once (with ours), so the timed applies compare like with like.
"$OURS" --server "$SERVER" -n "$NS" apply -f "$WORK/fifty.yaml" >/dev/null

echo "| command | binary | mean ms | median ms | min ms |"
echo "|---|---|---|---|---|"
for case in "version --client (start-up only)|warm|version --client" \
            "get pods (empty namespace), warm cache|warm|-n kube-public get pods" \
            "get pods (1,000), cold cache|cold|-n $NS get pods" \
            "get pods (1,000), warm cache|warm|-n $NS get pods" \
            "apply -f (50 objects, unchanged), warm cache|warm|-n $NS apply -f $WORK/fifty.yaml"; do
    IFS='|' read -r title mode args <<<"$case"
    # shellcheck disable=SC2086
    echo "| $title | ours | $(bench ours "$OURS" "$mode" $args) |"
    # shellcheck disable=SC2086
    echo "| $title | upstream | $(bench real "$REAL" "$mode" $args) |"
done
# Reference: the server's own share, the same Table request made by curl.
ACCEPT='application/json;as=Table;v=v1;g=meta.k8s.io,application/json'
curl_table() { curl -sf -H "Accept: $ACCEPT" "$SERVER/api/v1/namespaces/$NS/pods" -o /dev/null; }
echo "| get pods (1,000): the server's Table (one unpaged request) fetched by curl, reference | curl | $(for _ in $(seq "$RUNS"); do time_ms curl_table; done | stats) |"
echo
echo "runs per cell: $RUNS; ours: $OURS ($(du -h "$OURS" | cut -f1)); upstream: $("$REAL" version --client 2>/dev/null | head -1)"
