#!/usr/bin/env bash
# Watch delivery under paced load, our apiserver and upstream kube-apiserver
# side by side in one run (`hack/bench-apiserver.sh upstream KUBE_APISERVER`).
#
# Both servers get the same setup: a fresh etcd of their own, TLS with a
# self-signed serving pair (--cert-dir), a static bearer token, AlwaysAllow,
# a ServiceAccount key pair. The same client, ../shared/bench/apiload.py,
# then creates 1,500 pods at 300/s (64 in flight) while 10 watchers follow the
# namespace, and reports when each watcher saw each pod after its create was
# sent and after its response arrived. Rounds alternate the two servers so
# that other load on the machine hits both alike; the table shows each
# round and the median of the rounds.
#
# Sourced by hack/bench-apiserver.sh with the repo root as the working dir;
# expects OURS (our apiserver binary) and UPSTREAM (kube-apiserver) set.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
RATE=${RATE:-300}
COUNT=${COUNT:-1500}
APILOAD=${APILOAD:-$(cd .. && pwd)/shared/bench/apiload.py}
[ -f "$APILOAD" ] || { echo "apiload.py not found at $APILOAD (set APILOAD=)" >&2; exit 1; }
[ -x "$UPSTREAM" ] || { echo "not an executable: $UPSTREAM" >&2; exit 1; }

# apiload needs aiohttp: a venv of its own under target/.
venv=target/benchenv
if ! "$venv/bin/python" -c 'import aiohttp' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q aiohttp
fi

source hack/lib/scratch.sh
scratch_init bench-upstream

openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token,bench,bench-uid,system:masters" >"$work/tokens.csv"

# wait_ready URL: until /readyz answers 200 (30 s).
wait_ready() {
    for _ in $(seq 300); do
        if [ "$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$1/readyz")" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "$1 never became ready" >&2
    return 1
}

# round NAME: one fresh etcd + server NAME (ours|upstream), one apiload run;
# appends apiload's JSON line to $work/NAME.jsonl.
round() {
    local name=$1 dir="$work/$1-$2" port
    mkdir -p "$dir"
    start_etcd "$dir"
    port=$(free_port)
    local common=(--etcd-servers "$ETCD_URL" --bind-address 127.0.0.1 --secure-port "$port"
        --cert-dir "$dir/certs" --token-auth-file "$work/tokens.csv" --authorization-mode AlwaysAllow
        --service-account-issuer https://kubernetes.default.svc
        --service-account-key-file "$work/sa.pub" --service-account-signing-key-file "$work/sa.key"
        --service-cluster-ip-range 10.96.0.0/16)
    if [ "$name" = ours ]; then
        "$OURS" "${common[@]}" >"$dir/server.log" 2>&1 &
    else
        "$UPSTREAM" "${common[@]}" --advertise-address 10.0.0.1 >"$dir/server.log" 2>&1 &
    fi
    local server=$!
    pids+=("$server")
    wait_ready "https://127.0.0.1:$port"
    sleep 1
    "$venv/bin/python" "$APILOAD" --server "https://127.0.0.1:$port" --insecure --token "$token" \
        --kind pods --rate "$RATE" --concurrency 64 --count "$COUNT" --watchers 10 --list-repeats 1 \
        2>"$dir/apiload.log" | tail -1 >>"$work/$name.jsonl"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    kill "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    round ours "$r"
    round upstream "$r"
    echo "round $r of $ROUNDS done (load $(cut -d' ' -f1 /proc/loadavg))"
done

python3 - "$work" "$RATE" "$COUNT" <<'EOF'
import json, statistics, sys
work, rate, count = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {n: [json.loads(l) for l in open(f"{work}/{n}.jsonl") if l.strip()] for n in ("ours", "upstream")}
keys = [("watch_delivery_p50_ms", "delivery after the send, p50"),
        ("watch_delivery_p99_ms", "delivery after the send, p99"),
        ("watch_after_ack_p50_ms", "delivery after the response, p50"),
        ("watch_after_ack_p99_ms", "delivery after the response, p99"),
        ("create_p50_ms", "create p50"), ("create_p99_ms", "create p99")]
print(f"\napiload --rate {rate} --concurrency 64 --count {count} --watchers 10 (pods), "
      f"{len(runs['ours'])} rounds each, alternating\n")
print("| measure (ms) | ours, per round | upstream, per round | ours (median) | upstream (median) | upstream / ours |")
print("| --- | --- | --- | --- | --- | --- |")
for k, label in keys:
    o = [r.get(k) for r in runs["ours"] if r.get(k) is not None]
    u = [r.get(k) for r in runs["upstream"] if r.get(k) is not None]
    if not o or not u:
        continue
    mo, mu = statistics.median(o), statistics.median(u)
    ratio = f"{mu / mo:.1f}x" if mo > 0 else "-"
    print(f"| {label} | {' / '.join(f'{x:.2f}' for x in o)} | {' / '.join(f'{x:.2f}' for x in u)} "
          f"| {mo:.2f} | {mu:.2f} | {ratio} |")
for n in ("ours", "upstream"):
    for r in runs[n]:
        if r.get("errors") or r.get("watch_events_received") != r.get("watch_events_expected"):
            print(f"note: {n}: {r.get('errors')} errors, {r.get('watch_events_received')} of "
                  f"{r.get('watch_events_expected')} events; samples {r.get('error_samples')}")
EOF
