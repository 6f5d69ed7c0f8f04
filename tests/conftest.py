"""Fixtures for the whole suite. Keep this file small and generic.

`mlos_server`: a real `mlos serve` process (loopback, free port, a fresh home, the suite's
plugin modules allowed and models readable from tmp_path), stopped after the test; see
`mlos.testing.ServerProcess` for its API (`url`, `home`, `client()`, `restart()`).
`mlos_demo_server`: the same, started with `--demo` (onnx plugin and model `demo` ready).
`postgres_server`, `postgres_url`: a throwaway PostgreSQL server and a fresh database on it
(tests/services.py).
`cpp_plugin`: the C++ example plugin, built once per session (tests/cpp_build.py).
`wheelhouse`: our wheels and their dependencies, for offline installs into clean virtual
environments (tests/wheels.py), built once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlos.testing import ServerProcess
from tests.cpp_build import cpp_plugin
from tests.services import postgres_server, postgres_url
from tests.suite import suite_config
from tests.wheels import build_wheelhouse

__all__ = [
    "cpp_plugin", "mlos_demo_server", "mlos_server", "postgres_server", "postgres_url",
    "wheelhouse",
]


def _served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "mlos-home", *args, logs=tmp_path, config=suite_config(tmp_path)
    )
    server.start()
    # Clients and CLI commands of the test find the server's admin token as users find theirs.
    if server.token:
        monkeypatch.setenv("MLOS_TOKEN", server.token)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlos_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """A running `mlos serve` with an empty home under tmp_path; MLOS_TOKEN is its admin
    token."""
    yield from _served(tmp_path, monkeypatch)


@pytest.fixture
def mlos_demo_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    """A running `mlos serve --demo`: the onnx plugin and the model `demo` are ready."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    yield from _served(tmp_path, monkeypatch, "--demo")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of wheels: the SDK, server and kit built here, and every dependency."""
    return build_wheelhouse(
        tmp_path_factory.mktemp("wheelhouse"), tmp_path_factory.mktemp("wheel-staging")
    )
