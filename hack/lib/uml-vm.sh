#!/usr/bin/env bash
# User-mode Linux VMs on a private network (sourced by hack/uml-cluster.sh).
#
# The network is one network namespace ($UML_NS) holding a bridge (br0,
# $UML_NET.1/24) and one tap device per VM; every UML process runs inside
# that namespace, so the VMs reach each other and the bridge address and
# nothing else (no forwarding or NAT anywhere on the host).
#
#   uml_shim DIR             compiles hack/uml/ptrace-xstate-shim.c into
#                            DIR/ptrace-xstate-shim.so (sets UML_SHIM)
#   uml_network_up           the namespace, the bridge
#   uml_boot I MEM_MB        boots VM I (tap I, $UML_NET.(10+I), host name
#                            node-I) from a COW layer over $UML_IMAGE
#   uml_ssh I CMD...         runs CMD as root on VM I
#   uml_wait_ready I         waits until VM I reached multi-user.target
#   uml_halt I               powers VM I off (SIGKILL after 30 s)
#
# Needs: UML_RUN (the cluster's directory), UML_NS, UML_NET (three octets),
# UML_IMAGE, UML_KEY (hack/lib/uml-image.sh), UML_HOSTFS (the directory the
# VMs see as /usr/local/bin).

uml_shim() {
    local dir=$1 src
    src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/uml/ptrace-xstate-shim.c"
    UML_SHIM="$dir/ptrace-xstate-shim.so"
    gcc -O2 -Wall -shared -fPIC -o "$UML_SHIM" "$src" -ldl
}

uml_network_up() {
    ip netns add "$UML_NS"
    ip -n "$UML_NS" link set lo up
    ip -n "$UML_NS" link add br0 type bridge
    ip -n "$UML_NS" addr add "$UML_NET.1/24" dev br0
    ip -n "$UML_NS" link set br0 up
}

uml_ip() {
    echo "$UML_NET.$((10 + $1))"
}

uml_boot() {
    local i=$1 mem=$2
    ip -n "$UML_NS" tuntap add dev "tap$i" mode tap
    ip -n "$UML_NS" link set "tap$i" master br0 up
    mkdir -p "$UML_RUN/uml" "$UML_RUN/logs" "$UML_RUN/pids"
    # The guest's memory is a file UML maps: in /dev/shm it is RAM, not disk.
    ip netns exec "$UML_NS" setsid env TMPDIR=/dev/shm LD_PRELOAD="$UML_SHIM" \
        linux.uml umid="vm$i" uml_dir="$UML_RUN/uml" mem="${mem}M" \
        ubd0="$UML_RUN/vm-$i.cow,$UML_IMAGE" root=/dev/ubda rw \
        eth0="tuntap,tap$i,52:54:00:12:00:$(printf '%02x' "$i")" \
        hostfs="$UML_HOSTFS" con=null con0=null,fd:1 \
        systemd.hostname="node-$i" minik8s.ip="$(uml_ip "$i")/24" minik8s.gw="$UML_NET.1" \
        systemd.unified_cgroup_hierarchy=1 \
        </dev/null >"$UML_RUN/logs/vm-$i.console" 2>&1 &
    echo $! >"$UML_RUN/pids/vm-$i.pid"
}

uml_ssh() {
    local i=$1; shift
    ip netns exec "$UML_NS" ssh -q -i "$UML_KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3 -o ServerAliveInterval=10 \
        "root@$(uml_ip "$i")" "$@"
}

uml_wait_ready() {
    local i=$1 pid
    pid=$(cat "$UML_RUN/pids/vm-$i.pid")
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "VM $i died; see $UML_RUN/logs/vm-$i.console" >&2
            return 1
        fi
        if [ "$(uml_ssh "$i" systemctl is-active multi-user.target 2>/dev/null)" = active ]; then
            return 0
        fi
        sleep 0.5
    done
    echo "VM $i did not reach multi-user.target; see $UML_RUN/logs/vm-$i.console" >&2
    return 1
}

uml_halt() {
    local i=$1 pid
    pid=$(cat "$UML_RUN/pids/vm-$i.pid" 2>/dev/null) || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    uml_ssh "$i" systemctl poweroff >/dev/null 2>&1 || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    # UML's helper processes share the VM's session.
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
}
