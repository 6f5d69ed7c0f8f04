"""A real engine in a temporary home, with the test `double` plugin available as a module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlos.core.engine import Engine
from mlos_generated import smi_pb2

DOUBLE_PLUGIN = "tests.sdk.echo_plugin:EchoPlugin"


@dataclass(frozen=True)
class Settings:
    home: Path
    restart_backoff_initial: float = 0.05
    restart_backoff_max: float = 30.0
    log_level: str = "warning"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine(Settings(tmp_path / "home"))
    await engine.start()
    yield engine
    await engine.stop()


async def add_double_plugin(engine: Engine, load: bool = True) -> smi_pb2.PluginStatus:
    """Register (and by default load) the `double` plugin."""
    status = await engine.register_plugin(
        smi_pb2.RegisterPluginRequest(name="double", source=smi_pb2.PluginSource(module=DOUBLE_PLUGIN))
    )
    if load:
        status = await engine.load_plugin("double")
    return status


def model_file(tmp_path: Path, name: str = "m.double") -> Path:
    path = tmp_path / name
    path.write_text("double")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty registry database: a SQLite file, then a PostgreSQL database (real server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
