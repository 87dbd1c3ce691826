#!/usr/bin/env bash
# Upstream's own control plane against our apiserver: the v1.36
# kube-scheduler and kube-controller-manager, built from the same source
# tree as the conformance kit (hack/lib/conformance-kit.sh build puts them
# in KIT/bin), run unchanged against a real etcd and our apiserver.
#
#   hack/upstream-components.sh KIT [--pods N] [--nodes N]
#
# 1. The scheduler: N fake nodes (Node objects with capacity and a Ready
#    condition; nothing runs the pods) and N pods; every pod must be bound,
#    and the scheduler's log must show no failed list or watch (its
#    informers list every kind the scheduling plugins read: volumes, CSI,
#    DRA, PDBs, ...).
# 2. The controller-manager with its default controllers: a Deployment
#    becomes a ReplicaSet and pods (which the upstream scheduler binds), a
#    namespace is created and deleted (the namespace controller visits every
#    kind), and its log must show no failed list or watch either.
#
# Prints the figures and exits non-zero on any failure. Not part of
# hack/test.sh: the kit's Go build alone takes longer than CI allows.
set -euo pipefail
cd "$(dirname "$0")/.."

kit="${1:?usage: hack/upstream-components.sh KIT [--pods N] [--nodes N]}"
shift
pods=1000
nodes=50
while [ $# -gt 0 ]; do
    case "$1" in
        --pods) pods="$2"; shift 2 ;;
        --nodes) nodes="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
kit="$(cd "$kit" && pwd)"
for b in kube-scheduler kube-controller-manager; do
    [ -x "$kit/bin/$b" ] || { echo "$kit/bin/$b is missing: run hack/lib/conformance-kit.sh build TREE $kit" >&2; exit 1; }
done
bin="${LAB_BIN:-$PWD/target/release}"
[ -x "$bin/apiserver" ] || { echo "$bin/apiserver is missing: cargo build --release -p apiserver (or set LAB_BIN)" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd is missing (apt-get install etcd-server)" >&2; exit 1; }

source hack/lib/scratch.sh
scratch_init upstream-components
api_port=$(free_port)
server="http://127.0.0.1:$api_port"

start_etcd "$work"
"$bin/apiserver" --etcd-servers "$ETCD_URL" --bind-address 127.0.0.1 \
    --port "$api_port" --secure-port 0 >"$work/apiserver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$server/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$server/readyz" >/dev/null || { echo "our apiserver did not come up:"; tail -20 "$work/apiserver.log"; exit 1; }

cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server"}}]
users: [{name: admin, user: {}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
EOF
k() { kubectl --kubeconfig "$work/kubeconfig" "$@"; }

# Errors of a component's informers in its log: failed lists and watches,
# kinds the server does not serve, caches that never sync. (Controllers'
# own sync errors are not counted: upstream logs them too, e.g. a
# ReplicaSet that may not create pods in a namespace being deleted.)
list_errors() {
    grep -E 'Failed to watch|failed to list|Failed to list|the server could not find the requested resource|failed to sync|Timed out waiting for caches' "$1" || true
}

echo ">>> $nodes fake nodes, $pods pods"
python3 - "$server" "$nodes" "$pods" <<'PY'
import json, sys, urllib.request
server, nodes, pods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def post(path, body):
    req = urllib.request.Request(server + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
cap = {"cpu": "32", "memory": "256Gi", "pods": "110"}
for i in range(nodes):
    name = f"fake-node-{i}"
    post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
         "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    status = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
              "status": {"capacity": cap, "allocatable": cap,
                         "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                         "message": "fake node"}]}}
    req = urllib.request.Request(server + f"/api/v1/nodes/{name}/status", data=json.dumps(status).encode(),
                                 headers={"Content-Type": "application/merge-patch+json"}, method="PATCH")
    urllib.request.urlopen(req).read()
post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}})
post("/api/v1/namespaces/load/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
for i in range(pods):
    post("/api/v1/namespaces/load/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}"},
         "spec": {"automountServiceAccountToken": False,
                  "containers": [{"name": "c", "image": "busybox",
                                  "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}})
PY

echo ">>> upstream kube-scheduler"
start=$(date +%s.%N)
"$kit/bin/kube-scheduler" --kubeconfig "$work/kubeconfig" --leader-elect=false --secure-port 0 \
    >"$work/scheduler.log" 2>&1 &
pids+=($!)
bound=0
for _ in $(seq 600); do
    bound=$(k get pods -n load -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -c . || true)
    [ "$bound" -ge "$pods" ] && break
    sleep 0.5
done
took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
used=$(k get pods -n load -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c . || true)
sched_errors=$(list_errors "$work/scheduler.log")
echo "bound $bound of $pods pods onto $used nodes in ${took}s (scheduler start included)"
failed=0
if [ "$bound" -lt "$pods" ]; then echo "FAIL: not every pod was bound"; failed=1; fi
if [ -n "$sched_errors" ]; then echo "FAIL: the scheduler's log shows list/watch errors:"; echo "$sched_errors" | head -20; failed=1; fi

echo ">>> upstream kube-controller-manager"
"$kit/bin/kube-controller-manager" --kubeconfig "$work/kubeconfig" --leader-elect=false --secure-port 0 \
    --controllers='*' >"$work/controller-manager.log" 2>&1 &
pids+=($!)
k create namespace cm-check >/dev/null
k -n cm-check create deployment web --image=busybox --replicas=3 >/dev/null
ready=""
for _ in $(seq 120); do
    rs=$(k -n cm-check get rs -o name | grep -c . || true)
    running=$(k -n cm-check get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -c . || true)
    if [ "$rs" -ge 1 ] && [ "$running" -ge 3 ]; then ready=yes; break; fi
    sleep 0.5
done
if [ -z "$ready" ]; then echo "FAIL: the Deployment did not become a ReplicaSet with 3 bound pods"; failed=1;
else echo "a Deployment became a ReplicaSet and 3 pods, bound by the upstream scheduler"; fi
# Pods bound to fake nodes never finish terminating (no kubelet confirms),
# so the namespace deleted is one without pods.
k create namespace ns-check >/dev/null
k -n ns-check create configmap c --from-literal=a=b >/dev/null
k -n ns-check create secret generic s --from-literal=a=b >/dev/null
k -n ns-check create service clusterip svc --tcp=80:80 >/dev/null
k -n ns-check create role r --verb=get --resource=pods >/dev/null
k delete namespace ns-check --wait=false >/dev/null
gone=""
for _ in $(seq 120); do
    k get namespace ns-check >/dev/null 2>&1 || { gone=yes; break; }
    sleep 0.5
done
if [ -z "$gone" ]; then echo "FAIL: the namespace controller did not finish deleting a namespace"; failed=1;
else echo "a namespace was emptied and deleted by the upstream namespace controller"; fi
cm_errors=$(list_errors "$work/controller-manager.log")
if [ -n "$cm_errors" ]; then echo "FAIL: the controller-manager's log shows list/watch errors:"; echo "$cm_errors" | head -20; failed=1; fi
sched_errors=$(list_errors "$work/scheduler.log")
if [ -n "$sched_errors" ]; then echo "FAIL: the scheduler's log shows list/watch errors:"; echo "$sched_errors" | head -20; failed=1; fi

if [ "$failed" -ne 0 ]; then
    mkdir -p /tmp/upstream-components-logs
    cp "$work"/*.log /tmp/upstream-components-logs/
    echo "logs kept in /tmp/upstream-components-logs"
    exit 1
fi
echo "PASS: upstream kube-scheduler and kube-controller-manager ran against our apiserver with no list or watch errors"
