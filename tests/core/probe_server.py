"""A real `mlos serve` with one probe plugin loaded, for the scheduler's end-to-end tests.

Probe plugins (`tests.core.batch_plugin`, `tests.core.instance_plugin`) read a model's
behaviour from a small JSON file; :meth:`ProbeServer.register_probe` writes one and registers
it. `serve_probe` is the module fixture's body: start, load the plugin as `probe`, stop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from mlos.testing import ServerProcess
from tests.suite import suite_config

__all__ = ["ProbeServer", "serve_probe"]


class ProbeServer:
    """A started server with a probe plugin loaded, and a REST session with admin rights."""

    def __init__(self, process: ServerProcess, models: Path) -> None:
        self.process = process
        self.models = models
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update(process.auth_headers)
        self._count = 0

    @property
    def url(self) -> str:
        """The server's REST address."""
        return self.process.url

    def register_probe(
        self, prefix: str, suffix: str, options: dict[str, Any], **body: Any
    ) -> str:
        """Register a fresh probe model (its file holds `options`) with these registration
        fields; its name."""
        self._count += 1
        name = f"{prefix}{self._count}"
        path = self.models / f"{name}{suffix}"
        path.write_text(json.dumps(options))
        answer = self.session.post(
            f"{self.url}/v1/models",
            json={"name": name, "plugin": "probe", "path": str(path), **body},
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        return name

    def close(self) -> None:
        """Close the session (the process is stopped by `serve_probe`)."""
        self.session.close()


ServerT = TypeVar("ServerT", bound=ProbeServer)


def serve_probe(
    tmp_path_factory: pytest.TempPathFactory,
    plugin: str,
    make: Callable[[ServerProcess, Path], ServerT],
) -> Iterator[ServerT]:
    """Start a server, load `plugin` (module:Class) as `probe`, yield `make(process, models)`,
    and stop everything afterwards."""
    home = tmp_path_factory.mktemp("probe-home")
    models = home / "models"
    models.mkdir()
    process = ServerProcess(home, config=suite_config(models))
    process.start()
    try:
        served = make(process, models)
        try:
            body = {"name": "probe", "module": plugin}
            assert served.session.post(f"{served.url}/v1/plugins", json=body).status_code == 201
            assert served.session.post(f"{served.url}/v1/plugins/probe/load").status_code == 200
            yield served
        finally:
            served.close()
    finally:
        process.stop()
