"""A real `mlos serve` for plugin tests, with the REST calls they make.

`Served` wraps `mlos.testing.ServerProcess` (the real server process, loopback, random
port, its own home) with plain HTTP helpers: start plugins by entry point name, register
models, and run JSON `/v2` inferences that return numpy arrays::

    with served(tmp_path) as node:
        node.load_plugin("torch")
        node.register_model("net", path, plugin="torch")
        outputs = node.infer("net", {"x": array})
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import requests

from mlos.testing import ServerProcess
from mlos.wire.tensors import datatype_of, numpy_dtype
from tests.suite import suite_config

__all__ = ["RestError", "Served", "served"]

Array = npt.NDArray[Any]
TIMEOUT = 120.0


class RestError(Exception):
    """A 4xx or 5xx answer, with its decoded body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Served:
    """REST helpers over one running server."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers.update(server.auth_headers)

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """One REST call: the decoded JSON body, or RestError for a 4xx or 5xx."""
        response = self.http.request(method, self.server.url + path, json=json, timeout=TIMEOUT)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise RestError(response.status_code, body)
        return body

    def load_plugin(self, name: str) -> dict[str, Any]:
        """Register an installed plugin by its entry point name and start its process."""
        self.request("POST", "/v1/plugins", {"name": name})
        status: dict[str, Any] = self.request("POST", f"/v1/plugins/{name}/load")
        return status

    def plugin_pid(self, name: str) -> int:
        """The process id of a running plugin."""
        return int(self.request("GET", f"/v1/plugins/{name}")["pid"])

    def register_model(
        self, name: str, path: Path, plugin: str | None = None, **config: str
    ) -> dict[str, Any]:
        """Register and load a model; the plugin is chosen from the file when not named."""
        body: dict[str, Any] = {"name": name, "path": str(path)}
        if plugin:
            body["plugin"] = plugin
        if config:
            body["config"] = config
        status: dict[str, Any] = self.request("POST", "/v1/models", body)
        return status

    def remove_model(self, name: str) -> None:
        """Unload and forget every version of a model."""
        self.request("DELETE", f"/v1/models/{name}")

    def metadata(self, name: str) -> dict[str, Any]:
        """Open Inference Protocol model metadata."""
        metadata: dict[str, Any] = self.request("GET", f"/v2/models/{name}")
        return metadata

    def infer(self, model: str, inputs: dict[str, Array]) -> dict[str, Array]:
        """A JSON `/v2` inference; outputs as arrays of their datatype's numpy dtype."""
        body = {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype_of(array),
                    "shape": list(array.shape),
                    "data": [
                        v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1)
                    ] if array.dtype.kind == "O" else array.reshape(-1).tolist(),
                }
                for name, array in inputs.items()
            ]
        }
        answer = self.request("POST", f"/v2/models/{model}/infer", body)
        return {
            output["name"]: np.array(
                output["data"], dtype=numpy_dtype(output["datatype"])
            ).reshape(output["shape"])
            for output in answer["outputs"]
        }


@contextlib.contextmanager
def served(
    root: Path, *model_roots: Path, executables: Sequence[Path] = ()
) -> Iterator[Served]:
    """A running `mlos serve` with a fresh home under `root`, stopped (and checked) after; it
    reads models under `root` and `model_roots`, and may run `executables` as plugins."""
    config = suite_config(root, *model_roots, executables=executables)
    server = ServerProcess(root / "mlos-home", logs=root, config=config)
    server.start()
    node = Served(server)
    try:
        yield node
    finally:
        node.http.close()
        server.stop()
