"""Fixtures for the whole suite. Keep this file small and generic.

`mlos_server`: a real `mlos serve` process (loopback, free port, a fresh home, the suite's
plugin modules allowed and models readable from tmp_path), stopped after the test; see
tests/server_fixture.py for its API (`url`, `home`, `client()`, `restart()`).
`mlos_demo_server`: the same, started with `--demo` (onnx plugin and model `demo` ready).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_fixture import MLOSServer, suite_config


def _served(tmp_path: Path, *args: str) -> Iterator[MLOSServer]:
    server = MLOSServer(tmp_path / "mlos-home", tmp_path, *args, config=suite_config(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlos_server(tmp_path: Path) -> Iterator[MLOSServer]:
    """A running `mlos serve` with an empty home under tmp_path."""
    yield from _served(tmp_path)


@pytest.fixture
def mlos_demo_server(tmp_path: Path) -> Iterator[MLOSServer]:
    """A running `mlos serve --demo`: the onnx plugin and the model `demo` are ready."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    yield from _served(tmp_path, "--demo")
