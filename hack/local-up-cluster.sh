#!/usr/bin/env bash
# The local lab: a whole multi-node cluster on this machine.
#
#   hack/local-up-cluster.sh [--name NAME] [--nodes N] [--no-demo] [up|down|status]
#   hack/local-up-cluster.sh [--name NAME] stop-kubelet I | start-kubelet I
#   hack/local-up-cluster.sh [--name NAME] kill COMPONENT | restart COMPONENT
#
# `up` (the default) installs what is missing, builds release binaries, and
# starts, all for this lab only:
#   - a private network: a bridge inside a "switch" network namespace, one
#     network namespace per node plugged into it (10.200.X.11, .12, ...), and
#     one veth into the host (10.200.X.1) where the control plane listens;
#   - a cluster CA (a self-signed certificate and its key in $LAB_DIR/pki/),
#     which signs a certificate for every component (make_pki: who is who)
#     and is published in every namespace as the ConfigMap kube-root-ca.crt
#     by the controller-manager (--root-ca-file); a kubeconfig per identity
#     in $LAB_DIR/kubeconfigs/ (the admin's is $LAB_DIR/kubeconfig);
#   - etcd (loopback), the apiserver (HTTPS only: client certificates,
#     ServiceAccount tokens, Node,RBAC authorization), scheduler and
#     controller-manager, each with its own identity;
#   - a local registry on 10.200.X.1 holding the busybox-based test images,
#     which every kubelet uses as its docker.io mirror (so manifests say
#     `image: busybox:1.36`);
#   - one kubelet per node, inside that node's network namespace, serving
#     its API over TLS to callers the apiserver authorizes;
# then applies manifests/examples/ and prints `export KUBECONFIG=...` last.
# `down` stops every process, container, mount, cgroup and namespace of the
# lab and removes its directory; `status` shows what runs. `kill` sends
# SIGKILL to one component (etcd, apiserver, scheduler, controller-manager,
# kubelet-node-I, registry) and `restart` starts it again with the command
# line it was first started with (hack/chaos.sh uses both). Labs with
# different names run side by side. Logs: $LAB_DIR/logs/.
#
# Environment: LAB_DIR (default /var/tmp/minik8s-NAME), LAB_BIN (use these
# binaries and skip the release build; the tests pass target/debug),
# LAB_CONTROLLER_MANAGER_FLAGS (extra flags, e.g. a shorter
# --node-monitor-grace-period), LAB_NETWORK_PLUGIN (the kubelets'
# networkPlugin: cni, the default, or kubenet, the built-in bridge).
#
# Nothing is routed or NATed by the host: the host only talks to addresses on
# its own veth into the lab, and forwarding is enabled only inside the node
# namespaces (so pods reach pods on other nodes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source hack/lib/deps.sh

NAME=lab
NODES=2
ACTION=up
DEMO=1
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME=$2; shift 2 ;;
        --name=*) NAME=${1#--name=}; shift ;;
        --nodes) NODES=$2; shift 2 ;;
        --nodes=*) NODES=${1#--nodes=}; shift ;;
        --no-demo) DEMO=0; shift ;;
        up|down|status) ACTION=$1; shift ;;
        start-kubelet|stop-kubelet) ACTION=$1; NODE_ARG=${2:?$1 needs a node number}; shift 2 ;;
        kill|restart) ACTION=$1; COMP_ARG=${2:?$1 needs a component}; shift 2 ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$NAME" in
    *[!a-z0-9-]*|"") echo "--name must be lower-case letters, digits and dashes" >&2; exit 2 ;;
esac
case "$NODES" in
    ''|*[!0-9]*) echo "--nodes must be a number" >&2; exit 2 ;;
esac
if [ "$NODES" -lt 1 ] || [ "$NODES" -gt 50 ]; then
    echo "--nodes must be between 1 and 50" >&2; exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "the lab needs root (network namespaces, cgroups, mounts)" >&2; exit 1
fi

LAB_DIR=${LAB_DIR:-/var/tmp/minik8s-$NAME}
BIN=${LAB_BIN:-$ROOT/target/release}
NS_PREFIX="mk-$NAME"
KUBECTL=(kubectl --cache-dir "$LAB_DIR/kube-cache")

free_port() {
    free_ports 1
}

# free_ports N: N distinct free ports, all held open until all are chosen (ports
# asked for one at a time can come back twice: the kernel reuses a port its
# last owner just closed).
free_ports() {
    python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
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

# kill_cgroup DIR: kills every process in a cgroup tree, then removes it.
kill_cgroup() {
    local dir=$1
    [ -d "$dir" ] || return 0
    local procs
    for _ in 1 2 3 4 5; do
        procs=$(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
        [ -z "$procs" ] && break
        # shellcheck disable=SC2086
        kill -9 $procs 2>/dev/null || true
        sleep 0.2
    done
    find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

down() {
    if [ ! -d "$LAB_DIR" ]; then
        echo "lab $NAME is not running"
        return 0
    fi
    # Kubelets first, so nothing restarts containers while we remove them.
    for pidfile in "$LAB_DIR"/pids/kubelet-*.pid; do
        [ -e "$pidfile" ] && stop "$pidfile"
    done
    # Containers outlive their kubelet by design: remove every pod sandbox
    # through the runtime, then kill whatever is left by cgroup and by the
    # lab directory on the command line (monitors, sandbox holders).
    local node
    for node in "$LAB_DIR"/nodes/*/; do
        [ -f "$node/kubelet.yaml" ] || continue
        local ids
        ids=$("$BIN/kubelet" ctl --root-dir "$node/root" --config "$node/kubelet.yaml" pods -q 2>/dev/null || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            "$BIN/kubelet" ctl --root-dir "$node/root" --config "$node/kubelet.yaml" rmp $ids >/dev/null 2>&1 || true
        fi
    done
    local cg
    for cg in /sys/fs/cgroup/*/"$NS_PREFIX"-* /sys/fs/cgroup/"$NS_PREFIX"-*; do
        [ -d "$cg" ] && kill_cgroup "$cg"
    done
    local pid
    for pid in $(pgrep -f -- "$LAB_DIR/" || true); do
        [ "$pid" = $$ ] || kill -9 "$pid" 2>/dev/null || true
    done
    for pidfile in "$LAB_DIR"/pids/*.pid; do
        [ -e "$pidfile" ] && stop "$pidfile"
    done
    # Mounts under the lab directory, deepest first.
    local m
    for m in $(awk -v d="$LAB_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NS_PREFIX-(sw|n[0-9]+)$" || true); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ -f "$LAB_DIR/subnet" ]; then
        ip link del "mk$(cat "$LAB_DIR/subnet")" 2>/dev/null || true
    fi
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
    KUBECONFIG=$LAB_DIR/kubeconfig "${KUBECTL[@]}" get nodes -o wide 2>/dev/null || true
    echo "export KUBECONFIG=$LAB_DIR/kubeconfig"
}

# The cluster CA: a self-signed EC P-256 certificate valid for ten years,
# kept with its key in $1 (ca.crt, ca.key). It signs every certificate below.
make_ca() {
    local dir=$1
    if [ -s "$dir/ca.crt" ] && [ -s "$dir/ca.key" ]; then
        return
    fi
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 -subj "/CN=minik8s-$NAME-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    chmod 600 "$dir/ca.key"
}

# sign NAME SUBJECT EXTENSIONS: a new key pki/NAME.key and a certificate
# pki/NAME.crt for SUBJECT (e.g. /O=system:nodes/CN=system:node:node-1),
# signed by the lab CA (or the CA in the folder $CA_DIR names). Who a
# client is, for the apiserver and the kubelets, is written in its subject:
# the CommonName is the user, each Organization a group.
sign() {
    local name=$1 subject=$2 ext=$3 dir="$LAB_DIR/pki"
    local ca=${CA_DIR:-$dir}
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "$subject" 2>/dev/null
    printf '%s\n' "$ext" >"$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
        -CAcreateserial -days 365 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
    rm -f "$dir/$name.csr" "$dir/$name.ext"
    chmod 600 "$dir/$name.key"
}

# client_cert NAME SUBJECT: a certificate that proves who a client is.
client_cert() {
    sign "$1" "$2" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
}

# serving_cert NAME SUBJECT SANS: a server's certificate, valid for the
# names and addresses clients dial (SANS: DNS:x,IP:y,...).
serving_cert() {
    sign "$1" "$2" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$3"
}

# make_pki HOST_IP: every identity of the lab, signed by its CA.
# An EncryptionConfiguration for Secrets: aescbc with a random 32-byte key,
# then identity so data written before encryption was on still reads. The
# key is made once per lab: etcd's data outlives a restart of the lab, and
# a new key would leave the old Secrets unreadable.
write_encryption_config() {
    local file=$1
    [ -s "$file" ] && return 0
    local key
    key=$(head -c 32 /dev/urandom | base64)
    (umask 077; cat >"$file" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: $key
      - identity: {}
EOF
    )
}

# The audit policy: who did what, without bodies (Metadata), and nothing
# for the health checks and Events that would drown the rest.
write_audit_policy() {
    cat >"$1" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version", "/metrics"]
  - level: None
    resources:
      - group: ""
        resources: [events]
      - group: events.k8s.io
        resources: [events]
  - level: Metadata
EOF
}

make_pki() {
    local host_ip=$1 dir="$LAB_DIR/pki" i
    # The apiserver's serving certificate: every name it is dialed by, from
    # the host, from the nodes, and from pods (the `kubernetes` Service's
    # ClusterIP, the first address of the service range, and its DNS names).
    serving_cert apiserver "/CN=kube-apiserver" \
        "IP:$host_ip,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    # The users of the API. system:masters is bound to cluster-admin.
    client_cert admin "/O=system:masters/CN=kubernetes-admin"
    client_cert scheduler "/CN=system:kube-scheduler"
    client_cert controller-manager "/CN=system:kube-controller-manager"
    for i in $(seq 1 "$NODES"); do
        # A kubelet is system:node:<name> in system:nodes: the Node
        # authorizer lets it touch only its own Node and its pods' objects.
        client_cert "kubelet-node-$i" "/O=system:nodes/CN=system:node:node-$i"
        serving_cert "kubelet-node-$i-serving" "/CN=node-$i" \
            "IP:10.200.$(cat "$LAB_DIR/subnet").$((10 + i)),DNS:node-$i"
    done
    # Who the apiserver is when it calls a kubelet (logs, exec, port-forward);
    # manifests/cluster/kubelet-api-admin.yaml binds it to system:kubelet-api-admin.
    client_cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
    # Who the apiserver is when it proxies to an extension apiserver (an
    # APIService's Service): a CA of its own, as kubeadm's front-proxy-ca,
    # so extension servers believe the X-Remote-User headers of this
    # certificate only. The apiserver publishes the CA for them in
    # kube-system/extension-apiserver-authentication.
    mkdir -p "$dir/front-proxy"
    make_ca "$dir/front-proxy"
    CA_DIR="$dir/front-proxy" client_cert front-proxy-client "/CN=front-proxy-client"
    # ServiceAccount tokens: the apiserver signs with the private key and
    # checks with the public one.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/sa.key" 2>/dev/null
    openssl pkey -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
    chmod 600 "$dir/sa.key"
}

# kubeconfig FILE CERT SERVER: a kubeconfig for SERVER that trusts the lab CA
# and authenticates with pki/CERT.crt and pki/CERT.key.
kubeconfig() {
    local file=$1 cert=$2 server=$3
    cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $NAME
  cluster:
    server: $server
    certificate-authority: $LAB_DIR/pki/ca.crt
users:
- name: $cert
  user:
    client-certificate: $LAB_DIR/pki/$cert.crt
    client-key: $LAB_DIR/pki/$cert.key
contexts:
- name: $NAME
  context:
    cluster: $NAME
    user: $cert
current-context: $NAME
KUBECONFIG
    chmod 600 "$file"
}

# start COMP CMD...: runs CMD in the background, logging to logs/COMP.log;
# the command line is kept in cmds/COMP for `restart`.
start() {
    local comp=$1; shift
    mkdir -p "$LAB_DIR/cmds"
    printf '%q ' "$@" >"$LAB_DIR/cmds/$comp"
    "$@" >>"$LAB_DIR/logs/$comp.log" 2>&1 &
    echo $! >"$LAB_DIR/pids/$comp.pid"
}

component_file() {
    case "$1" in
        *[!a-z0-9-]*|"") echo "bad component name: $1" >&2; exit 2 ;;
    esac
    if [ ! -e "$LAB_DIR/$2/$1${3:-}" ]; then
        echo "lab $NAME has no component $1" >&2; exit 1
    fi
    echo "$LAB_DIR/$2/$1${3:-}"
}

# kill_component COMP: SIGKILL, and wait until the process is gone.
kill_component() {
    local pidfile pid
    pidfile=$(component_file "$1" pids .pid)
    pid=$(cat "$pidfile")
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    echo "$1 (pid $pid) did not die" >&2; return 1
}

# restart_component COMP: starts COMP again with its first command line.
restart_component() {
    local cmdfile pidfile
    cmdfile=$(component_file "$1" cmds)
    pidfile="$LAB_DIR/pids/$1.pid"
    if [ -e "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "$1 is still running" >&2; return 1
    fi
    local -a cmd
    eval "cmd=($(cat "$cmdfile"))"
    start "$1" "${cmd[@]}"
}

wait_for() {
    local what=$1; shift
    for _ in $(seq 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "$what did not come up; see $LAB_DIR/logs/" >&2
    return 1
}

# A /24 in 10.200.0.0/16 no other lab (or anything else) on this host uses.
pick_subnet() {
    local x
    for x in $(seq 1 250); do
        if ! ip -4 addr show 2>/dev/null | grep -q "inet 10\.200\.$x\."; then
            if ! ip link show "mk$x" >/dev/null 2>&1; then
                echo "$x"
                return 0
            fi
        fi
    done
    echo "no free 10.200.X.0/24 for the lab network" >&2
    return 1
}

network_up() {
    local x=$1
    local sw="$NS_PREFIX-sw"
    ip netns add "$sw"
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge
    ip -n "$sw" link set br0 up
    # The host's leg: the control plane and the registry listen on it.
    ip link add "mk$x" type veth peer name host netns "$sw"
    ip addr add "10.200.$x.1/24" dev "mk$x"
    ip link set "mk$x" up
    ip -n "$sw" link set host master br0 up
    local i
    for i in $(seq 1 "$NODES"); do
        local ns="$NS_PREFIX-n$i"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$sw" link add "n$i" type veth peer name eth0 netns "$ns"
        ip -n "$sw" link set "n$i" master br0 up
        ip -n "$ns" addr add "10.200.$x.$((10 + i))/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

# start_kubelet I: starts node I's kubelet inside the node's network
# namespace (the host's mount namespace: the kubelet's mounts are visible to
# `down` and to a restarted kubelet).
start_kubelet() {
    local i=$1 x
    x=$(cat "$LAB_DIR/subnet")
    local dir="$LAB_DIR/nodes/node-$i"
    start "kubelet-node-$i" nsenter --net="/run/netns/$NS_PREFIX-n$i" \
        "$BIN/kubelet" --kubeconfig "$LAB_DIR/kubeconfigs/kubelet-node-$i.kubeconfig" \
        --hostname-override "node-$i" \
        --node-ip "10.200.$x.$((10 + i))" --root-dir "$dir/root" --config "$dir/kubelet.yaml"
}

up() {
    if [ -d "$LAB_DIR" ]; then
        echo ">>> cleaning up an earlier lab $NAME"
        down >/dev/null
    fi
    # Leftovers of a lab whose directory was removed by hand.
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NS_PREFIX-(sw|n[0-9]+)$" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    ensure_packages "${PROJECT_PACKAGES[@]}"
    if [ -z "${LAB_BIN:-}" ]; then
        echo ">>> building release binaries"
        # container-runtime: the small binary the kubelet execs for its
        # per-container monitors (it falls back to itself without it).
        cargo build --release --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p container-runtime -p kubectl
    fi

    mkdir -p "$LAB_DIR"/{logs,pids,etcd,nodes,registry,pki,kubeconfigs,certs}
    make_ca "$LAB_DIR/pki"
    local x
    # Labs starting side by side (the tests do) must not pick the same
    # subnet: choosing it and creating its host link is one step under a
    # host-wide lock. The lock's fd is closed again so no component keeps it.
    exec 8>/run/minik8s-lab-network.lock
    flock 8
    x=$(pick_subnet)
    echo "$x" >"$LAB_DIR/subnet"
    local host_ip="10.200.$x.1"
    echo ">>> network 10.200.$x.0/24: host $host_ip, $NODES node namespace(s) $NS_PREFIX-n1..n$NODES"
    network_up "$x"
    # Pod addresses: a /20 of 172.16.0.0/12 that only this lab uses (x is
    # its network number; 16 nodes of a /24 each), so the host can route it
    # to this lab without clashing with a lab running beside it. The route
    # lets the apiserver reach pods (admission webhooks, aggregated APIs,
    # upstream's --enable-aggregator-routing way): node 1 forwards to the
    # other nodes over their host-gw routes. Without it that traffic would
    # follow the host's default route off the machine.
    local cluster_cidr="172.$((16 + x / 16)).$(((x % 16) * 16)).0/20"
    echo "$cluster_cidr" >"$LAB_DIR/cluster-cidr"
    ip route replace "$cluster_cidr" via "10.200.$x.11" dev "mk$x"
    flock -u 8
    exec 8>&-
    echo ">>> certificates and kubeconfigs in $LAB_DIR/pki/ and $LAB_DIR/kubeconfigs/"
    make_pki "$host_ip"

    local etcd_port peer_port api_port reg_port
    read -r etcd_port peer_port api_port reg_port <<<"$(free_ports 4)"
    echo ">>> etcd on 127.0.0.1:$etcd_port"
    start etcd etcd --name "minik8s-$NAME" --data-dir "$LAB_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "minik8s-$NAME=http://127.0.0.1:$peer_port" \
        --max-request-bytes 2097152
    wait_for etcd etcdctl --endpoints "http://127.0.0.1:$etcd_port" endpoint health

    echo ">>> apiserver on https://$host_ip:$api_port"
    # HTTPS only (no --port): every client shows a certificate the lab CA
    # signed or a ServiceAccount token, and Node,RBAC decides what it may do.
    # Secrets are encrypted in etcd and every request is audited
    # (docs/security.md shows how to look at both).
    local pki="$LAB_DIR/pki"
    write_encryption_config "$LAB_DIR/encryption-config.yaml"
    write_audit_policy "$LAB_DIR/audit-policy.yaml"
    start apiserver "$BIN/apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address "$host_ip" --secure-port "$api_port" \
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --client-ca-file "$pki/ca.crt" --authorization-mode Node,RBAC \
        --service-account-key-file "$pki/sa.pub" \
        --service-account-signing-key-file "$pki/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$pki/ca.crt" \
        --proxy-client-cert-file "$pki/front-proxy-client.crt" \
        --proxy-client-key-file "$pki/front-proxy-client.key" \
        --requestheader-client-ca-file "$pki/front-proxy/ca.crt" \
        --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User \
        --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --encryption-provider-config "$LAB_DIR/encryption-config.yaml" \
        --audit-policy-file "$LAB_DIR/audit-policy.yaml" \
        --audit-log-path "$LAB_DIR/audit.log" \
        --audit-log-maxsize 100 --audit-log-maxbackup 3
    # /readyz is open to anonymous callers (system:public-info-viewer).
    wait_for apiserver curl -fsS --cacert "$pki/ca.crt" "https://$host_ip:$api_port/readyz"

    local server="https://$host_ip:$api_port"
    kubeconfig "$LAB_DIR/kubeconfig" admin "$server"
    kubeconfig "$LAB_DIR/kubeconfigs/scheduler.kubeconfig" scheduler "$server"
    kubeconfig "$LAB_DIR/kubeconfigs/controller-manager.kubeconfig" controller-manager "$server"
    local i
    for i in $(seq 1 "$NODES"); do
        kubeconfig "$LAB_DIR/kubeconfigs/kubelet-node-$i.kubeconfig" "kubelet-node-$i" "$server"
    done
    export KUBECONFIG=$LAB_DIR/kubeconfig
    # Bootstrap objects (the cluster DNS Service holds the clusterDNS address).
    "${KUBECTL[@]}" apply -f manifests/cluster/ >/dev/null

    echo ">>> scheduler, controller-manager"
    # /healthz and /metrics over TLS on a free port each (labs run side by
    # side), with a self-signed pair in $LAB_DIR/certs.
    start scheduler "$BIN/scheduler" --kubeconfig "$LAB_DIR/kubeconfigs/scheduler.kubeconfig" \
        --leader-elect=true --secure-port "$(free_port)" --cert-dir "$LAB_DIR/certs"
    start controller-manager "$BIN/controller-manager" \
        --kubeconfig "$LAB_DIR/kubeconfigs/controller-manager.kubeconfig" \
        --leader-elect=true --cluster-cidr "$cluster_cidr" --node-cidr-mask-size 24 \
        --root-ca-file "$LAB_DIR/pki/ca.crt" --use-service-account-credentials \
        --secure-port "$(free_port)" --cert-dir "$LAB_DIR/certs" ${LAB_CONTROLLER_MANAGER_FLAGS:-}

    echo ">>> registry on $host_ip:$reg_port (docker.io mirror with the test images)"
    cat >"$LAB_DIR/registry/config.yml" <<REGISTRY
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $LAB_DIR/registry/data
http:
  addr: $host_ip:$reg_port
REGISTRY
    start registry docker-registry serve "$LAB_DIR/registry/config.yml"
    wait_for registry curl -fsS "http://$host_ip:$reg_port/v2/"
    bash hack/lib/test-images.sh build "$ROOT/target/test-images" >"$LAB_DIR/logs/test-images.log" 2>&1
    bash hack/lib/test-images.sh push "$ROOT/target/test-images" "$host_ip:$reg_port" >>"$LAB_DIR/logs/test-images.log" 2>&1

    for i in $(seq 1 "$NODES"); do
        local dir="$LAB_DIR/nodes/node-$i"
        mkdir -p "$dir/root" "$dir/pod-logs"
        cat >"$dir/kubelet.yaml" <<KUBELET
maxPods: 110
cgroupDriver: cgroupfs
cgroupRoot: $NS_PREFIX-node-$i
podLogsDir: $dir/pod-logs
clusterDomain: cluster.local
clusterDNS: ["10.96.0.10"]
nodeStatusUpdateFrequency: 10s
# Every lab node shares the host's disk: a developer machine with less than
# 10% free would put every node under DiskPressure and evict every pod, so
# the disk signals are off (as kind does); memory and pids keep upstream's
# defaults.
evictionHard: {memory.available: 100Mi, nodefs.available: "0%", imagefs.available: "0%", pid.available: 5%}
cniConfDir: $dir/root/cni/net.d
networkPlugin: ${LAB_NETWORK_PLUGIN:-cni}
registryMirrors:
  docker.io: ["http://$host_ip:$reg_port"]
# Any registry on the host's leg (the lab's, or one a user or test starts
# there, e.g. a password-protected one) is spoken to over plain HTTP.
insecureRegistries: ["$host_ip"]
# The kubelet API (:10250): the lab CA's certificate for this node, callers
# with a certificate of the lab CA or a token, each asked about by
# SubjectAccessReview; no anonymous access.
tlsCertFile: $LAB_DIR/pki/kubelet-node-$i-serving.crt
tlsPrivateKeyFile: $LAB_DIR/pki/kubelet-node-$i-serving.key
authentication:
  x509: {clientCAFile: $LAB_DIR/pki/ca.crt}
  webhook: {enabled: true}
  anonymous: {enabled: false}
authorization: {mode: Webhook}
KUBELET
        echo ">>> kubelet node-$i on 10.200.$x.$((10 + i))"
        start_kubelet "$i"
    done
    echo ">>> waiting for $NODES node(s) to be Ready"
    wait_for "$NODES Ready node(s)" bash -c "[ \"\$(${KUBECTL[*]} get nodes --no-headers 2>/dev/null | grep -cw Ready)\" = $NODES ]"

    if [ "$DEMO" = 1 ]; then
        echo ">>> applying manifests/examples/"
        "${KUBECTL[@]}" apply -f manifests/examples/
        "${KUBECTL[@]}" rollout status deployment/web --timeout=120s
        "${KUBECTL[@]}" get pods -o wide
    fi

    echo
    echo "Lab $NAME is up. Logs: $LAB_DIR/logs/. Stop it with: hack/local-up-cluster.sh --name $NAME down"
    echo "export KUBECONFIG=$LAB_DIR/kubeconfig"
}

case "$ACTION" in
    start-kubelet) start_kubelet "$NODE_ARG" ;;
    stop-kubelet) stop "$LAB_DIR/pids/kubelet-node-$NODE_ARG.pid" ;;
    kill) kill_component "$COMP_ARG" ;;
    restart) restart_component "$COMP_ARG" ;;
    up) up ;;
    down) down ;;
    status) status ;;
esac
