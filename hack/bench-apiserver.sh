#!/usr/bin/env bash
# Benchmarks the apiserver against raw etcd in one run (release build).
# Prints a table of rates, latencies and memory with the ratios; record the
# figures in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh
ensure_packages etcd-server etcd-client protobuf-compiler
cargo build --release --quiet -p apiserver -p tests --bin apiserver --bin bench-apiserver
exec target/release/bench-apiserver
