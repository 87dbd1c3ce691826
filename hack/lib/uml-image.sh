#!/usr/bin/env bash
# The Debian 12 root file system every UML VM of hack/uml-cluster.sh boots
# from (sourced). Built once with debootstrap and cached under
# $UML_CACHE (default /var/cache/minik8s-uml) in a directory named after a
# hash of the package list and of uml_image_build's body, so changing
# either builds a new image. Each VM writes to its own copy-on-write layer over it
# (UML's ubd0=COW,IMAGE); the image itself is never written after the build.
#
#   uml_image_build   sets UML_IMAGE (the ext4 image), UML_KEY (the ssh key
#                     that logs in as root on every VM) and UML_KVER (the
#                     UML kernel's version, whose modules the image holds)

UML_CACHE=${UML_CACHE:-/var/cache/minik8s-uml}

# What a kubeadm node needs: systemd as init, the tools kubeadm and the
# kubelet run (ip, iptables, openssl, mount), the CNI plugins the kubelet
# calls, sshd to run commands on the VM, and the OCI runtimes the runtime
# benchmark (hack/bench-runtime.sh) compares against, with its tools.
UML_IMAGE_PACKAGES=(
    systemd systemd-sysv dbus udev kmod procps iproute2 iptables conntrack
    ca-certificates openssl openssh-server containernetworking-plugins
    curl less crun runc jq umoci
)

uml_image_build() {
    local hash dir
    UML_KVER=$(ls /usr/lib/uml/modules | sort -V | tail -1)
    # The packages and this function's body (not the comments) name the image.
    hash=$( (echo "${UML_IMAGE_PACKAGES[*]}" "$UML_KVER"; declare -f uml_image_build) | sha256sum | cut -c1-12)
    dir="$UML_CACHE/debian12-$hash"
    UML_IMAGE="$dir/rootfs.ext4"
    UML_KEY="$dir/id_ed25519"
    mkdir -p "$UML_CACHE"
    exec 7>"$UML_CACHE/.lock"
    flock 7
    if [ -e "$dir/.complete" ]; then
        flock -u 7; exec 7>&-
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    local root="$dir/rootfs"
    local t0=$SECONDS
    echo ">>> building the VM image (debootstrap Debian 12: ${UML_IMAGE_PACKAGES[*]})"
    local include
    include=$(IFS=,; echo "${UML_IMAGE_PACKAGES[*]}")
    debootstrap --variant=minbase --include="$include" bookworm "$root" http://deb.debian.org/debian \
        >"$dir/debootstrap.log" 2>&1 || { echo "debootstrap failed; see $dir/debootstrap.log" >&2; return 1; }

    # The UML kernel's modules (overlay, veth, bridge, br_netfilter,
    # nf_tables, ...), where modprobe looks for them.
    mkdir -p "$root/lib/modules"
    cp -a "/usr/lib/uml/modules/$UML_KVER" "$root/lib/modules/"
    chroot "$root" depmod "$UML_KVER"
    printf '%s\n' overlay br_netfilter veth bridge nf_conntrack iptable_nat iptable_filter \
        xt_conntrack xt_MASQUERADE xt_comment xt_mark >"$root/etc/modules-load.d/kubernetes.conf"
    # This kernel has nf_tables without its IPv4 family (no
    # CONFIG_NF_TABLES_IPV4): `iptables` must be the legacy x_tables one
    # (iptable_nat), not Debian's default nft front end.
    chroot "$root" update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
    chroot "$root" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null
    printf 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n' >"$root/etc/sysctl.d/90-kubernetes.conf"

    # /usr/local/bin from the host (hostfs, the directory given as hostfs=
    # on the kernel command line): the cluster's binaries, where kubeadm's
    # units expect them. The root disk is not listed: the kernel mounts it
    # read-write (root=/dev/ubda rw), and a line for it would make the boot
    # wait for udev to announce the device.
    cat >"$root/etc/fstab" <<'FSTAB'
none /usr/local/bin hostfs ro 0 0
FSTAB
    # A machine id of its own on every VM (systemd makes one at first boot).
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    # Root logs in with the cached key only; the console is the log.
    echo "root:*" | chroot "$root" chpasswd -e
    ssh-keygen -q -t ed25519 -N '' -f "$UML_KEY"
    mkdir -p "$root/root/.ssh"
    cp "$UML_KEY.pub" "$root/root/.ssh/authorized_keys"
    chmod 700 "$root/root/.ssh"
    printf 'PermitRootLogin prohibit-password\nUseDNS no\n' >"$root/etc/ssh/sshd_config.d/minik8s.conf"

    # The network from the kernel command line: minik8s.ip=ADDR/LEN and
    # minik8s.gw=ADDR (each VM boots the same image with its own line; the
    # host name comes from systemd.hostname=).
    cat >"$root/usr/local/sbin/minik8s-net" <<'NET'
#!/bin/sh
set -e
for word in $(cat /proc/cmdline); do
    case "$word" in
        minik8s.ip=*) ip=${word#minik8s.ip=} ;;
        minik8s.gw=*) gw=${word#minik8s.gw=} ;;
    esac
done
ip link set lo up
ip link set eth0 up
[ -n "$ip" ] && ip addr replace "$ip" dev eth0
[ -n "$gw" ] && ip route replace default via "$gw"
exit 0
NET
    chmod 755 "$root/usr/local/sbin/minik8s-net"
    cat >"$root/etc/systemd/system/minik8s-net.service" <<'UNIT'
[Unit]
Description=eth0 from the kernel command line
DefaultDependencies=no
Before=network-online.target network.target ssh.service
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/minik8s-net

[Install]
WantedBy=multi-user.target network-online.target
UNIT
    chroot "$root" systemctl enable minik8s-net.service >/dev/null 2>&1
    # Nothing a VM does not need at boot: udev's coldplug of every device
    # (half the boot on one UML CPU; nothing here waits for a device
    # unit), timers, a getty.
    chroot "$root" systemctl mask systemd-udev-trigger.service e2scrub_reap.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
        systemd-timesyncd.service getty@tty1.service >/dev/null 2>&1 || true
    # Logs in memory; the VMs are short-lived.
    mkdir -p "$root/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/minik8s.conf"
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

    mkfs.ext4 -q -L root -d "$root" "$UML_IMAGE" 3G
    rm -rf "$root"
    touch "$dir/.complete"
    # Images of another package list or set-up are not used again (the
    # disk is small).
    find "$UML_CACHE" -mindepth 1 -maxdepth 1 -name 'debian12-*' ! -path "$dir" -exec rm -rf {} +
    echo ">>> VM image built in $((SECONDS - t0)) s: $UML_IMAGE"
    echo "$((SECONDS - t0))" >"$dir/build-seconds"
    flock -u 7; exec 7>&-
}
