#!/usr/bin/env bash
# Runs Kubernetes' own conformance suite (the [Conformance] specs of upstream's
# e2e.test) against a 3-node lab and writes the results to docs/conformance.md.
# Too long for hack/test.sh: the whole suite takes hours on 2 cores.
#
#   hack/conformance.sh KIT [--tree TREE] [--focus REGEX] [--procs N]
#                           [--no-serial] [--keep] [--name NAME]
#                           [--kubeconfig FILE --registry HOST:PORT]
#   hack/conformance.sh KIT --tree TREE --subset [--name NAME]
#
# KIT   a directory holding bin/{e2e.test,ginkgo,kubectl}. When e2e.test is
#       missing it is built there from TREE (hack/lib/conformance-kit.sh
#       build: Go from PyPI, offline; ~15 min). A user with internet may put
#       an upstream release's e2e.test, ginkgo and kubectl there instead.
# TREE  a Kubernetes source tree with vendor/ at the version of e2e.test
#       (hack/lib/conformance-kit.sh tree writes one out of a bare git copy of
#       openshift/microshift). With it, the test images are built from the
#       tree and pushed to the lab's registry, and e2e.test is pointed there
#       (KUBE_TEST_REPO_LIST); without it the kubelets pull upstream's images.
# --focus     only specs whose name matches (a partial run, marked as such)
# --procs     parallel ginkgo processes for the non-serial specs (default 3)
# --no-serial skip the second phase ([Serial] specs, one at a time)
# --keep      leave the lab running afterwards
# --kubeconfig/--registry  use a running cluster instead of starting a lab
# --subset    only the specs listed in hack/lib/conformance-subset.txt (a
#             few minutes; hack/test.sh runs it): the summary goes to the
#             results directory, not docs/, and the exit status is 1 unless
#             every listed spec passed
# CONFORMANCE_NOTE (environment) is recorded in the summary as is.
#
# Phase 1 runs the non-serial specs in parallel, phase 2 the serial ones
# alone. The junit files (cut down to the conformance specs) go to
# docs/conformance/junit_<phase>.xml, the summary (pass count,
# date, command, one line per failing spec with its first failure message)
# to docs/conformance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COMMAND="hack/conformance.sh$(printf ' %q' "$@")"

KIT=""
TREE=""
FOCUS=""
PROCS=3
SERIAL=1
KEEP=0
NAME=conformance
KCFG=""
REGISTRY=""
SUBSET=""
while [ $# -gt 0 ]; do
    case "$1" in
        --tree) TREE=$2; shift 2 ;;
        --focus) FOCUS=$2; shift 2 ;;
        --procs) PROCS=$2; shift 2 ;;
        --no-serial) SERIAL=0; shift ;;
        --keep) KEEP=1; shift ;;
        --name) NAME=$2; shift 2 ;;
        --kubeconfig) KCFG=$2; shift 2 ;;
        --registry) REGISTRY=$2; shift 2 ;;
        --subset) SUBSET=$ROOT/hack/lib/conformance-subset.txt; SERIAL=0; shift ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) [ -z "$KIT" ] || { echo "one KIT directory only" >&2; exit 2; }; KIT=$1; shift ;;
    esac
done
[ -n "$KIT" ] || { sed -n '2,35p' "$0"; exit 2; }
mkdir -p "$KIT"
KIT=$(cd "$KIT" && pwd)
[ -z "$TREE" ] || TREE=$(cd "$TREE" && pwd)
if [ -n "$KCFG" ] && [ -n "$TREE" ] && [ -z "$REGISTRY" ]; then
    echo "--kubeconfig with --tree needs --registry (where the kubelets pull the test images)" >&2
    exit 2
fi

# 1. The kit.
if [ ! -x "$KIT/bin/e2e.test" ]; then
    [ -n "$TREE" ] || { echo "$KIT/bin/e2e.test is missing: give --tree to build it" >&2; exit 2; }
    bash hack/lib/conformance-kit.sh build "$TREE" "$KIT"
fi
for b in e2e.test ginkgo kubectl; do
    [ -x "$KIT/bin/$b" ] || { echo "$KIT/bin/$b is missing" >&2; exit 2; }
done

# 2. The lab (3 nodes), unless a cluster was given.
LAB_DIR=""
if [ -z "$KCFG" ]; then
    LAB_DIR=${LAB_DIR:-/var/tmp/minik8s-$NAME}
    export LAB_DIR
    if [ "$KEEP" = 0 ]; then
        trap 'hack/local-up-cluster.sh --name "$NAME" down >/dev/null 2>&1 || true' EXIT
    fi
    hack/local-up-cluster.sh --name "$NAME" --nodes 3 --no-demo up
    KCFG=$LAB_DIR/kubeconfig
    REGISTRY=$(awk '$1 == "addr:" {print $2}' "$LAB_DIR/registry/config.yml")
fi

# 3. The test images, in the lab's registry.
if [ -n "$TREE" ]; then
    bash hack/lib/conformance-kit.sh images "$TREE" "$KIT" "$REGISTRY"
    bash hack/lib/conformance-kit.sh repo-list "$REGISTRY" >"$KIT/repo-list.yaml"
    # The variable, not --kube-test-repo-list: e2e.test fixes some image
    # names before it parses its flags.
    export KUBE_TEST_REPO_LIST=$KIT/repo-list.yaml
fi

# 4. The suite.
RESULTS=$(mktemp -d /var/tmp/conformance-results.XXXXXX)
run_phase() {
    local phase=$1 labels=$2 procs=$3
    mkdir -p "$RESULTS/$phase"
    local args=(--procs="$procs" --label-filter="$labels" --timeout=8h --keep-going --no-color --silence-skips
        --junit-report=junit.xml --output-dir="$RESULTS/$phase")
    [ -z "$FOCUS" ] || args+=(--focus="$FOCUS")
    local name
    if [ -n "$SUBSET" ]; then
        # Each listed name as a literal (regex-escaped) focus.
        while IFS= read -r name; do
            args+=(--focus="$(printf '%s' "$name" | sed 's/[][\\.^$*+?(){}|/]/\\&/g')")
        done < <(grep -v '^#' "$SUBSET" | grep -v '^$')
    fi
    echo ">>> phase $phase: $labels${FOCUS:+, focus $FOCUS}"
    # A failing spec makes ginkgo exit non-zero; the report says which.
    "$KIT/bin/ginkgo" "${args[@]}" "$KIT/bin/e2e.test" -- \
        --kubeconfig="$KCFG" --provider=skeleton --kubectl-path="$KIT/bin/kubectl" \
        2>&1 | tee "$RESULTS/$phase/ginkgo.log" || true
}
STARTED=$(date -u +%Y-%m-%dT%H:%MZ)
run_phase parallel 'Conformance && !Serial && !Disruptive' "$PROCS"
[ "$SERIAL" = 0 ] || run_phase serial 'Conformance && Serial' 1

# 5. The record: the summary, and each phase's junit cut down to the
# [Conformance] specs (ginkgo lists all ~7,900 specs of e2e.test). A subset
# run only checks: its summary stays with the logs.
if [ -n "$SUBSET" ]; then
    if python3 hack/lib/conformance-report.py --out "$RESULTS/conformance.md" --started "$STARTED" \
        --command "$COMMAND" --focus "subset" --require "$SUBSET" "$RESULTS"/*/junit.xml; then
        rm -rf "$RESULTS"
        exit 0
    fi
    echo ">>> the subset failed: logs and junit in $RESULTS" >&2
    exit 1
fi
mkdir -p docs/conformance
rm -f docs/conformance/junit_*.xml
python3 hack/lib/conformance-report.py --out docs/conformance.md --started "$STARTED" \
    --command "$COMMAND" --focus "$FOCUS" --note "${CONFORMANCE_NOTE:-}" \
    --version "$("$KIT/bin/kubectl" version --client 2>/dev/null | head -1)" \
    --keep-dir docs/conformance "$RESULTS"/*/junit.xml
echo ">>> results: docs/conformance.md (logs in $RESULTS)"
