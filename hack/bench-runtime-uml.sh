#!/usr/bin/env bash
# hack/bench-runtime.sh inside a User-mode Linux VM: cgroup v2 only, systemd
# as init, one vCPU (the image of hack/uml-cluster.sh), against runc and then
# crun, which fails on this host's hybrid cgroup layout. Builds the release
# kubelet, container-runtime and the `start` bench here, boots one VM with
# them as its /usr/local/bin (hostfs), copies hack/ and the test images in
# and runs the script there without cargo (BENCH_BIN_DIR). The VM sits in a
# network namespace of its own with nothing else on it; everything it made
# is removed at the end, also after a failure.
#
#   hack/bench-runtime-uml.sh [OCI_RUNTIME...]   (default: runc crun)
#   BENCH_N=100                                   rounds per runtime
#
# Every system call in a UML guest is a ptrace round trip on the host, so
# absolute times are 10-30x the host's; the ratios are what compare.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh
source hack/lib/uml-image.sh
source hack/lib/uml-vm.sh

if [ "$(id -u)" != 0 ]; then
    echo "hack/bench-runtime-uml.sh: needs root (network namespace, taps)" >&2
    exit 1
fi
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(runc crun)
N="${BENCH_N:-100}"
ensure_packages "${PROJECT_PACKAGES[@]}" user-mode-linux debootstrap e2fsprogs gcc libc6-dev \
    openssh-client

UML_RUN="$(mktemp -d /var/tmp/minik8s-bench-uml.XXXXXX)"
# A name of its own, so that a cluster of hack/uml-cluster.sh or another
# run of this script is never touched.
UML_NS="mkb-$$"
UML_NET="10.203.$((RANDOM % 200 + 20))"
UML_HOSTFS="$UML_RUN/bin"
export UML_RUN UML_NS UML_NET UML_HOSTFS
cleanup() {
    set +e
    uml_halt 1
    ip netns del "$UML_NS" 2>/dev/null
    rm -rf "$UML_RUN"
}
trap cleanup EXIT

cargo build --release --quiet -p kubelet -p container-runtime
start_bin="$(cargo bench --quiet -p container-runtime --bench start --no-run --message-format=json |
    jq -r 'select(.executable != null and .target.name == "start") | .executable' | tail -1)"
mkdir -p "$UML_HOSTFS"
cp target/release/kubelet target/release/container-runtime "$UML_HOSTFS/"
cp "$start_bin" "$UML_HOSTFS/start"
bash hack/lib/test-images.sh build "$PWD/target/test-images" >/dev/null

uml_image_build
uml_shim "$UML_RUN"
uml_network_up
uml_boot 1 2048
uml_wait_ready 1
tar -cf - hack target/test-images | uml_ssh 1 'mkdir -p /root/mk && tar -xf - -C /root/mk'
# The image has what the script needs (runc, crun, umoci, jq); it must not
# try to install anything (the VM has no network beyond its bridge).
uml_ssh 1 'printf "ensure_packages() { :; }\nPROJECT_PACKAGES=()\n" >/root/mk/hack/lib/deps.sh'
for oci in "${runtimes[@]}"; do
    echo ">>> in the VM, against $oci"
    uml_ssh 1 "cd /root/mk && BENCH_N=$N BENCH_BIN_DIR=/usr/local/bin BENCH_OCI_RUNTIME=$oci bash hack/bench-runtime.sh"
done
