#!/bin/sh
# System packages the test suite needs beyond Python, installed when missing:
#   g++, make, cmake, pkg-config, protobuf  build and test the C++ example plugin
#                                           (plugins/examples/mlos-plugin-cpp)
#   postgresql                              a throwaway PostgreSQL server (mlos.cluster.postgres)
#   haproxy                                 the load balancer in front of MLOS nodes
#                                           (mlos.cluster.haproxy)
#
#   tools/system_deps.sh          install what is missing (as root, or through sudo -n)
#   tools/system_deps.sh --check  only say what is missing (exit 1 when something is)
#
# On Debian and Ubuntu it installs with apt-get. Without root (and without password-less sudo)
# it prints the command to run and exits 0, so a developer's `make test` goes on (the C++ tests
# then skip and say why) -- except when CI=true, where a missing package fails the build.
set -eu

PACKAGES="g++ make cmake pkg-config protobuf-compiler libprotobuf-dev postgresql haproxy"

installed() {
    # dpkg knows best; without it, look for the commands and the headers themselves.
    if command -v dpkg-query >/dev/null 2>&1; then
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
        return
    fi
    case "$1" in
        g++) command -v c++ >/dev/null 2>&1 ;;
        protobuf-compiler) command -v protoc >/dev/null 2>&1 ;;
        postgresql) command -v initdb >/dev/null 2>&1 ||
                    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ;;
        haproxy) command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] ;;
        libprotobuf-dev) [ -f /usr/include/google/protobuf/message.h ] ||
                         [ -f /usr/local/include/google/protobuf/message.h ] ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=""
for package in $PACKAGES; do
    installed "$package" || missing="$missing $package"
done
missing="${missing# }"

if [ -z "$missing" ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "missing system packages: $missing" >&2
    exit 1
fi

in_ci() {
    case "${CI:-}" in
        1 | true | TRUE | True | yes) return 0 ;;
        *) return 1 ;;
    esac
}

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system_deps: missing $missing, and apt-get is not available: install the equivalent" \
         "packages (a C++17 compiler, CMake, the protobuf compiler and C++ library)" >&2
    if in_ci; then exit 1; fi
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    echo "system_deps: missing $missing; install them with:" >&2
    echo "  sudo apt-get install -y $missing" >&2
    if in_ci; then exit 1; fi
    echo "system_deps: going on without them (the C++ plugin tests will skip)" >&2
    exit 0
fi

echo "system_deps: installing $missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # word splitting of the package list is intended
$as_root apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
    # A fresh image has no package lists yet.
    $as_root apt-get update -qq
    $as_root apt-get install -y --no-install-recommends $missing
}
