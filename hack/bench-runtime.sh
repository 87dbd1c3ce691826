#!/usr/bin/env bash
# Benchmarks the kubelet's built-in container runtime against runc in one run
# on the same machine and the same root filesystem (the busybox test image of
# hack/lib/test-images.sh):
#
#   * N sequential `kubelet ctl run --rm busybox:1.36 -- /bin/true` (a new pod
#     sandbox, a container on an overlay of the image, its monitor, its exit
#     recorded, everything removed again);
#   * N sequential `runc run` of an OCI bundle unpacked from the same image
#     (`/bin/true`, no terminal, each with its own container id);
#   * the same pod the way the kubelet makes it, through the runtime's calls
#     in one process (container-runtime/benches/start.rs), interleaved with
#     N more `runc run` started from that process (as containerd's shim
#     starts runc): what a pod start costs without a command per container;
#   * the resident memory of a container's monitor process, with M detached
#     `sleep` containers running.
#
# Prints ms per container for both, the ratio runc/ours and the RSS/PSS; record
# the figures in docs/benchmarks.md. Runs as root. Nothing leaves the machine:
# the containers get their own network namespaces with only `lo`.
#
#   hack/bench-runtime.sh                 builds the release kubelet first
#   KUBELET_BIN=path hack/bench-runtime.sh   uses that binary instead
#   BENCH_N=100 BENCH_RSS_N=10            the counts (defaults shown)
#   BENCH_TMPDIR=/tmp                     where the roots of both go
#   BENCH_OCI_RUNTIME=crun                 compare against crun (any runtime
#                                          with runc's command line) instead
#   BENCH_BIN_DIR=dir                     no cargo: the release kubelet,
#                                          container-runtime and the `start`
#                                          bench binary (named start) from
#                                          there, for a machine without a Rust
#                                          toolchain (hack/bench-runtime-uml.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "hack/bench-runtime.sh: needs root (namespaces, mounts, cgroups)" >&2
    exit 1
fi
ensure_packages "${PROJECT_PACKAGES[@]}"

N="${BENCH_N:-100}"
oci="${BENCH_OCI_RUNTIME:-runc}"
RSS_N="${BENCH_RSS_N:-10}"
WARMUP=5

if [ -n "${BENCH_BIN_DIR:-}" ]; then
    bin_dir="$(realpath "$BENCH_BIN_DIR")"
    kubelet="${KUBELET_BIN:-$bin_dir/kubelet}"
    start_helper="$bin_dir/container-runtime"
    start_bench=("$bin_dir/start")
else
    if [ -n "${KUBELET_BIN:-}" ]; then
        kubelet="$(realpath "$KUBELET_BIN")"
    else
        # With the small container-runtime binary beside it, the kubelet execs
        # its helpers from that (when it is the same build), else from itself.
        cargo build --release --quiet -p kubelet -p container-runtime
        kubelet="$PWD/target/release/kubelet"
    fi
    # The in-process driver and its helper binary, always of this tree.
    cargo build --release --quiet -p container-runtime
    cargo bench --quiet -p container-runtime --bench start --no-run
    start_helper="$PWD/target/release/container-runtime"
    start_bench=(cargo bench --quiet -p container-runtime --bench start --)
fi

images="$PWD/target/test-images"
bash hack/lib/test-images.sh build "$images" >/dev/null

tmp="$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bench-runtime.XXXXXX")"
tag="bench-runtime-$$"
root="$tmp/root"
runc_root="$tmp/runc"
bundle="$tmp/bundle"
ctl=("$kubelet" ctl --root-dir "$root" --pod-logs-dir "$tmp/logs" --cgroup-root "$tag")

# proc_start PID: its start time (field 22 of /proc/PID/stat), empty if gone.
proc_start() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    stat="${stat##*) }"
    echo "$stat" | cut -d' ' -f20
}

# Removes everything the benchmark made: our pods and containers (through
# `kubelet ctl rmp`, then by pid for anything left), runc containers, the
# cgroups of both, mounts below the temp dir, the temp dir.
cleanup() {
    set +e
    if [ -d "$root/run/sandboxes" ]; then
        local pods
        pods="$("${ctl[@]}" pods -q 2>/dev/null)"
        if [ -n "$pods" ]; then
            # shellcheck disable=SC2086
            "${ctl[@]}" rmp $pods >/dev/null 2>&1
        fi
        # Leftovers: kill a recorded pid only while it is still the process
        # we started (same start time), never a recycled one.
        local f pid start
        for f in "$root"/run/containers/*/state.json "$root"/run/sandboxes/*/sandbox.json; do
            [ -e "$f" ] || continue
            while read -r pid start; do
                [ "$pid" -gt 0 ] || continue
                [ "$(proc_start "$pid")" = "$start" ] && kill -9 "$pid" 2>/dev/null
            done < <(jq -r '[.monitorPid, .monitorStart], [.pid, .pidStart], [.holderPid, .holderStart]
                | select(.[0] != null) | "\(.[0]) \(.[1])"' "$f")
        done
    fi
    if [ -d "$runc_root" ]; then
        local c
        for c in $("$oci" --root "$runc_root" list -q 2>/dev/null); do
            "$oci" --root "$runc_root" delete -f "$c" >/dev/null 2>&1
        done
    fi
    local cg
    for cg in /sys/fs/cgroup/*/"$tag" /sys/fs/cgroup/*/"$tag-runc" /sys/fs/cgroup/"$tag" /sys/fs/cgroup/"$tag-runc"; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    local m
    while read -r m; do
        umount -l "$m" 2>/dev/null
    done < <(awk -v p="$tmp/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    if awk -v p="$tmp/" 'index($5, p) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
        echo "bench-runtime: mounts left below $tmp, not removing it" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

"${ctl[@]}" import "$images/busybox" --name busybox:1.36 >/dev/null

# The runc bundle: the same image unpacked; no terminal, /bin/true, a cgroup
# of our own.
umoci unpack --image "$images/busybox:1.36" "$bundle" >/dev/null
jq --arg cg "/$tag-runc" '.process.terminal = false | .process.args = ["/bin/true"]
    | .linux.cgroupsPath = $cg' "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
mkdir -p "$runc_root"

ours() {
    "${ctl[@]}" run --rm busybox:1.36 -- /bin/true </dev/null
}
runc_run() {
    "$oci" --root "$runc_root" run --bundle "$bundle" "$tag-$1" </dev/null
}

# Warm-up, then N rounds of one of ours and one runc, interleaved so that
# load from anything else on the machine hits both alike; one duration in µs
# per line into $tmp/ours.us and $tmp/runc.us ($EPOCHREALTIME costs no process).
time_runs() {
    local i t0 t1 t2
    for ((i = 0; i < WARMUP; i++)); do
        ours
        runc_run "w$i"
    done
    : >"$tmp/ours.us"
    : >"$tmp/runc.us"
    for ((i = 0; i < N; i++)); do
        t0="${EPOCHREALTIME/./}"
        ours
        t1="${EPOCHREALTIME/./}"
        runc_run "$i"
        t2="${EPOCHREALTIME/./}"
        echo $((t1 - t0)) >>"$tmp/ours.us"
        echo $((t2 - t1)) >>"$tmp/runc.us"
    done
}

# stats FILE: "mean p50 p90 min" in ms.
stats() {
    sort -n "$1" | awk '{v[NR] = $1; s += $1}
        END {printf "%.1f %.1f %.1f %.1f", s / NR / 1000, v[int((NR + 1) / 2)] / 1000,
             v[int(NR * 0.9 + 0.5)] / 1000, v[1] / 1000}'
}

echo ">>> $N x kubelet ctl run --rm busybox:1.36 -- /bin/true and $N x $oci run (same rootfs), interleaved"
time_runs

read -r o_mean o_p50 o_p90 o_min <<<"$(stats "$tmp/ours.us")"
read -r r_mean r_p50 r_p90 r_min <<<"$(stats "$tmp/runc.us")"

# The same, the way the kubelet starts a pod: no command per container, but
# the runtime's calls in the kubelet's own process (benches/start.rs), one
# pod after another, interleaved with `$oci run` started from that process.
# Its helpers come from the small helper binary of the same build.
echo ">>> $N pods through the runtime in one process and $N x $oci run from it, interleaved"
KUBELET_BINARY="$start_helper" "${start_bench[@]}" --root "$root" --logs "$tmp/logs" \
    --cgroup-root "$tag" --image busybox:1.36 --out "$tmp" -n "$N" --warmup "$WARMUP" \
    --oci "$oci" --oci-root "$runc_root" --bundle "$bundle"
read -r i_mean i_p50 i_p90 i_min <<<"$(stats "$tmp/inproc.us")"
read -r c_mean c_p50 c_p90 c_min <<<"$(stats "$tmp/oci.us")"

# Memory of a running container's helper: the monitor (one per container).
# A pod has no process of its own (its namespaces are pinned by bind mounts;
# only a pod sharing its pid namespace gets a pid-1 holder).
echo ">>> $RSS_N detached containers (sleep 3600)"
ids=()
for ((i = 0; i < RSS_N; i++)); do
    ids+=("$("${ctl[@]}" run -d --name "rss-$i" busybox:1.36 -- sleep 3600 </dev/null)")
done
kib() { awk -v k="$2:" '$1 == k {print $2; exit}' "$1"; }
# private FILE: Private_Clean + Private_Dirty of an smaps_rollup (what only
# this process holds, the memory its exit would give back).
private() { awk '$1 ~ /^Private_(Clean|Dirty):$/ {s += $2} END {print s}' "$1"; }
mon_rss=0 mon_pss=0 mon_priv=0 mon_exe=""
for id in "${ids[@]}"; do
    mon="$(jq -r .monitorPid "$root/run/containers/$id/state.json")"
    # A monitor is a fork of the runtime's launcher, named by prctl.
    if [ "$(cat "/proc/$mon/comm")" != monitor ]; then
        echo "bench-runtime: pid $mon of container $id is not a monitor" >&2
        exit 1
    fi
    mon_exe="$(basename "$(readlink "/proc/$mon/exe")")"
    mon_rss=$((mon_rss + $(kib "/proc/$mon/status" VmRSS)))
    mon_pss=$((mon_pss + $(kib "/proc/$mon/smaps_rollup" Pss)))
    mon_priv=$((mon_priv + $(private "/proc/$mon/smaps_rollup")))
done
# shellcheck disable=SC2046
"${ctl[@]}" rmp $("${ctl[@]}" pods -q) >/dev/null

mib() { awk -v k="$1" -v n="$RSS_N" 'BEGIN {printf "%.2f MiB", k / n / 1024}'; }
ratio="$(awk -v r="$r_mean" -v o="$o_mean" 'BEGIN {printf "%.2fx", r / o}')"
ratio50="$(awk -v r="$r_p50" -v o="$o_p50" 'BEGIN {printf "%.2fx", r / o}')"
iratio="$(awk -v r="$c_mean" -v o="$i_mean" 'BEGIN {printf "%.2fx", r / o}')"
iratio50="$(awk -v r="$c_p50" -v o="$i_p50" 'BEGIN {printf "%.2fx", r / o}')"

cat <<EOF

$(nproc) cores, $(uname -r), $(stat -fc %T /sys/fs/cgroup), $("$oci" --version | head -1), kubelet $kubelet

| measure (ms per container) | mean | p50 | p90 | min |
| --- | --- | --- | --- | --- |
| kubelet ctl run --rm | $o_mean | $o_p50 | $o_p90 | $o_min |
| $oci run | $r_mean | $r_p50 | $r_p90 | $r_min |
| ratio $oci / ours | $ratio | $ratio50 | | |
| pod through the runtime in-process (as the kubelet) | $i_mean | $i_p50 | $i_p90 | $i_min |
| $oci run, started from that process | $c_mean | $c_p50 | $c_p90 | $c_min |
| ratio $oci / ours in-process | $iratio | $iratio50 | | |

| per running container ($RSS_N running) | VmRSS | Pss | Private |
| --- | --- | --- | --- |
| monitor (forked by $mon_exe __launcher) | $(mib $mon_rss) | $(mib $mon_pss) | $(mib $mon_priv) |
| pod sandbox | no process | | |
EOF
