#!/usr/bin/env bash
# Triton's perf_analyzer, for the tests and benchmarks that load MLOS with it:
#
#   bash tools/perf_analyzer.sh [VENV]        (default .perf_analyzer; `make test` runs it)
#
# The binary ships inside the tritonclient 2.41.0 manylinux1 wheel (the tritonclient the dev
# extra installs carries none). It goes into a virtual environment of its own: tritonclient
# 2.41.0's protobuf modules are older than the inference.proto the test suite compares with
# Triton's, so it cannot replace the dev extra's tritonclient. It needs two shared libraries:
#   libb64.so.0d     Debian's libb64-0d, installed here with apt-get when missing (as root);
#   libcudart.so.12  from the nvidia-cuda-runtime-cu12 wheel, installed into VENV; callers put
#                    its directory on LD_LIBRARY_PATH (mlos.bench.perf_analyzer does).
# perf_analyzer runs without a GPU. The result is VENV/bin/perf_analyzer.
#
# Idempotent: a working install is left as it is. Without root (or apt-get) it names what is
# missing; the tests that need perf_analyzer are then skipped, except in CI (CI=true), where a
# missing piece is an error, here and in the tests.
set -euo pipefail

VENV="${1:-.perf_analyzer}"
PYTHON="${PYTHON:-python3}"
TRITONCLIENT="tritonclient==2.41.0"
CUDA_RUNTIME="nvidia-cuda-runtime-cu12==12.9.79"
BINARY="$VENV/bin/perf_analyzer"

in_ci() {
    case "${CI:-}" in "" | 0 | false | False | FALSE | no) return 1 ;; *) return 0 ;; esac
}

give_up() {
    echo "perf_analyzer: $1" >&2
    if in_ci; then
        exit 1
    fi
    echo "perf_analyzer: the tests that need perf_analyzer will be skipped" >&2
    exit 0
}

# grep reads to the end (no -q): with pipefail, a writer cut off early would fail the test.
have_libb64() {
    ldconfig -p 2>/dev/null | grep 'libb64\.so\.0d' >/dev/null
}

cuda_runtime_dir() {
    compgen -G "$VENV/lib/python3*/site-packages/nvidia/cuda_runtime/lib" | head -n 1
}

works() {
    [ -x "$BINARY" ] || return 1
    local libs
    libs="$(cuda_runtime_dir)" || return 1
    LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$BINARY" --version 2>&1 |
        grep 'Perf Analyzer Version 2\.41\.0' >/dev/null
}

if ! have_libb64; then
    if [ "$(id -u)" -ne 0 ]; then
        give_up "missing libb64-0d; install as root: sudo apt-get install libb64-0d"
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        give_up "missing libb64 (libb64.so.0d) and no apt-get here: install it with the system's package manager"
    fi
    echo "perf_analyzer: installing libb64-0d (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends libb64-0d >/dev/null
    have_libb64 || { echo "perf_analyzer: libb64-0d installed but libb64.so.0d not found" >&2; exit 1; }
fi

if works; then
    exit 0
fi

echo "perf_analyzer: installing $TRITONCLIENT and $CUDA_RUNTIME into $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || give_up "cannot create the virtual environment $VENV"
fi
# Only the binary and the CUDA runtime library are used: no dependencies, no Python imports.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --only-binary :all: "$TRITONCLIENT" "$CUDA_RUNTIME" ||
    give_up "pip could not install $TRITONCLIENT and $CUDA_RUNTIME (a manylinux x86_64 system is needed)"

works || give_up "$BINARY does not run (see: $BINARY --version)"
echo "perf_analyzer: $BINARY ready"
