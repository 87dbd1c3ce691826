#!/usr/bin/env bash
# Benchmarks the controller-manager: a 1,000-replica Deployment created and
# rolled, against the bench's own pod create rate measured in the same run.
# Record the figures in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh
ensure_packages etcd-server etcd-client protobuf-compiler
cargo build --release --quiet -p apiserver -p controller-manager -p tests \
    --bin apiserver --bin controller-manager --bin bench-controllers
exec target/release/bench-controllers "$@"
