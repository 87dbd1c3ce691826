#!/usr/bin/env bash
# Installs the Debian packages the project needs when they are missing.
# Sourced by hack/test.sh and hack/local-up-cluster.sh; a fresh machine may
# have empty package lists, so `apt-get update` runs once before the first
# install.

_apt_updated=0

# ensure_packages PKG... : installs every PKG that is not installed yet.
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    echo ">>> installing: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if [ "$_apt_updated" = 0 ]; then
        $sudo apt-get update -qq
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The packages every part of the project uses at test or run time.
PROJECT_PACKAGES=(
    etcd-server etcd-client      # the apiserver's storage
    protobuf-compiler libprotobuf-dev  # etcd-client's build (protoc + well-known .proto files)
    iptables iproute2            # service proxy, lab networking
    containernetworking-plugins  # pod networking (CNI)
    busybox-static umoci skopeo jq  # test images (hack/lib/test-images.sh)
    docker-registry              # local OCI registry for the lab and tests
    openssl                      # the lab's cluster CA (hack/local-up-cluster.sh)
    runc                         # the reference the runtime benchmark compares against
    python3-pip python3-venv     # the official Python client tests
)
