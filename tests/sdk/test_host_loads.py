"""Where the plugin host runs a model load: the load thread, or inline once loads are fast."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from mlos.sdk import LoadedModel, ModelSpec
from mlos.sdk.host import INLINE_LOAD_BYTES, PluginHost
from mlos_generated import smi_pb2
from tests.sdk.echo_plugin import EchoPlugin


class RecordingPlugin(EchoPlugin):
    """The echo plugin, noting the thread each load runs on; loads take `seconds`."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.threads: list[str] = []

    def load(self, spec: ModelSpec) -> LoadedModel:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        return super().load(spec)


async def _load(host: PluginHost, path: Path, version: str) -> None:
    request = smi_pb2.LoadModelRequest(name="m", version=version, path=str(path))
    await host.load_model(request, None)  # type: ignore[arg-type]


async def test_fast_loads_run_inline_after_the_first(tmp_path: Path) -> None:
    plugin = RecordingPlugin()
    host = PluginHost(plugin)
    small = tmp_path / "m.double"
    small.write_text("double")
    large = tmp_path / "large.double"
    with large.open("wb") as file:
        file.truncate(INLINE_LOAD_BYTES + 1)
    try:
        for version in ("1", "2", "3"):
            await _load(host, small, version)
        await _load(host, large, "4")
        await _load(host, tmp_path, "5")  # a directory: its size is not looked at
        main = threading.current_thread().name
        first, second, third, fourth, fifth = plugin.threads
        assert first.startswith("load") and fifth.startswith("load") and fourth.startswith("load")
        assert second == third == main
        assert len(host.models) == 5
    finally:
        host.close()


async def test_slow_loads_stay_on_the_load_thread(tmp_path: Path) -> None:
    plugin = RecordingPlugin(seconds=0.02)
    host = PluginHost(plugin)
    path = tmp_path / "m.double"
    path.write_text("double")
    try:
        for version in ("1", "2", "3"):
            await _load(host, path, version)
        assert all(name.startswith("load") for name in plugin.threads)
    finally:
        host.close()
