"""A real engine in a temporary home, with the test `double` plugin available as a module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlos.core.engine import Engine
from mlos.sandbox.limits import Limits
from mlos_generated import smi_pb2

DOUBLE_PLUGIN = "tests.sdk.echo_plugin:EchoPlugin"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    """What the engine reads; the test plugins may be registered, models read beside the home."""

    home: Path
    restart_backoff_initial: float = 0.05
    restart_backoff_max: float = 30.0
    log_level: str = "warning"
    restart_backoff_stable: float = 60.0
    plugin_modules: tuple[str, ...] = ("tests.*",)
    plugin_executables: tuple[Path, ...] = ()
    # This checkout's tests, generated SMI code and bundled plugins, not an install's.
    plugin_python_path: tuple[Path, ...] = (REPO, REPO / "generated", REPO / "plugins")
    plugin_env: tuple[str, ...] = ()
    plugin_limits: dict[str, Limits] = field(default_factory=dict)
    plugin_cgroup: str = "auto"
    model_roots: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if not self.model_roots:
            object.__setattr__(self, "model_roots", (self.home.parent,))


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


PROBE_PLUGIN = "tests.sdk.probe_plugin:ProbePlugin"


async def add_plugin(
    engine: Engine, name: str, module: str = DOUBLE_PLUGIN, limits: Limits | None = None
) -> smi_pb2.PluginStatus:
    """Register and load a module plugin under `name`, with limits from the registration."""
    request = smi_pb2.RegisterPluginRequest(name=name, source=smi_pb2.PluginSource(module=module))
    if limits is not None:
        request.limits.CopyFrom(limits.to_proto())
    await engine.register_plugin(request)
    return await engine.load_plugin(name)


def probe_model(directory: Path, behavior: str) -> Path:
    """A model file of the probe plugin (tests/sdk/probe_plugin.py) with one behavior."""
    path = directory / f"{behavior}.probe"
    path.write_text(behavior)
    return path
