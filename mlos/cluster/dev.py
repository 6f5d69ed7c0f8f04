"""A development cluster on loopback: PostgreSQL, N MLOS nodes sharing it, HAProxy in front.

    with DevCluster(Path("/tmp/mlos-dev"), nodes=3) as cluster:
        print(cluster.http_url, cluster.grpc_address)

Everything lives in one directory: PostgreSQL's data (not durable: a throwaway registry), each
node's home (`node-0`, `node-1`, ...; their logs are `serve.log` there), HAProxy's
configuration and log. Nodes run `python -m mlos.cli serve` with their settings in
`config.yaml` (`settings` adds to them), on free loopback ports, named `n0`, `n1`, ... The
first node creates the registry's schema and the admin token (`admin.token` in its home; the
token is good on every node: the registry is shared). `stop` stops HAProxy, the nodes (drain)
and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from mlos.cluster.haproxy import HAProxy, Node
from mlos.cluster.postgres import PostgresServer
from mlos.cluster.process import ServiceProcess, free_port
from mlos.errors import Unavailable

__all__ = ["DevCluster", "DevNode"]

_POLL = 0.05


class DevNode:
    """One `mlos serve` of a development cluster."""

    def __init__(self, name: str, home: Path, settings: Mapping[str, Any]) -> None:
        self.name = name
        self.home = home
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        """The node's REST URL."""
        self.grpc_address = f"127.0.0.1:{self.grpc_port}"
        """The node's gRPC address."""
        self.settings = dict(settings)
        self.process: ServiceProcess | None = None

    def launch(self, env: Mapping[str, str] | None = None) -> None:
        """Start the process (it is ready later: :meth:`wait_ready`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        config = {**self.settings, "node_id": self.name}
        (self.home / "config.yaml").write_text(json.dumps(config, indent=2) + "\n")
        argv = [
            sys.executable, "-m", "mlos.cli", "serve", "--home", str(self.home),
            "--host", "127.0.0.1", "--http-port", str(self.http_port),
            "--grpc-port", str(self.grpc_port),
        ]
        base = dict(os.environ if env is None else env)
        environment = {k: v for k, v in base.items() if not k.startswith("MLOS_")}
        self.process = ServiceProcess(argv, self.home / "serve.log", env=environment)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the node answers ready; Unavailable with its log if it exits or is late."""
        deadline = time.monotonic() + timeout
        while True:
            process = self.process
            if process is None or not process.running():
                tail = process.log_tail() if process is not None else ""
                raise Unavailable(f"node {self.name} exited at start:\n{tail}")
            if _status(f"{self.url}/v2/health/ready") == 200:
                return
            if time.monotonic() > deadline:
                raise Unavailable(f"node {self.name} not ready within {timeout:g} s")
            time.sleep(_POLL)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (the node drains), SIGKILL after `timeout`."""
        if self.process is not None:
            self.process.stop(timeout=timeout)
            self.process = None


class DevCluster:
    """PostgreSQL, `nodes` MLOS nodes and HAProxy on loopback, in `directory`."""

    def __init__(
        self,
        directory: Path,
        nodes: int = 3,
        *,
        settings: Mapping[str, Any] | None = None,
        http_port: int = 0,
        grpc_port: int = 0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.directory = directory.resolve()
        self.env = env
        self.postgres = PostgresServer(self.directory / "postgres", durable=False)
        base = {"reconcile_interval": 1, "drain_delay": 2, **(settings or {})}
        self.nodes = [
            DevNode(f"n{i}", self.directory / f"node-{i}", base) for i in range(nodes)
        ]
        self.haproxy = HAProxy(
            self.directory / "haproxy",
            [Node(n.name, "127.0.0.1", n.http_port, n.grpc_port) for n in self.nodes],
            http_port=http_port,
            grpc_port=grpc_port,
        )

    @property
    def http_url(self) -> str:
        """REST through HAProxy."""
        return self.haproxy.http_url

    @property
    def grpc_address(self) -> str:
        """gRPC through HAProxy."""
        return self.haproxy.grpc_address

    @property
    def token_file(self) -> Path:
        """The admin token (good on every node)."""
        return self.nodes[0].home / "admin.token"

    def start(self, timeout: float = 120.0) -> None:
        """Start PostgreSQL, the first node, the others together, then HAProxy; wait until
        HAProxy sees every node up. On failure, whatever started is stopped."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # haproxy and PostgreSQL may run as other users
        try:
            self.postgres.start()
            for node in self.nodes:
                node.settings["database_url"] = self.postgres.url
            first, *others = self.nodes
            first.launch(self.env)
            first.wait_ready(timeout)
            for node in others:
                node.launch(self.env)
            for node in others:
                node.wait_ready(timeout)
            self.haproxy.start()
            self.haproxy.wait_up(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop HAProxy, every node (they drain together), then PostgreSQL."""
        self.haproxy.stop()
        for node in self.nodes:
            if node.process is not None and node.process.running():
                with contextlib.suppress(ProcessLookupError):
                    node.process.process.terminate()
        for node in self.nodes:
            node.stop()
        self.postgres.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return 0

