#!/usr/bin/env bash
# Test images for the kubelet runtime, built from Debian's busybox-static with
# umoci (layers) and skopeo (copies and pushes) - no Docker, no network.
#
#   hack/lib/test-images.sh build OUT          OCI layouts in OUT (cached: a
#                                              second call returns at once)
#   hack/lib/test-images.sh push OUT HOST:PORT pushes them to a registry
#
# OUT/busybox    tag 1.36  one layer: busybox and its applet links, /etc/passwd
# OUT/layered    tag 1     three layers; the last deletes /data/gone and
#                          /data/olddir (whiteouts) and adds /data/new
# OUT/multiarch  tag 1     an OCI index: linux/amd64 -> the busybox manifest,
#                          linux/arm64 -> the layered one (a puller that ignores
#                          the platform gets the wrong image)
#
# `push` writes busybox:1.36 (OCI manifest), busybox:1.36-docker (Docker schema2),
# layered:1 and multiarch:1 (the index, with --all).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/lib/deps.sh
source "$here/deps.sh"

build() {
    local out="$1"
    mkdir -p "$out"
    exec 9>"$out/.lock"
    flock 9
    if [ -e "$out/.complete" ]; then
        return 0
    fi
    ensure_packages busybox-static umoci skopeo jq
    local work="$out/work"
    rm -rf "$work" "$out/busybox" "$out/layered" "$out/multiarch" "$out/bundle"
    umoci init --layout "$work"
    umoci new --image "$work:empty"

    # busybox:1.36 - one layer.
    umoci unpack --image "$work:empty" "$out/bundle" >/dev/null
    local root="$out/bundle/rootfs"
    mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,home/app}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\napp:x:1000:\nwheel:x:10:app\nnogroup:x:65534:\n' >"$root/etc/group"
    chown 1000:1000 "$root/home/app"
    umoci repack --refresh-bundle --image "$work:busybox" "$out/bundle"
    umoci config --image "$work:busybox" --config.cmd sh \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --architecture amd64 --os linux

    # layered:1 - a data layer, then a layer that deletes part of it.
    mkdir -p "$root/data/olddir"
    echo keep >"$root/data/keep"
    echo gone >"$root/data/gone"
    echo x >"$root/data/olddir/x"
    umoci repack --refresh-bundle --image "$work:layered-a" "$out/bundle"
    rm -rf "$root/data/gone" "$root/data/olddir"
    echo new >"$root/data/new"
    umoci repack --image "$work:layered-b" "$out/bundle"
    umoci config --image "$work:layered-b" --tag layered --config.cmd sh \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --architecture amd64 --os linux
    rm -rf "$out/bundle"

    # multiarch:1 - an index naming the two manifests for two platforms.
    local bb ly idx digest size
    bb="$(jq -c '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="busybox") | {mediaType, digest, size}' "$work/index.json")"
    ly="$(jq -c '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="layered") | {mediaType, digest, size}' "$work/index.json")"
    idx="$(jq -nc --argjson a "$bb" --argjson b "$ly" '{schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [($a + {platform: {os: "linux", architecture: "amd64"}}),
                    ($b + {platform: {os: "linux", architecture: "arm64"}})]}')"
    digest="$(printf '%s' "$idx" | sha256sum | cut -d' ' -f1)"
    size="$(printf '%s' "$idx" | wc -c)"
    printf '%s' "$idx" >"$work/blobs/sha256/$digest"
    jq --arg d "sha256:$digest" --argjson s "$size" '.manifests += [{
        mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
        annotations: {"org.opencontainers.image.ref.name": "multiarch"}}]' \
        "$work/index.json" >"$work/index.json.new"
    mv "$work/index.json.new" "$work/index.json"

    # One layout per image, tagged the way they are pushed.
    skopeo copy -q "oci:$work:busybox" "oci:$out/busybox:1.36"
    skopeo copy -q "oci:$work:layered" "oci:$out/layered:1"
    skopeo copy -q --all "oci:$work:multiarch" "oci:$out/multiarch:1"
    touch "$out/.complete"
}

push() {
    local out="$1" registry="$2"
    local dst=(--dest-tls-verify=false -q)
    skopeo copy "${dst[@]}" "oci:$out/busybox:1.36" "docker://$registry/library/busybox:1.36"
    skopeo copy "${dst[@]}" --format v2s2 "oci:$out/busybox:1.36" "docker://$registry/library/busybox:1.36-docker"
    skopeo copy "${dst[@]}" "oci:$out/layered:1" "docker://$registry/library/layered:1"
    skopeo copy "${dst[@]}" --all "oci:$out/multiarch:1" "docker://$registry/library/multiarch:1"
}

case "${1:-}" in
build) build "${2:?usage: $0 build OUT}" ;;
push) push "${2:?usage: $0 push OUT HOST:PORT}" "${3:?usage: $0 push OUT HOST:PORT}" ;;
*)
    echo "usage: $0 build OUT | push OUT HOST:PORT" >&2
    exit 2
    ;;
esac
