#!/usr/bin/env bash
# The system packages the test suite runs for real, installed when missing:
#   postgresql  a throwaway PostgreSQL server per test session (mlos.cluster.postgres)
#   haproxy     the load balancer in front of MLOS nodes (mlos.cluster.haproxy)
#
# Debian and Ubuntu, with apt-get, as root: `make test` runs it. Without root, it names what is
# missing and how to install it; the tests that need it are then skipped, except in CI
# (CI=true), where a missing package is an error, here and in the tests.
set -euo pipefail

in_ci() {
    case "${CI:-}" in "" | 0 | false | False | FALSE | no) return 1 ;; *) return 0 ;; esac
}

have_postgresql() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

have_haproxy() {
    command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]
}

missing=()
have_postgresql || missing+=(postgresql)
have_haproxy || missing+=(haproxy)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

give_up() {
    echo "system_deps: $1" >&2
    if in_ci; then
        exit 1
    fi
    echo "system_deps: the tests that need ${missing[*]} will be skipped" >&2
    exit 0
}

if [ "$(id -u)" -ne 0 ]; then
    give_up "missing ${missing[*]}; install as root: sudo $0 (or apt-get install ${missing[*]})"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    give_up "missing ${missing[*]} and no apt-get here: install them with the system's package manager"
fi

echo "system_deps: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
have_postgresql || { echo "system_deps: postgresql installed but initdb not found" >&2; exit 1; }
have_haproxy || { echo "system_deps: haproxy installed but not found" >&2; exit 1; }
echo "system_deps: ${missing[*]} installed"
