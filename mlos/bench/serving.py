"""A server for the benchmarks that measure registered models: started, onnx loaded, registered.

    server = onnx_server(home, {"mlp": {"path": str(mlp)}, "mlp_batched": {"path": ..., ...}})
    try:
        ...                       # measure against server.url / server.grpc_address
    finally:
        server.stop()
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from mlos.testing import ServerProcess

__all__ = ["onnx_server"]


def onnx_server(
    home: Path,
    registrations: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
) -> ServerProcess:
    """A started `mlos serve --no-auth` over `home` (with `config`) whose onnx plugin is loaded
    and that has each registration made: model name → the other fields of `POST /v1/models`
    (the plugin defaults to onnx). Stopped again, and SystemExit raised, when one fails."""
    server = ServerProcess(home, "--no-auth", config=config)
    server.start()
    try:
        with requests.Session() as session:
            session.trust_env = False
            base = server.url
            session.post(f"{base}/v1/plugins", json={"name": "onnx"}, timeout=30)
            session.post(f"{base}/v1/plugins/onnx/load", timeout=120)
            for name, fields in registrations.items():
                body = {"name": name, "plugin": "onnx", **fields}
                answer = session.post(f"{base}/v1/models", json=body, timeout=120)
                if answer.status_code != 201:
                    raise SystemExit(f"cannot register {name}: {answer.text}")
    except BaseException:
        server.stop()
        raise
    return server
