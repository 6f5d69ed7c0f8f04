"""The engine opens its registry by the settings' database URL: two engines (two nodes) on one
database share what is registered; the home's SQLite file stays untouched then."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlos.core.engine import Engine
from mlos_generated import smi_pb2
from tests.core.conftest import add_double_plugin, model_file
from tests.suite import REPO


@dataclass(frozen=True)
class NodeSettings:
    home: Path
    database_url: str
    restart_backoff_initial: float = 0.05
    restart_backoff_max: float = 30.0
    log_level: str = "warning"
    model_roots: tuple[Path, ...] = ()
    plugin_modules: tuple[str, ...] = ("tests.*",)
    plugin_python_path: tuple[Path, ...] = (REPO,)


async def test_a_node_restores_what_another_node_registered(
    registry_url: str, tmp_path: Path
) -> None:
    first = Engine(NodeSettings(tmp_path / "node-1", registry_url, model_roots=(tmp_path,)))
    await first.start()
    try:
        await add_double_plugin(first)
        path = model_file(tmp_path)
        await first.register_model(
            smi_pb2.RegisterModelRequest(name="m", plugin="double", path=str(path))
        )
    finally:
        await first.stop()

    second = Engine(NodeSettings(tmp_path / "node-2", registry_url, model_roots=(tmp_path,)))
    await second.start()
    try:
        plugins = (await second.list_plugins()).plugins
        assert [(p.name, p.state) for p in plugins] == [("double", smi_pb2.PLUGIN_STATE_READY)]
        model = await second.get_model("m")
        assert [v.version for v in model.versions] == ["1"]
    finally:
        await second.stop()
    if not registry_url.startswith("sqlite"):
        assert not (tmp_path / "node-1" / "registry.db").exists()
