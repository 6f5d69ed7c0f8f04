"""Requests per second through HAProxy with 1, 2 and 3 MLOS nodes on one PostgreSQL registry.

    .venv/bin/python -m mlos.bench.cluster [--nodes 1,2,3] [--clients 16] [--seconds 10]

For each node count it starts a development cluster on loopback (:class:`mlos.cluster.dev.
DevCluster`: PostgreSQL, the nodes, HAProxy), registers the demo model (a 64→…→10 MLP on the
onnx plugin) through HAProxy once, waits until every node serves it, then runs `clients`
threads sending REST inference (JSON, batch 1) through HAProxy for `seconds`, each on its own
keep-alive connection, and counts the answers (every one checked: status 200, 10 outputs).
The clients run in this process, on the same machine as the nodes: on a small machine they
compete for the same cores, which caps the scaling — the numbers say what this machine does,
not what N machines would.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from mlos.cluster.dev import DevCluster
from mlos.demo import DEMO_CLASSES, DEMO_FEATURES, build_demo_model

__all__ = ["measure"]


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: object = None
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, data, headers)
    answer = conn.getresponse()
    return answer.status, answer.read()


def _setup(cluster: DevCluster, model: Path, token: str) -> None:
    host, port = cluster.http_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    for method, path, body in (
        ("POST", "/v1/plugins", {"name": "onnx"}),
        ("POST", "/v1/plugins/onnx/load", None),
        ("POST", "/v1/models", {"name": "demo", "plugin": "onnx", "path": str(model)}),
    ):
        status, text = _request(conn, method, path, token, body)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {status} {text[:300]!r}")
    conn.close()
    deadline = time.monotonic() + 120
    for node in cluster.nodes:
        node_conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
        while _request(node_conn, "GET", "/v2/models/demo/ready", token)[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.name} does not serve the model")
            time.sleep(0.1)
        node_conn.close()


def _load(url: str, token: str, clients: int, seconds: float) -> tuple[int, int]:
    host, port = url.removeprefix("http://").split(":")
    body = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, DEMO_FEATURES],
             "data": [0.5] * DEMO_FEATURES}
        ]
    }
    counts = [0] * clients
    errors = [0] * clients
    stop = threading.Event()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while not stop.is_set():
            try:
                status, text = _request(conn, "POST", "/v2/models/demo/infer", token, body)
                outputs = json.loads(text)["outputs"] if status == 200 else []
                ok = status == 200 and len(outputs[0]["data"]) == DEMO_CLASSES
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
            if ok:
                counts[index] += 1
            else:
                errors[index] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts), sum(errors)


def measure(node_counts: list[int], clients: int, seconds: float) -> list[dict[str, float]]:
    """One row per node count: requests/s and errors."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlos-bench-cluster-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)
        model = build_demo_model(root / "models" / "demo" / "model.onnx")
        for count in node_counts:
            settings = {"model_roots": [str(root / "models")]}
            with DevCluster(root / f"cluster-{count}", count, settings=settings) as cluster:
                token = cluster.token_file.read_text().strip()
                _setup(cluster, model, token)
                _load(cluster.http_url, token, clients, min(2.0, seconds))  # warm up
                done, errors = _load(cluster.http_url, token, clients, seconds)
            rows.append(
                {"nodes": count, "requests_per_second": done / seconds, "errors": errors}
            )
            print(
                f"{count} node(s): {done / seconds:8.1f} requests/s, {errors} errors", flush=True
            )
    return rows


def main() -> None:
    """Parse the flags, measure, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", default="1,2,3", help="node counts (default 1,2,3)")
    parser.add_argument("--clients", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per node count")
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    rows = measure(counts, args.clients, args.seconds)
    print(f"\ncpus: {os.cpu_count()}, clients: {args.clients}, seconds: {args.seconds:g}")
    print("nodes  requests/s  errors")
    for row in rows:
        print(f"{row['nodes']:5d}  {row['requests_per_second']:10.1f}  {row['errors']:6d}")


if __name__ == "__main__":
    main()
