#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for a bounded time each:
#
#   hack/fuzz.sh                 # all targets, 60 s each
#   FUZZ_SECONDS=600 hack/fuzz.sh quantity selectors
#
# The targets feed random input to the parsers that read what clients and
# pods send: protobuf bodies, strategic merge patches, label/field
# selectors, quantities, DNS packets, JSON/YAML bodies and URLs. Corpora live
# in fuzz/corpus/<target> (seeds are committed; new inputs libFuzzer finds are
# added there). A crash leaves its input in fuzz/artifacts/<target>/: turn it
# into a regression test next to the parser, then fix the parser.
#
# Needs the nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz,
# which this script installs from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "hack/fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo ">>> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

failed=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    echo ">>> $target for ${seconds}s"
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crashes in ${#targets[@]} targets (${seconds}s each)"
