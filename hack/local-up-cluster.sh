#!/usr/bin/env bash
# The local lab: a whole multi-node cluster on this machine, installed by
# kubeadm exactly as on machines (docs/install.md), into network namespaces.
#
#   hack/local-up-cluster.sh [--name NAME] [--nodes N] [--no-demo] [up|down|status]
#   hack/local-up-cluster.sh [--name NAME] stop-kubelet I | start-kubelet I
#   hack/local-up-cluster.sh [--name NAME] kill COMPONENT | restart COMPONENT
#
# `up` (the default) installs what is missing, builds release binaries, and
# starts, all for this lab only:
#   - a private network: a bridge inside a "switch" network namespace, one
#     network namespace per node plugged into it (10.200.X.11, .12, ...), and
#     one veth into the host (10.200.X.1) where the registry listens;
#   - node 1: `kubeadm init --config` inside its namespace, with every path
#     under $LAB_DIR/nodes/node-1 (`--host-root`) and the units run by
#     `kubeadm supervise` (`--control-plane-runner processes`): etcd (TLS),
#     the apiserver (HTTPS only: client certificates, ServiceAccount tokens,
#     Node,RBAC; Secrets encrypted, requests audited), scheduler,
#     controller-manager and node 1's kubelet;
#   - nodes 2..N: the `kubeadm join` line init printed, each in its own
#     namespace and directory, with its own kubelet settings (`--patches`);
#   - a local registry on 10.200.X.1 holding the busybox-based test images,
#     which every kubelet uses as its docker.io mirror (so manifests say
#     `image: busybox:1.36`);
# then applies manifests/cluster/ and manifests/examples/ and prints
# `export KUBECONFIG=...` last. The admin kubeconfig is $LAB_DIR/kubeconfig
# (kubeadm's admin.conf); the cluster CA and the admin's pair are copied to
# $LAB_DIR/pki/. `down` runs `kubeadm reset` on every node, then removes
# every process, container, mount, cgroup and namespace left and the lab's
# directory; `status` shows what runs. `kill` sends SIGKILL to one
# component (etcd, apiserver, scheduler, controller-manager,
# kubelet-node-I, registry) and keeps it down (kubeadm's hold file);
# `restart` lets it run again (hack/chaos.sh uses both). Labs with different
# names run side by side. Logs: $LAB_DIR/logs/.
#
# Environment: LAB_DIR (default /var/tmp/minik8s-NAME), LAB_BIN (use these
# binaries and skip the release build; the tests pass target/debug),
# LAB_CONTROLLER_MANAGER_FLAGS (extra flags `--name=value`, e.g. a shorter
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
        -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
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

# free_port: a port no one listens on now (for the registry).
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
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

# node_dir I: node I's machine directory (kubeadm's --host-root).
node_dir() {
    echo "$LAB_DIR/nodes/node-$1"
}

# kubeadm_on I ARGS...: kubeadm inside node I's network namespace, with
# node I's directory as its root.
kubeadm_on() {
    local i=$1; shift
    nsenter --net="/run/netns/$NS_PREFIX-n$i" "$BIN/kubeadm" "$@" --host-root "$(node_dir "$i")"
}

down() {
    if [ ! -d "$LAB_DIR" ]; then
        echo "lab $NAME is not running"
        return 0
    fi
    # kubeadm reset on every node, as on machines: it stops the units (the
    # kubelet first) and removes the pods' containers. The control plane
    # (node 1) goes last, so the others' resets still find it.
    local node i
    for i in $(find "$LAB_DIR/nodes" -mindepth 1 -maxdepth 1 -name 'node-*' -printf '%f\n' 2>/dev/null | sed 's/^node-//' | sort -rn); do
        node=$(node_dir "$i")
        [ -d "$node/etc/kubernetes" ] || continue
        if [ -e "/run/netns/$NS_PREFIX-n$i" ]; then
            kubeadm_on "$i" reset --force >>"$LAB_DIR/reset.log" 2>&1 || true
        fi
    done
    stop "$LAB_DIR/pids/registry.pid"
    # What a failed install or a killed run left: processes in the lab's
    # cgroups or naming the lab's directory, mounts, namespaces, links.
    local cg
    for cg in /sys/fs/cgroup/*/"$NS_PREFIX"-* /sys/fs/cgroup/"$NS_PREFIX"-*; do
        [ -d "$cg" ] && kill_cgroup "$cg"
    done
    local pid
    for pid in $(pgrep -f -- "$LAB_DIR/" || true); do
        [ "$pid" = $$ ] || kill -9 "$pid" 2>/dev/null || true
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
    if [ -f "$LAB_DIR/cluster-cidr" ]; then
        ip route del "$(cat "$LAB_DIR/cluster-cidr")" 2>/dev/null || true
    fi
    rm -rf "$LAB_DIR"
    echo "lab $NAME is down"
}

# unit_of COMPONENT: "NODE UNIT", where kubeadm supervises the lab's
# component (the control plane on node 1, each node's kubelet on its node).
unit_of() {
    case "$1" in
        etcd) echo "1 etcd" ;;
        apiserver) echo "1 kube-apiserver" ;;
        scheduler) echo "1 kube-scheduler" ;;
        controller-manager) echo "1 kube-controller-manager" ;;
        kubelet-node-*)
            local i=${1#kubelet-node-}
            case "$i" in
                ''|*[!0-9]*) echo "bad component name: $1" >&2; exit 2 ;;
            esac
            if [ ! -d "$(node_dir "$i")/etc/kubernetes" ]; then
                echo "lab $NAME has no component $1" >&2; exit 1
            fi
            echo "$i kubelet" ;;
        *) echo "lab $NAME has no component $1" >&2; exit 1 ;;
    esac
}

# unit_pid NODE UNIT: the unit's pid while it runs (kubeadm supervise's
# pid file).
unit_pid() {
    local pid
    pid=$(cat "$(node_dir "$1")/run/kubeadm/$2.pid" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

status() {
    if [ ! -d "$LAB_DIR" ]; then
        echo "lab $NAME is not running"
        return 0
    fi
    local comp node unit pid i
    for comp in etcd apiserver scheduler controller-manager $(for i in $(seq 1 "$NODES_UP"); do echo "kubelet-node-$i"; done); do
        read -r node unit <<<"$(unit_of "$comp")"
        if pid=$(unit_pid "$node" "$unit"); then echo "$comp: running (pid $pid)"; else echo "$comp: dead"; fi
    done
    if [ -f "$LAB_DIR/pids/registry.pid" ] && kill -0 "$(cat "$LAB_DIR/pids/registry.pid")" 2>/dev/null; then
        echo "registry: running (pid $(cat "$LAB_DIR/pids/registry.pid"))"
    else
        echo "registry: dead"
    fi
    KUBECONFIG=$LAB_DIR/kubeconfig "${KUBECTL[@]}" get nodes -o wide 2>/dev/null || true
    echo "export KUBECONFIG=$LAB_DIR/kubeconfig"
}

# An EncryptionConfiguration for Secrets: aescbc with a random 32-byte key,
# then identity so data written before encryption was on still reads. The
# key is made once per lab: etcd's data outlives a restart of the lab, and
# a new key would leave the old Secrets unreadable.
write_encryption_config() {
    local file=$1
    [ -s "$file" ] && return 0
    local key
    key=$(head -c 32 /dev/urandom | base64)
    (umask 077; cat >"$file" <<ENC
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
ENC
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
EOF
}

# controller_manager_args: LAB_CONTROLLER_MANAGER_FLAGS (`--name=value` or
# `--name value` words) as ClusterConfiguration extraArgs list items.
controller_manager_args() {
    # shellcheck disable=SC2206
    local words=(${LAB_CONTROLLER_MANAGER_FLAGS:-}) w name value
    local n=${#words[@]} k=0
    while [ "$k" -lt "$n" ]; do
        w=${words[$k]#--}; k=$((k + 1))
        if [[ "$w" == *=* ]]; then
            name=${w%%=*}; value=${w#*=}
        elif [ "$k" -lt "$n" ] && [[ "${words[$k]}" != --* ]]; then
            name=$w; value=${words[$k]}; k=$((k + 1))
        else
            name=$w; value=true
        fi
        echo "  - {name: $name, value: \"$value\"}"
    done
}

# write_kubeadm_config FILE HOST_IP REG_PORT CLUSTER_CIDR: the lab's
# cluster as kubeadm's configuration file.
write_kubeadm_config() {
    local file=$1 host_ip=$2 reg_port=$3 cluster_cidr=$4 x
    x=$(cat "$LAB_DIR/subnet")
    cat >"$file" <<CONFIG
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
# node-1 runs the control plane and workloads (no control-plane taint).
nodeRegistration: {name: node-1, taints: []}
localAPIEndpoint: {advertiseAddress: 10.200.$x.11}
patches: {directory: $(node_dir 1)/patches}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking: {podSubnet: $cluster_cidr}
apiServer:
  extraArgs:
  # Secrets are encrypted in etcd and every request is audited
  # (docs/security.md shows how to look at both).
  - {name: encryption-provider-config, value: $LAB_DIR/encryption-config.yaml}
  - {name: audit-policy-file, value: $LAB_DIR/audit-policy.yaml}
  - {name: audit-log-path, value: $LAB_DIR/audit.log}
  - {name: audit-log-maxsize, value: "100"}
  - {name: audit-log-maxbackup, value: "3"}
controllerManager:
  extraArgs:
  - {name: node-cidr-mask-size, value: "24"}
$(controller_manager_args)
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
maxPods: 110
nodeStatusUpdateFrequency: 10s
# Every lab node shares the host's disk: a developer machine with less than
# 10% free would put every node under DiskPressure and evict every pod, so
# the disk signals are off (as kind does); memory and pids keep upstream's
# defaults.
evictionHard: {memory.available: 100Mi, nodefs.available: "0%", imagefs.available: "0%", pid.available: 5%}
networkPlugin: ${LAB_NETWORK_PLUGIN:-cni}
registryMirrors:
  docker.io: ["http://$host_ip:$reg_port"]
# Any registry on the host's leg (the lab's, or one a user or test starts
# there, e.g. a password-protected one) is spoken to over plain HTTP.
insecureRegistries: ["$host_ip"]
CONFIG
}

# write_node_patches I: node I's own kubelet settings (kubeadm --patches):
# its cgroup root, pod logs and CNI directory inside the lab.
write_node_patches() {
    local i=$1 dir
    dir=$(node_dir "$i")
    mkdir -p "$dir/patches" "$dir/pod-logs"
    cat >"$dir/patches/kubeletconfiguration+merge.yaml" <<PATCH
cgroupRoot: $NS_PREFIX-node-$i
podLogsDir: $dir/pod-logs
cniConfDir: $dir/var/lib/kubelet/cni/net.d
PATCH
}

# link_logs: $LAB_DIR/logs/COMPONENT.log, each a link to the log kubeadm
# supervise writes on the component's node.
link_logs() {
    local comp node unit i
    mkdir -p "$LAB_DIR/logs"
    for comp in etcd apiserver scheduler controller-manager $(for i in $(seq 1 "$NODES"); do echo "kubelet-node-$i"; done); do
        read -r node unit <<<"$(unit_of "$comp")"
        ln -sfn "$(node_dir "$node")/var/log/kubeadm/$unit.log" "$LAB_DIR/logs/$comp.log"
    done
}

# kill_component COMP: holds COMP down (kubeadm's hold file, so kubeadm
# supervise does not restart it), then SIGKILL, and waits until it is gone.
kill_component() {
    local pid
    if [ "$1" = registry ]; then
        pid=$(cat "$LAB_DIR/pids/registry.pid" 2>/dev/null) || { echo "lab $NAME has no registry" >&2; exit 1; }
    else
        local node unit
        read -r node unit <<<"$(unit_of "$1")"
        mkdir -p "$(node_dir "$node")/run/kubeadm/hold"
        touch "$(node_dir "$node")/run/kubeadm/hold/$unit"
        pid=$(unit_pid "$node" "$unit") || return 0
    fi
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    echo "$1 (pid $pid) did not die" >&2; return 1
}

# restart_component COMP: lets kubeadm supervise start COMP again, and
# waits until it runs.
restart_component() {
    if [ "$1" = registry ]; then
        if kill -0 "$(cat "$LAB_DIR/pids/registry.pid")" 2>/dev/null; then
            echo "registry is still running" >&2; return 1
        fi
        start_registry
        return
    fi
    local node unit
    read -r node unit <<<"$(unit_of "$1")"
    if [ ! -e "$(node_dir "$node")/run/kubeadm/hold/$unit" ] && unit_pid "$node" "$unit" >/dev/null; then
        echo "$1 is still running" >&2; return 1
    fi
    rm -f "$(node_dir "$node")/run/kubeadm/hold/$unit"
    wait_for "$1" unit_pid "$node" "$unit"
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
    # The host's leg: the registry listens on it, and the host reaches the
    # nodes (the apiserver on node 1) through it.
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

# start_registry: the lab's registry (its command line kept in cmds/registry).
start_registry() {
    local cmd=(docker-registry serve "$LAB_DIR/registry/config.yml")
    mkdir -p "$LAB_DIR/cmds" "$LAB_DIR/pids" "$LAB_DIR/logs"
    printf '%q ' "${cmd[@]}" >"$LAB_DIR/cmds/registry"
    "${cmd[@]}" >>"$LAB_DIR/logs/registry.log" 2>&1 &
    echo $! >"$LAB_DIR/pids/registry.pid"
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
        cargo build --release --quiet -p apiserver -p scheduler -p controller-manager -p kubelet -p container-runtime -p kubectl -p kubeadm
    fi

    mkdir -p "$LAB_DIR"/{logs,pids,nodes,registry,pki}
    echo "$NODES" >"$LAB_DIR/nodes/count"
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
    # lets the host reach pods: node 1 forwards to the other nodes over
    # their host-gw routes. Without it that traffic would follow the host's
    # default route off the machine.
    local cluster_cidr="172.$((16 + x / 16)).$(((x % 16) * 16)).0/20"
    echo "$cluster_cidr" >"$LAB_DIR/cluster-cidr"
    ip route replace "$cluster_cidr" via "10.200.$x.11" dev "mk$x"
    flock -u 8
    exec 8>&-

    local reg_port
    reg_port=$(free_port)
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
    start_registry
    wait_for registry curl -fsS "http://$host_ip:$reg_port/v2/"
    bash hack/lib/test-images.sh build "$ROOT/target/test-images" >"$LAB_DIR/logs/test-images.log" 2>&1
    bash hack/lib/test-images.sh push "$ROOT/target/test-images" "$host_ip:$reg_port" >>"$LAB_DIR/logs/test-images.log" 2>&1

    # Each node's kubelet settings and the cluster's configuration.
    local i
    for i in $(seq 1 "$NODES"); do
        write_node_patches "$i"
    done
    write_encryption_config "$LAB_DIR/encryption-config.yaml"
    write_audit_policy "$LAB_DIR/audit-policy.yaml"
    write_kubeadm_config "$LAB_DIR/kubeadm-config.yaml" "$host_ip" "$reg_port" "$cluster_cidr"

    echo ">>> kubeadm init on node-1 (10.200.$x.11): etcd, apiserver, scheduler, controller-manager, kubelet"
    if ! kubeadm_on 1 init --binaries-dir "$BIN" --control-plane-runner processes \
        --config "$LAB_DIR/kubeadm-config.yaml" >"$LAB_DIR/logs/kubeadm-init.log" 2>&1; then
        link_logs
        echo "kubeadm init failed; see $LAB_DIR/logs/kubeadm-init.log" >&2
        return 1
    fi
    cp "$(node_dir 1)/etc/kubernetes/pki/ca.crt" "$LAB_DIR/pki/ca.crt"
    # The join line init printed: `kubeadm join ADDRESS --token T
    # --discovery-token-ca-cert-hash H`, over continuation lines.
    local -a join
    read -r -a join <<<"$(sed -n '/^kubeadm join /,/^$/p' "$LAB_DIR/logs/kubeadm-init.log" | tr -d '\\\n')"
    for i in $(seq 2 "$NODES"); do
        echo ">>> kubeadm join on node-$i (10.200.$x.$((10 + i)))"
        if ! kubeadm_on "$i" "${join[@]:1}" --binaries-dir "$BIN" --control-plane-runner processes \
            --node-name "node-$i" --apiserver-advertise-address "10.200.$x.$((10 + i))" \
            --patches "$(node_dir "$i")/patches" >"$LAB_DIR/logs/kubeadm-join-node-$i.log" 2>&1; then
            link_logs
            echo "kubeadm join failed; see $LAB_DIR/logs/kubeadm-join-node-$i.log" >&2
            return 1
        fi
    done
    link_logs

    # The admin's kubeconfig, and its pair for tools that want files.
    local admin_conf
    admin_conf="$(node_dir 1)/etc/kubernetes/admin.conf"
    cp "$admin_conf" "$LAB_DIR/kubeconfig"
    chmod 600 "$LAB_DIR/kubeconfig"
    (umask 077
     kubectl config view --kubeconfig "$admin_conf" --raw -o 'jsonpath={.users[0].user.client-certificate-data}' | base64 -d >"$LAB_DIR/pki/admin.crt"
     kubectl config view --kubeconfig "$admin_conf" --raw -o 'jsonpath={.users[0].user.client-key-data}' | base64 -d >"$LAB_DIR/pki/admin.key")
    export KUBECONFIG=$LAB_DIR/kubeconfig
    # The lab's own objects (kubeadm's addon phase applied the cluster's;
    # the rest bind users only the lab has).
    "${KUBECTL[@]}" apply -f manifests/cluster/controller-manager.yaml -f manifests/cluster/kubelet-api-admin.yaml >/dev/null

    echo ">>> waiting for $NODES node(s) to be Ready"
    wait_for "$NODES Ready node(s)" bash -c "[ \"\$(${KUBECTL[*]} get nodes --no-headers 2>/dev/null | grep -cw Ready)\" = $NODES ]"
    # Each kubelet serves :10250 once its serving certificate came through
    # a CSR (kubeadm's serverTLSBootstrap; the controller-manager's
    # csrapproving-kubelet-serving approves it): until then logs, exec and
    # port-forward to that node fail, so the lab is up only after.
    for i in $(seq 1 "$NODES"); do
        wait_for "node-$i's kubelet API" bash -c "[ \"\$(${KUBECTL[*]} get --raw /api/v1/nodes/node-$i/proxy/healthz 2>/dev/null)\" = ok ]"
    done

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

NODES_UP=$(cat "$LAB_DIR/nodes/count" 2>/dev/null || echo "$NODES")

case "$ACTION" in
    start-kubelet) restart_component "kubelet-node-$NODE_ARG" ;;
    stop-kubelet) kill_component "kubelet-node-$NODE_ARG" ;;
    kill) kill_component "$COMP_ARG" ;;
    restart) restart_component "$COMP_ARG" ;;
    up) up ;;
    down) down ;;
    status) status ;;
esac
