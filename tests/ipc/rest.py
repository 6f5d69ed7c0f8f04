"""REST calls the IPC tests check the server with: statistics, loads and unloads."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from mlos.testing import ServerProcess


def rest(server: ServerProcess, method: str, path: str) -> Any:
    """`method path` on the server's REST API with its admin token; the decoded JSON answer."""
    request = urllib.request.Request(
        server.url + path, method=method, headers=server.auth_headers,
        data=b"" if method == "POST" else None,
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def success_count(server: ServerProcess, model: str = "demo") -> int:
    """Inferences the server answered successfully for `model` (its statistics)."""
    stats = rest(server, "GET", f"/v2/models/{model}/stats")
    return int(stats["model_stats"][0]["inference_stats"]["success"]["count"])
