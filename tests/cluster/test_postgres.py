"""The throwaway PostgreSQL server: real initdb and postgres from the system's packages."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from mlos.cluster.postgres import PostgresServer, find_bindir
from mlos.core.store import ModelRecord, RegistryStore
from mlos.errors import FailedPrecondition, Unavailable
from tests.services import require


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of the test's own (stopped and deleted at the end), not yet started."""
    require(find_bindir() is not None, "PostgreSQL (the postgresql package)")
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="mlos-test-pg-")), durable=False)
    try:
        yield server
    finally:
        server.destroy()


def plain_dsn(server: PostgresServer, password: str) -> str:
    return (
        f"host=127.0.0.1 port={server.port} user={server.user} password={password} "
        f"dbname={server.database} connect_timeout=5"
    )


def test_the_server_takes_tcp_connections_with_its_password_only(
    postgres_server: PostgresServer,
) -> None:
    with psycopg.connect(plain_dsn(postgres_server, postgres_server.password)) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("127.0.0.1",)
        assert conn.execute("SELECT current_database()").fetchone() == ("mlos",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(plain_dsn(postgres_server, "wrong"))
    mode = (postgres_server.directory / "password").stat().st_mode & 0o777
    assert mode == 0o600


def test_the_server_never_runs_as_root(postgres_server: PostgresServer) -> None:
    with psycopg.connect(plain_dsn(postgres_server, postgres_server.password)) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    backend = psutil.Process(row[0])
    assert backend.uids().effective != 0
    if os.geteuid() != 0:
        assert backend.uids().effective == os.geteuid()


def test_databases_are_created_and_dropped(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("created_here")
    assert postgres_server.create_database("created_here") == url  # no error the second time
    store = RegistryStore(url)
    store.put_model(ModelRecord("m", "1", "onnx", "/m.onnx"))
    store.close()
    postgres_server.drop_database("created_here")
    postgres_server.drop_database("created_here")
    with pytest.raises(Unavailable, match='database "created_here" does not exist'):
        RegistryStore(url)


def test_a_restart_keeps_data_and_port_and_a_store_outlives_it(own_server: PostgresServer) -> None:
    own_server.start()
    port, url = own_server.port, own_server.url
    store = RegistryStore(url)
    store.put_model(ModelRecord("m", "1", "onnx", "/m.onnx"))
    pid = own_server._process.pid if own_server._process else -1

    own_server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(Unavailable, match="cannot use the registry database"):
        store.models()

    own_server.start()
    assert (own_server.port, own_server.url) == (port, url)
    assert [m.name for m in store.models()] == ["m"]  # the same store, new connections

    # A restart between two calls: the pooled connection is dead, the call goes through anyway.
    own_server.stop()
    own_server.start()
    store.put_model(ModelRecord("m", "2", "onnx", "/m2.onnx"))
    assert [m.version for m in store.models()] == ["1", "2"]
    store.close()


def test_a_taken_port_is_reported_and_nothing_keeps_running(own_server: PostgresServer) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = PostgresServer(own_server.directory, port=busy.getsockname()[1], durable=False)
        with pytest.raises(Unavailable, match="PostgreSQL exited at start"):
            server.start(timeout=30)
        assert not server.running


def test_missing_binaries_are_a_clear_error(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "pg", bindir=tmp_path)
    with pytest.raises(FailedPrecondition, match="apt-get install postgresql"):
        server.start()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another account")
def test_a_directory_the_server_account_cannot_reach_is_refused(tmp_path: Path) -> None:
    require(find_bindir() is not None, "PostgreSQL (the postgresql package)")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(FailedPrecondition, match="cannot reach"):
        PostgresServer(private / "pg").start()
