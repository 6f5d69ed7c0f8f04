"""REST measurements: one keep-alive HTTP/1.1 connection per client, as lean as a client gets.

`http.client` is used instead of a richer client so that the numbers show the server's cost,
not the client library's.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from mlos.bench.report import Result, summarize

__all__ = ["RestBench", "binary_infer_body"]


def binary_infer_body(name: str, array: npt.NDArray[np.float32], output: str) -> tuple[bytes, int]:
    """A Triton binary-tensor request body and its JSON header length."""
    raw = np.ascontiguousarray(array).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": output, "parameters": {"binary_data": True}}],
        }
    ).encode()
    return header + raw, len(header)


@dataclass
class Call:
    """One HTTP request to repeat."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] | None = None
    expect: int = 200


class RestBench:
    """Times REST calls against a running server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def connection(self) -> http.client.HTTPConnection:
        """A fresh keep-alive connection."""
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def send(self, conn: http.client.HTTPConnection, call: Call) -> bytes:
        """Send one request and read the whole answer; fail loudly on an unexpected status."""
        conn.request(call.method, call.path, body=call.body, headers=call.headers or {})
        response = conn.getresponse()
        data = response.read()
        if response.status != call.expect:
            raise RuntimeError(f"{call.method} {call.path}: {response.status} {data[:300]!r}")
        return data

    def measure(
        self,
        operation: str,
        make_call: Callable[[int], Call],
        requests: int,
        *,
        warmup: int = 20,
        concurrency: int = 1,
        after: Callable[[http.client.HTTPConnection, int], None] | None = None,
    ) -> Result:
        """Latency of `requests` calls (`make_call(i)` builds call i) at `concurrency` clients.

        `after(conn, i)`, when given, runs untimed after call i (for example to delete what
        a registration created).
        """
        conn = self.connection()
        for i in range(warmup):
            self.send(conn, make_call(-1 - i))
            if after is not None:
                after(conn, -1 - i)
        conn.close()
        per_client = max(1, requests // concurrency)

        def client(offset: int) -> list[float]:
            samples = []
            own = self.connection()
            for i in range(offset, offset + per_client):
                call = make_call(i)
                started = time.perf_counter()
                self.send(own, call)
                samples.append(time.perf_counter() - started)
                if after is not None:
                    after(own, i)
            own.close()
            return samples

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            chunks = list(pool.map(client, [c * per_client for c in range(concurrency)]))
        wall = time.perf_counter() - started
        samples = [s for chunk in chunks for s in chunk]
        return summarize(operation, "REST", samples, wall, concurrency)
