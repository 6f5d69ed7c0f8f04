"""Running the services a cluster of MLOS nodes stands on: PostgreSQL and HAProxy.

These are libraries over the system's own binaries (Debian's `postgresql` and `haproxy`
packages), used by the test suite and by development clusters on loopback. Production runs
them the way the operator already does; `deploy/` has the configuration.
"""
