"""System services for the tests: a throwaway PostgreSQL server, and the rule for missing tools.

PostgreSQL and HAProxy come from the system's packages (`tools/system_deps.sh` installs them;
`make test` runs it). A test that needs one that is missing is skipped with the reason on a
developer's machine, and fails in CI (`CI=true`), where a skip would hide a broken setup.

Fixtures (imported by tests/conftest.py):

- `postgres_server`: one PostgreSQL server for the whole session, on 127.0.0.1 at a free port,
  its data in a temporary directory deleted at the end (run as `postgres` when the suite runs
  as root; fsync off).
- `postgres_url`: a fresh, empty database on it for one test, dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlos.cluster.haproxy import find_haproxy
from mlos.cluster.postgres import PostgresServer, find_bindir

__all__ = ["in_ci", "postgres_server", "postgres_url", "require", "require_haproxy"]


def in_ci() -> bool:
    """Whether the suite runs in CI (the CI environment variable is set and not false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(found: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) the current test when `what` is not installed."""
    if found:
        return
    reason = (
        f"{what} is not installed (tools/system_deps.sh installs it as root: "
        "sudo tools/system_deps.sh)"
    )
    if in_ci():
        pytest.fail(f"CI must have it: {reason}")
    pytest.skip(reason)


def require_haproxy() -> None:
    """Skip or fail unless haproxy is installed."""
    require(find_haproxy() is not None, "HAProxy (the haproxy package)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (deleted at the end)."""
    require(find_bindir() is not None, "PostgreSQL (the postgresql package)")
    # Under /tmp, not pytest's tmp_path: the server may run as another user, who must be able
    # to reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="mlos-test-pg-"))
    server = PostgresServer(directory, durable=False)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
