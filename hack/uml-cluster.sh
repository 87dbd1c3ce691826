#!/usr/bin/env bash
# A cluster on User-mode Linux VMs: each node is a VM with its own kernel,
# systemd as init and cgroup v2, and kubeadm installs it exactly as on real
# machines (docs/install.md): `kubeadm init` on VM 1, the printed
# `kubeadm join` on the others, the control plane and the kubelets as the
# systemd units kubeadm writes.
#
#   hack/uml-cluster.sh [--name NAME] up [--nodes N] [--control-planes M]
#   hack/uml-cluster.sh [--name NAME] down | status
#   hack/uml-cluster.sh [--name NAME] ssh I [CMD...]    a root shell/command on VM I
#   hack/uml-cluster.sh [--name NAME] kubectl ARGS...   /usr/bin/kubectl with admin.conf
#
# `up` (N=3, M=1 by default) installs what is missing (user-mode-linux,
# debootstrap, ...), builds release binaries (or uses UML_BIN), builds the
# Debian 12 VM image once (hack/lib/uml-image.sh, cached in
# /var/cache/minik8s-uml), and then, for this cluster only:
#   - a network namespace mku-NAME with a bridge (10.201.0.1/24) and a tap
#     per VM (VM I is node-I at 10.201.0.(10+I)); the registry with the test
#     images listens on 10.201.0.1:5000 and every kubelet uses it as its
#     docker.io mirror;
#   - N VMs (hack/lib/uml-vm.sh), each booting from its own copy-on-write
#     layer over the image, with the binaries (and the host's etcd and
#     etcdctl) in /usr/local/bin through hostfs;
#   - `kubeadm init` on VM 1 (with --upload-certs when M > 1), the control
#     plane's join line on VMs 2..M and the worker's on the rest.
# The admin kubeconfig is copied to $UML_RUN/kubeconfig (its server,
# 10.201.0.11:6443, is reachable only inside mku-NAME: use `kubectl` above
# or `ip netns exec mku-NAME kubectl --kubeconfig ...`). Timings of every
# step go to $UML_RUN/timings. `down` powers the VMs off and removes every
# process, tap, namespace and file the cluster made, also after a killed
# run. Logs (VM consoles, kubeadm's output): $UML_RUN/logs/.
#
# Environment: UML_RUN (default /var/tmp/minik8s-uml-NAME), UML_BIN (use
# these binaries and skip the release build; the test passes target/debug),
# UML_CACHE (image cache), UML_MEM_MB (every VM's memory; by default 2048
# for the control planes, 1280 for the others).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source hack/lib/deps.sh
source hack/lib/uml-image.sh
source hack/lib/uml-vm.sh

NAME=uml
NODES=3
CONTROL_PLANES=1
ACTION=
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME=$2; shift 2 ;;
        --name=*) NAME=${1#--name=}; shift ;;
        --nodes) NODES=$2; shift 2 ;;
        --nodes=*) NODES=${1#--nodes=}; shift ;;
        --control-planes) CONTROL_PLANES=$2; shift 2 ;;
        --control-planes=*) CONTROL_PLANES=${1#--control-planes=}; shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        up|down|status) ACTION=$1; shift ;;
        ssh|kubectl) ACTION=$1; shift; ARGS=("$@"); break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$NAME" in
    *[!a-z0-9-]*|"") echo "--name must be lower-case letters, digits and dashes" >&2; exit 2 ;;
esac
case "$NODES$CONTROL_PLANES" in
    *[!0-9]*) echo "--nodes and --control-planes must be numbers" >&2; exit 2 ;;
esac
if [ "$NODES" -lt 1 ] || [ "$NODES" -gt 20 ] || [ "$CONTROL_PLANES" -lt 1 ] || [ "$CONTROL_PLANES" -gt "$NODES" ]; then
    echo "need 1 <= --control-planes <= --nodes <= 20" >&2; exit 2
fi
[ -n "$ACTION" ] || { echo "usage: $0 [--name NAME] up|down|status|ssh|kubectl (see --help)" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
    echo "the UML cluster needs root (network namespaces, tap devices)" >&2; exit 1
fi

UML_RUN=${UML_RUN:-/var/tmp/minik8s-uml-$NAME}
UML_NS="mku-$NAME"
UML_NET=10.201.0
UML_HOSTFS="$UML_RUN/bin"
REGISTRY="$UML_NET.1:5000"

# stamp LABEL SECONDS: one line of $UML_RUN/timings.
stamp() {
    printf '%-28s %6.1f s\n' "$1" "$2" | tee -a "$UML_RUN/timings"
}

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

down() {
    local i pid
    if [ -d "$UML_RUN/pids" ]; then
        for f in "$UML_RUN"/pids/vm-*.pid; do
            [ -e "$f" ] || continue
            i=${f##*/vm-}; i=${i%.pid}
            # Only a VM still answering gets the polite poweroff.
            UML_KEY=$(cat "$UML_RUN/key" 2>/dev/null || echo /dev/null) uml_halt "$i" &
        done
        wait
        pid=$(cat "$UML_RUN/pids/registry.pid" 2>/dev/null || true)
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    fi
    # Whatever still runs in the namespace (a killed run's VMs, registry).
    if [ -e "/run/netns/$UML_NS" ]; then
        for _ in 1 2 3 4 5; do
            pid=$(ip netns pids "$UML_NS" 2>/dev/null || true)
            [ -z "$pid" ] && break
            # shellcheck disable=SC2086
            kill -9 $pid 2>/dev/null || true
            sleep 0.2
        done
        ip netns del "$UML_NS"
    fi
    rm -rf "$UML_RUN"
    echo "UML cluster $NAME is down"
}

status() {
    if [ ! -d "$UML_RUN" ]; then echo "UML cluster $NAME is not running"; return 0; fi
    local f i
    for f in "$UML_RUN"/pids/vm-*.pid; do
        i=${f##*/vm-}; i=${i%.pid}
        if kill -0 "$(cat "$f")" 2>/dev/null; then echo "node-$i: VM running ($(uml_ip "$i"))"; else echo "node-$i: VM dead"; fi
    done
    cluster_kubectl get nodes -o wide 2>/dev/null || true
}

cluster_kubectl() {
    ip netns exec "$UML_NS" kubectl --kubeconfig "$UML_RUN/kubeconfig" --cache-dir "$UML_RUN/kube-cache" "$@"
}

# wait_for WHAT SECONDS CMD...: CMD (a program, not a function) until it
# succeeds, for at most SECONDS.
wait_for() {
    local what=$1 secs=$2; shift 2
    if ! timeout "$secs" bash -c 'until "$@" >/dev/null 2>&1; do sleep 0.5; done' _ "$@"; then
        echo "$what: not within $secs s; see $UML_RUN/logs/" >&2
        return 1
    fi
}

# The cluster as kubeadm's configuration file: node-1 runs workloads too
# (no control-plane taint), the kubelets pull docker.io images from the
# cluster's registry, and the disk signals are off (every VM's disk is a
# small COW layer; a few hundred MB used would read as DiskPressure). With
# M > 1 control planes the endpoint is VM 1's address (no load balancer)
# and every kubelet fails over across the M apiservers
# (apiServerEndpoints, docs/kubelet.md).
write_kubeadm_config() {
    local endpoint="" endpoints="" i
    if [ "$CONTROL_PLANES" -gt 1 ]; then
        endpoint="controlPlaneEndpoint: $(uml_ip 1):6443"
        for i in $(seq 1 "$CONTROL_PLANES"); do endpoints="$endpoints${endpoints:+, }\"$(uml_ip "$i"):6443\""; done
        endpoints="apiServerEndpoints: [$endpoints]"
    fi
    cat >"$UML_RUN/kubeadm-config.yaml" <<CONFIG
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration: {name: node-1, taints: []}
localAPIEndpoint: {advertiseAddress: $(uml_ip 1)}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
$endpoint
networking: {podSubnet: 10.244.0.0/16}
controllerManager:
  extraArgs:
  - {name: node-cidr-mask-size, value: "24"}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
evictionHard: {memory.available: 100Mi, nodefs.available: "0%", imagefs.available: "0%", pid.available: 5%}
networkPlugin: cni
registryMirrors:
  docker.io: ["http://$REGISTRY"]
insecureRegistries: ["$UML_NET.1"]
$endpoints
CONFIG
}

up() {
    if [ -d "$UML_RUN" ] || [ -e "/run/netns/$UML_NS" ]; then
        echo ">>> cleaning up an earlier UML cluster $NAME"
        down >/dev/null
    fi
    local t_up i
    t_up=$(now)
    ensure_packages user-mode-linux debootstrap e2fsprogs gcc libc6-dev openssh-client bc \
        iproute2 etcd-server etcd-client docker-registry busybox-static umoci skopeo jq
    command -v kubectl >/dev/null || { echo "kubectl (the real one) is needed on the host" >&2; return 1; }
    local bin=${UML_BIN:-}
    if [ -z "$bin" ]; then
        echo ">>> building release binaries"
        nice -n 10 cargo build --release --quiet -p apiserver -p scheduler -p controller-manager \
            -p kubelet -p container-runtime -p kubectl -p kubeadm
        bin=$ROOT/target/release
    fi
    mkdir -p "$UML_RUN"/{logs,pids,bin}
    : >"$UML_RUN/timings"

    local t
    t=$(now)
    uml_image_build
    stamp "image (build or cache)" "$(since "$t")"
    echo "$UML_KEY" >"$UML_RUN/key"

    # What the VMs see as /usr/local/bin: our binaries and the host's etcd
    # (and etcdctl, for docs/install.md's backup).
    local b
    for b in kubeadm apiserver scheduler controller-manager kubelet container-runtime kubectl; do
        cp "$bin/$b" "$UML_HOSTFS/$b"
    done
    cp /usr/bin/etcd /usr/bin/etcdctl "$UML_HOSTFS/"
    uml_shim "$UML_RUN"

    echo ">>> network namespace $UML_NS: bridge $UML_NET.1/24, registry $REGISTRY"
    uml_network_up
    mkdir -p "$UML_RUN/registry"
    cat >"$UML_RUN/registry/config.yml" <<REGISTRY
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $UML_RUN/registry/data}}
http: {addr: $REGISTRY}
REGISTRY
    ip netns exec "$UML_NS" docker-registry serve "$UML_RUN/registry/config.yml" >"$UML_RUN/logs/registry.log" 2>&1 &
    echo $! >"$UML_RUN/pids/registry.pid"

    echo ">>> booting $NODES VM(s)"
    t=$(now)
    for i in $(seq 1 "$NODES"); do
        if [ "$i" -le "$CONTROL_PLANES" ]; then uml_boot "$i" "${UML_MEM_MB:-2048}"; else uml_boot "$i" "${UML_MEM_MB:-1280}"; fi
    done
    # The test images, pushed while the VMs boot.
    wait_for registry 30 ip netns exec "$UML_NS" curl -fsS "http://$REGISTRY/v2/"
    bash hack/lib/test-images.sh build "$ROOT/target/test-images" >"$UML_RUN/logs/test-images.log" 2>&1
    ip netns exec "$UML_NS" bash hack/lib/test-images.sh push "$ROOT/target/test-images" "$REGISTRY" >>"$UML_RUN/logs/test-images.log" 2>&1
    for i in $(seq 1 "$NODES"); do
        uml_wait_ready "$i"
    done
    stamp "boot to multi-user ($NODES VMs)" "$(since "$t")"
    uml_ssh 1 "systemd-analyze time" >"$UML_RUN/logs/vm-1.boot-time" 2>&1 || true

    echo ">>> kubeadm init on node-1 ($(uml_ip 1))"
    write_kubeadm_config
    uml_ssh 1 "cat >/root/kubeadm-config.yaml" <"$UML_RUN/kubeadm-config.yaml"
    local upload=""
    [ "$CONTROL_PLANES" -gt 1 ] && upload="--upload-certs"
    t=$(now)
    if ! uml_ssh 1 kubeadm init --config /root/kubeadm-config.yaml $upload >"$UML_RUN/logs/kubeadm-init.log" 2>&1; then
        echo "kubeadm init failed; see $UML_RUN/logs/kubeadm-init.log" >&2
        return 1
    fi
    stamp "kubeadm init" "$(since "$t")"
    uml_ssh 1 cat /etc/kubernetes/admin.conf >"$UML_RUN/kubeconfig"
    chmod 600 "$UML_RUN/kubeconfig"
    wait_for "node-1 Ready" 300 bash -c "ip netns exec $UML_NS kubectl --kubeconfig $UML_RUN/kubeconfig get node node-1 --no-headers | grep -qw Ready"
    stamp "init to node-1 Ready" "$(since "$t")"

    # The two join lines init printed (over continuation lines): the
    # control plane's (with --control-plane --certificate-key) and the
    # worker's.
    local -a worker cp
    read -r -a worker <<<"$(sed -n '/^kubeadm join /,/^$/p' "$UML_RUN/logs/kubeadm-init.log" | tr -d '\\\n\t')"
    read -r -a cp <<<"$(sed -n '/^  kubeadm join /,/^$/p' "$UML_RUN/logs/kubeadm-init.log" | tr -d '\\\n\t')"
    local -a line
    t=$(now)
    for i in $(seq 2 "$NODES"); do
        if [ "$i" -le "$CONTROL_PLANES" ]; then line=("${cp[@]}"); else line=("${worker[@]}"); fi
        echo ">>> ${line[*]:0:2} ... on node-$i ($(uml_ip "$i"))"
        local tj
        tj=$(now)
        if ! uml_ssh "$i" "${line[@]}" --node-name "node-$i" --apiserver-advertise-address "$(uml_ip "$i")" \
            >"$UML_RUN/logs/kubeadm-join-node-$i.log" 2>&1; then
            echo "kubeadm join failed; see $UML_RUN/logs/kubeadm-join-node-$i.log" >&2
            return 1
        fi
        wait_for "node-$i Ready" 300 bash -c "ip netns exec $UML_NS kubectl --kubeconfig $UML_RUN/kubeconfig get node node-$i --no-headers | grep -qw Ready"
        stamp "join to node-$i Ready" "$(since "$tj")"
    done
    wait_for "$NODES Ready nodes" 120 bash -c "[ \"\$(ip netns exec $UML_NS kubectl --kubeconfig $UML_RUN/kubeconfig get nodes --no-headers | grep -cw Ready)\" = $NODES ]"
    stamp "whole up" "$(since "$t_up")"
    cluster_kubectl get nodes -o wide
    echo
    echo "UML cluster $NAME is up. Logs: $UML_RUN/logs/. Stop it with: hack/uml-cluster.sh --name $NAME down"
    echo "kubectl: hack/uml-cluster.sh --name $NAME kubectl get pods -A"
}

case "$ACTION" in
    up) up ;;
    down) down ;;
    status) status ;;
    ssh)
        [ -f "$UML_RUN/key" ] || { echo "UML cluster $NAME is not running" >&2; exit 1; }
        UML_KEY=$(cat "$UML_RUN/key")
        uml_ssh "${ARGS[@]}" ;;
    kubectl) cluster_kubectl "${ARGS[@]}" ;;
esac
