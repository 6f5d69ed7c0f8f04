"""HAProxy in front of MLOS nodes: the configuration, checked and run.

:func:`render` fills `haproxy.cfg.template` (beside this module) with the nodes and the
addresses to listen on; `deploy/haproxy/haproxy.cfg` is :func:`example`, what it gives for three
nodes (``python -m mlos.cluster.haproxy`` prints it). :func:`check` runs `haproxy -c` on a
configuration. :class:`HAProxy` runs the system's haproxy on loopback for tests and development
clusters, with its admin socket for reading server states and draining a node.
"""

from __future__ import annotations

import csv
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from mlos.cluster.process import (
    ManagedService,
    RunAs,
    ServiceProcess,
    free_port,
    run_as_for_root,
)
from mlos.errors import FailedPrecondition, InvalidArgument, Unavailable

__all__ = ["TEMPLATE", "HAProxy", "Node", "check", "example", "find_haproxy", "render"]

TEMPLATE = Path(__file__).resolve().parent / "haproxy.cfg.template"
"""The configuration template :func:`render` fills."""

BACKENDS = ("mlos_http", "mlos_grpc")
"""The two backends every rendered configuration has, one server per node in each."""

_SERVER_STATES = ("ready", "drain", "maint")
_AGGREGATES = ("FRONTEND", "BACKEND", None)


@dataclass(frozen=True, slots=True)
class Node:
    """One MLOS node as HAProxy sees it."""

    name: str
    host: str
    http_port: int = 8080
    grpc_port: int = 8081


def find_haproxy() -> Path | None:
    """The haproxy binary: on PATH, else where Debian installs it."""
    found = shutil.which("haproxy")
    if found is not None:
        return Path(found)
    for candidate in (Path("/usr/sbin/haproxy"), Path("/usr/local/sbin/haproxy")):
        if candidate.exists():
            return candidate
    return None


def render(
    nodes: Sequence[Node],
    *,
    http_bind: str = "*:8080",
    grpc_bind: str = "*:8081",
    stats_bind: str = "127.0.0.1:8404",
    admin_socket: str = "/run/haproxy/admin.sock",
    access_log: bool = True,
    note: str = "Rendered by mlos.cluster.haproxy from mlos/cluster/haproxy.cfg.template.",
) -> str:
    """The HAProxy configuration for `nodes` (REST and gRPC backends, health-checked)."""
    if not nodes:
        raise InvalidArgument("an HAProxy configuration needs at least one node")
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"node names repeat: {', '.join(names)}")
    for node in nodes:
        if not node.name or any(c.isspace() or c in "/#" for c in node.name):
            raise InvalidArgument(f"{node.name!r} is not a usable server name")
    http_servers = "\n".join(
        f"    server {node.name} {_address(node.host, node.http_port)} check" for node in nodes
    )
    grpc_servers = "\n".join(
        f"    server {node.name} {_address(node.host, node.grpc_port)} proto h2 "
        f"check port {node.http_port} check-proto h1"
        for node in nodes
    )
    return Template(TEMPLATE.read_text()).substitute(
        generated_note=note,
        log_target="log stdout format raw local0 info" if access_log else "# no request log",
        log_defaults=(
            "log global\n    option httplog\n    option dontlognull"
            if access_log
            else "no log"
        ),
        admin_socket=admin_socket,
        http_bind=http_bind,
        grpc_bind=grpc_bind,
        stats_bind=stats_bind,
        http_servers=http_servers,
        grpc_servers=grpc_servers,
    )


def example() -> str:
    """The configuration in deploy/haproxy/haproxy.cfg: three nodes on a private network."""
    nodes = [Node(f"mlos-{i}", f"10.0.0.{10 + i}") for i in (1, 2, 3)]
    return render(
        nodes,
        note="Generated: python -m mlos.cluster.haproxy > deploy/haproxy/haproxy.cfg "
        "(edit the server lines, or render your own with mlos.cluster.haproxy.render).",
    )


def check(config: Path, haproxy: Path | None = None) -> str:
    """Run `haproxy -c` on `config`; return its output, or raise InvalidArgument with it."""
    binary = haproxy or find_haproxy()
    if binary is None:
        raise FailedPrecondition(_MISSING)
    result = subprocess.run(
        [str(binary), "-c", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise InvalidArgument(f"haproxy rejects {config}: {output}")
    return output


_MISSING = (
    "HAProxy is not installed: install the haproxy package (apt-get install haproxy), "
    "or run tools/system_deps.sh as root"
)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HAProxy(ManagedService):
    """HAProxy on loopback in front of `nodes`, its files in `directory`.

    Ports 0 pick free ones. As root it runs as the `haproxy` account (or `nobody`). `stop` is
    a soft stop (stop listening, let requests in flight finish), SIGKILL after its timeout.
    """

    stop_signal = signal.SIGUSR1
    stop_timeout = 10.0

    def __init__(
        self,
        directory: Path,
        nodes: Sequence[Node],
        *,
        http_port: int = 0,
        grpc_port: int = 0,
        stats_port: int = 0,
        access_log: bool = False,
    ) -> None:
        self.directory = directory.resolve()
        self.nodes = list(nodes)
        self.host = "127.0.0.1"
        self.requested = (http_port, grpc_port, stats_port)
        self.http_port, self.grpc_port, self.stats_port = self.requested
        self.access_log = access_log
        self.config = self.directory / "haproxy.cfg"
        self.admin_socket = self.directory / "admin.sock"
        self.log = self.directory / "haproxy.log"
        self._process: ServiceProcess | None = None

    @property
    def http_url(self) -> str:
        """The REST address clients use."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        """The gRPC address clients use (host:port, plaintext HTTP/2)."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def stats_url(self) -> str:
        """HAProxy's statistics page (`/stats`) and Prometheus metrics (`/metrics`)."""
        return f"http://{self.host}:{self.stats_port}"

    def render(self) -> str:
        """This instance's configuration."""
        return render(
            self.nodes,
            http_bind=_address(self.host, self.http_port),
            grpc_bind=_address(self.host, self.grpc_port),
            stats_bind=_address(self.host, self.stats_port),
            admin_socket=str(self.admin_socket),
            access_log=self.access_log,
        )

    def start(self, timeout: float = 30.0) -> None:
        """Write the configuration, check it, start haproxy and wait until it listens."""
        if self.running:
            return
        binary = find_haproxy()
        if binary is None:
            raise FailedPrecondition(_MISSING)
        self.directory.mkdir(parents=True, exist_ok=True)
        run_as = run_as_for_root(("haproxy", "nobody"))
        if run_as is not None and not run_as.can_reach(self.directory):
            raise FailedPrecondition(
                f"haproxy runs as {run_as.name}, which cannot reach {self.directory}: "
                "choose a directory every user may traverse to (for example under /tmp)"
            )
        for attempt in range(5):
            self.http_port, self.grpc_port, self.stats_port = (
                port or free_port(self.host) for port in self.requested
            )
            self.config.write_text(self.render())
            check(self.config, binary)
            self._launch(binary, run_as)
            try:
                self._wait_listening(timeout)
                return
            except Unavailable:
                assert self._process is not None
                tail = self._process.log_tail()
                self._process.stop(signal.SIGTERM, timeout=5)
                self._process = None
                if "cannot bind" in tail and not any(self.requested) and attempt < 4:
                    continue  # a free port was taken in the meantime: pick others
                raise

    def _launch(self, binary: Path, run_as: RunAs | None) -> None:
        if run_as is not None:
            run_as.chown(self.directory)
        # -db: stay in the foreground, no daemon; the process is ours to stop.
        self._process = ServiceProcess(
            [str(binary), "-db", "-f", str(self.config)], self.log, run_as=run_as
        )


    # -- runtime API --------------------------------------------------------------------------

    def admin(self, command: str, timeout: float = 5.0) -> str:
        """Send one command to the admin socket (HAProxy's runtime API); return the answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.admin_socket))
            except OSError as exc:
                raise Unavailable(f"haproxy's admin socket does not answer: {exc}") from None
            sock.sendall(command.encode() + b"\n")
            chunks: list[bytes] = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def server_states(self) -> dict[tuple[str, str], str]:
        """(backend, server) → status as HAProxy reports it ("UP", "DOWN", "DRAIN", "MAINT", …)."""
        text = self.admin("show stat").lstrip("# ")
        states: dict[tuple[str, str], str] = {}
        for row in csv.DictReader(text.splitlines()):
            if row.get("pxname") in BACKENDS and row.get("svname") not in _AGGREGATES:
                states[(row["pxname"], row["svname"])] = row["status"].split()[0]
        return states

    def set_state(self, node: str, state: str) -> None:
        """Put `node` in `state` in both backends: "ready", "drain" or "maint"."""
        if state not in _SERVER_STATES:
            raise InvalidArgument(f"{state!r} is not a server state ({', '.join(_SERVER_STATES)})")
        for backend in BACKENDS:
            answer = self.admin(f"set server {backend}/{node} state {state}").strip()
            if answer:
                raise InvalidArgument(f"haproxy: {answer}")

    def wait_up(self, nodes: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        """Wait until `nodes` (default all) are UP in both backends."""
        wanted = {(b, n) for b in BACKENDS for n in (nodes or [n.name for n in self.nodes])}
        deadline = time.monotonic() + timeout
        while True:
            states = self.server_states()
            down = {key: states.get(key, "?") for key in wanted if states.get(key) != "UP"}
            if not down:
                return
            if time.monotonic() > deadline:
                shown = ", ".join(f"{b}/{n} {s}" for (b, n), s in sorted(down.items()))
                raise Unavailable(f"servers not up within {timeout:g} s: {shown}")
            time.sleep(0.05)

    def _wait_listening(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            if not self._process.running():
                raise Unavailable(f"haproxy exited at start: {self._process.log_tail(5)}")
            if all(_accepts(self.host, port) for port in (self.http_port, self.grpc_port)):
                try:
                    self.admin("show info", timeout=1)
                    return
                except (Unavailable, OSError):
                    pass
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"haproxy did not listen within {timeout:g} s: {self._process.log_tail(5)}"
                )
            time.sleep(0.05)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.stdout.write(example())
