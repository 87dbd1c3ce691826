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
