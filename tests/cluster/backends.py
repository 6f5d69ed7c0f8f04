"""Small real backends for the HAProxy tests: an HTTP server per node, and a gRPC server.

Each :class:`StubNode` answers `GET /v2/health/ready` with its `ready_status` and every other
request with its own name, counting what it served; `fail_next` makes it answer 503 to that
many requests first.
"""

from __future__ import annotations

import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mlos.cluster.haproxy import Node


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        node = self.server.node
        if self.path == "/v2/health/ready":
            self._answer(node.ready_status, b"")
            return
        with node.lock:
            if node.fail_next > 0:
                node.fail_next -= 1
                status = 503
            else:
                node.served += 1
                status = 200
        self._answer(status, node.name.encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    node: StubNode

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # health checks end with a reset; not worth a traceback


class StubNode:
    """One HTTP backend on 127.0.0.1 at a free port, and optionally a gRPC server."""

    def __init__(self, name: str, *, grpc_server: bool = False) -> None:
        self.name = name
        self.ready_status = 200
        self.fail_next = 0
        self.served = 0
        self.lock = threading.Lock()
        self.http = _Server(("127.0.0.1", 0), _Handler)
        self.http.node = self
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()
        self.grpc: grpc.Server | None = None
        self.grpc_port = self.http_port  # no gRPC: the same port keeps the Node well-formed
        if grpc_server:
            self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            servicer = health.HealthServicer()
            servicer.set("", health_pb2.HealthCheckResponse.SERVING)
            health_pb2_grpc.add_HealthServicer_to_server(servicer, self.grpc)
            self.grpc_port = self.grpc.add_insecure_port("127.0.0.1:0")
            self.grpc.start()

    @property
    def http_port(self) -> int:
        """The HTTP port."""
        port: int = self.http.server_address[1]
        return port

    @property
    def node(self) -> Node:
        """This backend as an HAProxy node."""
        return Node(self.name, "127.0.0.1", self.http_port, self.grpc_port)

    def close(self) -> None:
        """Stop listening: connections to the port are refused from now on."""
        self.http.shutdown()
        self.http.server_close()
        if self.grpc is not None:
            self.grpc.stop(grace=None)
