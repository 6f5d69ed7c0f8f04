"""The MLOS server process: the core engine behind the REST API, on one event loop.

    mlos.loop.run(serve(Settings.load(flags, os.environ)))

:func:`serve` binds the REST port first (so a busy port fails before any plugin starts), starts
the engine (which restores the persisted plugins and models), optionally sets up the demo and
the models of the `models` setting (:mod:`mlos.preload`), then
serves the IPC socket (:mod:`mlos.ipc.listener`, owner-only), gRPC (:mod:`mlos.grpc`, its port
bound before the engine starts) and REST until SIGTERM or SIGINT:
it stops accepting connections, lets requests in flight finish (up to :data:`DRAIN_SECONDS`),
and stops the engine and its plugin processes. A second Ctrl-C skips the wait. Before that,
readiness turns false at once and the node keeps serving for `drain_delay` seconds, so that
load balancers stop sending it requests before its ports close. Once each API
accepts requests it prints one line, flushed, IPC and gRPC before REST::

    MLOS IPC listening on unix:///home/me/.mlos/mlos.sock
    MLOS gRPC listening on 127.0.0.1:8081
    MLOS REST listening on http://127.0.0.1:8080

With port 0 the line carries the port the system picked. With a `metrics_port`, a second HTTP
server answers GET /metrics alone there (the REST port answers it too), announced before REST:
`MLOS metrics listening on http://127.0.0.1:8002/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from mlos.config import Settings, StartupModel
from mlos.core.dataplane import Dataplane
from mlos.core.log_settings import ServerLogHandler
from mlos.errors import FailedPrecondition, Unavailable
from mlos.grpc.app import GRPCServer
from mlos.grpc.app import create_server as create_grpc_server
from mlos.ipc.direct import DirectIPCService
from mlos.ipc.listener import Listener
from mlos.preload import ensure_models
from mlos.rest.app import create_app
from mlos.rest.coalesce import CoalescingHttpProtocol
from mlos.rest.middleware import OnlyPaths

__all__ = [
    "DEMO_MODEL",
    "DEMO_PLUGIN",
    "DRAIN_SECONDS",
    "ServedEngine",
    "configure_logging",
    "demo_model_path",
    "ensure_demo",
    "listen",
    "serve",
]

logger = logging.getLogger("mlos.server")

DEMO_PLUGIN = "onnx"
DEMO_MODEL = "demo"
DRAIN_SECONDS = 30.0
"""How long a stopping server waits for requests in flight before cancelling them, by default
(the `drain_seconds` setting)."""

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_TLS_CLOSE_GRACE = 1.0
"""Seconds a closed idle connection may take to say goodbye at shutdown (TLS close_notify)."""


class ServedEngine(Dataplane, Protocol):
    """The core engine as the server runs it: the dataplane, plus start and stop."""

    async def start(self) -> None:
        """Open the registry and restore the persisted plugins and models."""
        ...

    async def stop(self) -> None:
        """Stop every plugin process; safe after a failed or partial start."""
        ...


def configure_logging(level: str, log_format: str = "default") -> None:
    """Log to stderr at `level` (a Settings log level), in `log_format` (default, ISO8601 or
    json)."""
    logging.basicConfig(
        level=level.upper(), handlers=[ServerLogHandler(sys.stderr, log_format)]
    )


def demo_model_path(home: Path) -> Path:
    """Where `--demo` keeps the demo model: `<home>/models/demo/model.onnx`."""
    return home / "models" / DEMO_MODEL / "model.onnx"


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise Unavailable(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def _url(sock: socket.socket, scheme: str = "http") -> str:
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _announce(line: str) -> None:
    print(line, flush=True)


async def ensure_demo(engine: Dataplane, home: Path) -> None:
    """Build the demo model if missing; register (or load) the onnx plugin and the demo model.

    Idempotent: what is registered already is kept as it is.
    """
    path = demo_model_path(home)
    if not path.is_file():
        try:
            from mlos.demo import build_demo_model

            build_demo_model(path)
        except ImportError as exc:
            raise FailedPrecondition(
                f"--demo needs the onnx package ({exc.name} is missing): pip install 'mlos[onnx]'"
            ) from None
        logger.info("built the demo model at %s", path)
    await ensure_models(engine, [StartupModel(DEMO_MODEL, path, DEMO_PLUGIN)])


async def _serve_ipc(
    engine: ServedEngine, settings: Settings, announce: Callable[[str], None]
) -> Listener:
    """Serve the MLOS service on the IPC socket (owner-only), and say where."""
    listener = Listener(
        DirectIPCService(engine), settings.ipc_socket, max_frame=settings.max_body_bytes
    )
    await listener.start()
    announce(f"MLOS IPC listening on {listener.url}")
    return listener


class _Uvicorn(uvicorn.Server):
    """uvicorn's server with signals left to :func:`serve`, and a callback once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn would install its own handlers and re-raise the signal after shutting down,
        # which would kill the process before the engine stops its plugins.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_started()

    async def _wait_tasks_to_complete(self) -> None:
        # An idle TLS connection closed at shutdown waits for the peer's close_notify, for up
        # to asyncio's 30 s; a client that keeps an idle connection open never sends it. Such
        # connections are closing already (nothing is in flight on them): abort them.
        asyncio.get_running_loop().call_later(_TLS_CLOSE_GRACE, self._abort_closing)
        await super()._wait_tasks_to_complete()

    def _abort_closing(self) -> None:
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and transport.is_closing():
                transport.abort()


def _uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]  # uvicorn types the app narrower than the ASGI callable it takes
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        lifespan="off",
        ws="none",
        http=CoalescingHttpProtocol,  # a response leaves in one send (mlos/rest/coalesce.py)
        server_header=False,
        timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        ssl_ca_certs=settings.tls_client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED if settings.tls_client_ca else ssl.CERT_NONE,
    )


async def _serve_metrics(
    app: ASGIApp, sock: socket.socket, settings: Settings, announce: Callable[[str], None]
) -> tuple[_Uvicorn, asyncio.Task[None]]:
    """Serve GET /metrics alone on `sock` (the `metrics_port`), and say where once it listens."""
    listening = asyncio.Event()
    url = _url(sock)

    def started() -> None:
        announce(f"MLOS metrics listening on {url}/metrics")
        listening.set()

    metrics_server = _Uvicorn(_uvicorn_config(OnlyPaths(app, {"/metrics"}), settings), started)
    task = asyncio.get_running_loop().create_task(metrics_server.serve(sockets=[sock]))
    waiting = asyncio.ensure_future(listening.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # its startup failed: raise that
        raise Unavailable(f"the metrics server on {url} stopped at start")
    return metrics_server, task


async def serve(
    settings: Settings,
    *,
    engine: ServedEngine | None = None,
    announce: Callable[[str], None] = _announce,
) -> None:
    """Serve `settings` until SIGTERM or SIGINT (see the module documentation).

    `engine` defaults to `mlos.core.engine.Engine(settings)`; `announce` receives the
    "listening" line (default: printed to stdout and flushed).
    """
    loop = asyncio.get_running_loop()
    server: _Uvicorn | None = None
    stop_requested: list[int] = []

    grpc_server: GRPCServer | None = None
    grpc_stopping: asyncio.Task[None] | None = None

    metrics_server: _Uvicorn | None = None

    drain_task: asyncio.Task[None] | None = None
    grace = settings.drain_seconds

    def on_signal(sig: int) -> None:
        nonlocal drain_task
        stop_requested.append(sig)
        if drain_task is None:
            drain_task = loop.create_task(drain_then_stop(sig))
        elif not drain_task.done():
            drain_task.cancel()  # asked again during drain_delay: stop at once
            stop_serving(sig)
        else:
            stop_serving(sig)

    async def drain_then_stop(sig: int) -> None:
        # Readiness goes false first; load balancers see it within drain_delay and send
        # nothing new, then the ports close and requests in flight finish (up to grace).
        drain = getattr(engine, "drain", None)
        if drain is not None and getattr(engine, "started", False):
            logger.info("draining: readiness is false; stopping in %.1f s", settings.drain_delay)
            try:
                await drain()
            except Exception:  # the heartbeat is best effort; stopping is not
                logger.exception("could not report the drain")
            await asyncio.sleep(settings.drain_delay)
        stop_serving(sig)

    def stop_serving(sig: int) -> None:
        nonlocal grpc_stopping
        if server is not None:
            server.handle_exit(sig, None)
        if metrics_server is not None:
            metrics_server.handle_exit(sig, None)
        if grpc_server is not None and grpc_stopping is None:
            grpc_stopping = loop.create_task(grpc_server.stop(grace))

    if not settings.auth:
        logger.warning(
            "serving without authentication (--no-auth): every local user may call every "
            "operation on %s; for development only", settings.host
        )
    sock = listen(settings.host, settings.http_port)
    metrics_sock: socket.socket | None = None
    if settings.metrics_port is not None:
        try:
            metrics_sock = listen(settings.host, settings.metrics_port)
        except BaseException:
            sock.close()
            raise
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        if engine is None:
            from mlos.core.engine import Engine

            engine = Engine(settings)
        ipc: Listener | None = None
        metrics_task: asyncio.Task[None] | None = None
        try:
            grpc_server = create_grpc_server(engine, settings)  # binds: a busy port fails here
            identify = getattr(engine, "identify", None)
            if identify is not None:
                rest_url = _url(sock, "https" if settings.tls_cert else "http")
                port = sock.getsockname()[1]
                identify(
                    settings.node_id or f"{socket.gethostname()}-{port}",
                    rest_url,
                    grpc_server.address,
                )
            await engine.start()
            if settings.demo and not stop_requested:
                await ensure_demo(engine, settings.home)
            if settings.models and not stop_requested:
                await ensure_models(engine, settings.models)
            ipc = await _serve_ipc(engine, settings, announce)
            await grpc_server.start()
            announce(f"MLOS gRPC listening on {grpc_server.address}")
            url = _url(sock, "https" if settings.tls_cert else "http")
            app = create_app(engine, settings)
            if metrics_sock is not None and not stop_requested:
                metrics_server, metrics_task = await _serve_metrics(
                    app, metrics_sock, settings, announce
                )
            server = _Uvicorn(
                _uvicorn_config(app, settings),
                lambda: announce(f"MLOS REST listening on {url}"),
            )
            server.should_exit = bool(stop_requested)
            await server.serve(sockets=[sock])
        finally:
            if metrics_server is not None and metrics_task is not None:
                metrics_server.should_exit = True
                await metrics_task
            if grpc_server is not None:
                await (grpc_stopping or grpc_server.stop(grace))
            if ipc is not None:
                await ipc.stop(grace)
            if drain_task is not None and not drain_task.done():
                drain_task.cancel()
            await engine.stop()
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
        sock.close()
        if metrics_sock is not None:
            metrics_sock.close()
