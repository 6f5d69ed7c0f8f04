"""A private PostgreSQL server in one directory, on loopback, for tests and development clusters.

::

    with PostgresServer(Path("/tmp/pg")) as server:   # initdb on first use, then start
        store = RegistryStore(server.url)             # postgresql+psycopg://mlos:…@127.0.0.1:P/mlos

It runs the system's own PostgreSQL (Debian's `postgresql` package keeps the binaries in
`/usr/lib/postgresql/<major>/bin`). The server listens on 127.0.0.1 only, on a free port unless
one is given, and on a Unix socket inside its directory. TCP connections need the password
generated at initdb (kept in `<directory>/password`, owner-only); the socket is trusted, since
only the directory's owner can reach it. PostgreSQL refuses to run as root, so a root caller
runs it as the `postgres` account (or `nobody`), which then owns the directory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import time
from pathlib import Path

from mlos.cluster.process import (
    ManagedService,
    RunAs,
    ServiceProcess,
    free_port,
    run_as_for_root,
)
from mlos.errors import FailedPrecondition, Unavailable

__all__ = ["PostgresServer", "find_bindir"]

_BINARIES = ("initdb", "postgres")
_SEARCH = (Path("/usr/lib/postgresql"), Path("/usr/local/pgsql"))
_PORT_TRIES = 5


def find_bindir() -> Path | None:
    """The directory with `initdb` and `postgres`: on PATH, else the newest Debian major."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        folder = Path(on_path).resolve().parent
        if (folder / "postgres").exists():
            return folder
    candidates: list[tuple[int, Path]] = []
    debian = _SEARCH[0]
    if debian.is_dir():
        for major in debian.iterdir():
            if major.name.isdigit() and (major / "bin" / "initdb").exists():
                candidates.append((int(major.name), major / "bin"))
    if candidates:
        return max(candidates)[1]
    local = _SEARCH[1] / "bin"
    return local if (local / "initdb").exists() else None


class PostgresServer(ManagedService):
    """One PostgreSQL server whose data, socket and log live in `directory`.

    `database` is created at the first start and owned by `user`, the superuser initdb makes.
    `durable=False` turns off fsync and friends: much faster, and fine for data that a crash
    may lose (tests, throwaway clusters). `stop` is PostgreSQL's fast shutdown (sessions end,
    data is kept), SIGKILL if it hangs.
    """

    stop_signal = signal.SIGINT

    def __init__(
        self,
        directory: Path,
        *,
        port: int = 0,
        user: str = "mlos",
        database: str = "mlos",
        durable: bool = True,
        bindir: Path | None = None,
    ) -> None:
        self.directory = directory.resolve()
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.log = self.directory / "postgres.log"
        self.host = "127.0.0.1"
        self.requested_port = self.port = port  # 0: a free port, chosen at start
        self.user = user
        self.database = database
        self.durable = durable
        self._bindir = bindir
        self._process: ServiceProcess | None = None
        self._run_as: RunAs | None = None

    # -- addresses ----------------------------------------------------------------------------

    @property
    def password(self) -> str:
        """The password of `user` for TCP connections."""
        return (self.directory / "password").read_text().strip()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of `database` over TCP (what an MLOS node is given)."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of another database on this server."""
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )

    # -- lifetime -----------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Create the cluster if needed, start the server and wait until it takes connections."""
        if self.running:
            return
        bindir = self._bindir or find_bindir()
        if bindir is None or not all((bindir / name).exists() for name in _BINARIES):
            raise FailedPrecondition(
                "PostgreSQL is not installed (no initdb and postgres found): install the "
                "postgresql package (apt-get install postgresql), or run tools/system_deps.sh "
                "as root"
            )
        self._run_as = run_as_for_root()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        if self._run_as is not None and not self._run_as.can_reach(self.directory):
            raise FailedPrecondition(
                f"PostgreSQL runs as {self._run_as.name}, which cannot reach {self.directory}: "
                "choose a directory every user may traverse to (for example under /tmp)"
            )
        if not (self.data / "PG_VERSION").exists():
            self._initdb(bindir)
        self.socket_dir.mkdir(exist_ok=True)
        if self._run_as is not None:
            self._run_as.chown(self.directory)
        for attempt in range(_PORT_TRIES):
            # A restart keeps the port of the first start, so URLs handed out stay valid.
            self.port = self.port or free_port(self.host)
            self._process = ServiceProcess(
                [str(bindir / "postgres"), "-D", str(self.data), *self._options()],
                self.log,
                run_as=self._run_as,
                env=_environment(),
            )
            try:
                self._wait_ready(timeout)
            except Unavailable:
                tail = self._process.log_tail()
                self._process.stop(signal.SIGQUIT, timeout=10)
                port_taken = "could not bind" in tail or "already in use" in tail
                if port_taken and not self.requested_port and attempt + 1 < _PORT_TRIES:
                    self.port = 0  # another process took the free port first: try another one
                    continue
                raise
            break
        self._ensure_database()

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- databases ----------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create the database `name` (no error if it exists); return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop the database `name`, ending its sessions (no error if it is absent)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals ----------------------------------------------------------------------------

    def _admin_dsn(self) -> str:
        return (
            f"host={self.socket_dir} port={self.port} user={self.user} dbname=postgres "
            "connect_timeout=5"
        )

    def _initdb(self, bindir: Path) -> None:
        import subprocess

        password_file = self.directory / "password"
        password_file.write_text(secrets.token_urlsafe(24) + "\n")
        password_file.chmod(0o600)
        if self._run_as is not None:
            self._run_as.chown(self.directory)
        argv = [
            str(bindir / "initdb"),
            "-D", str(self.data),
            "-U", self.user,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self.durable:
            argv.append("--no-sync")
        run_as = self._run_as
        argv, options = run_as.spawn_options(argv) if run_as else (argv, {})
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=_environment(run_as),
            check=False,
            **options,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            output = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise Unavailable(f"initdb failed in {self.data}: {' / '.join(output)}")

    def _options(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            "logging_collector": "off",
            "max_connections": "200",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        return [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        assert self._process is not None
        deadline = time.monotonic() + timeout
        dsn = (
            f"host={self.socket_dir} port={self.port} user={self.user} dbname=postgres "
            "connect_timeout=2"
        )
        while True:
            if not self._process.running():
                raise Unavailable(
                    f"PostgreSQL exited at start (status {self._process.process.returncode}): "
                    f"{self._process.log_tail(5)}"
                )
            try:
                with psycopg.connect(dsn) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise Unavailable(
                        f"PostgreSQL did not take connections within {timeout:g} s: "
                        f"{self._process.log_tail(5)}"
                    ) from None
                time.sleep(0.05)

    def _ensure_database(self) -> None:
        if self.database != "postgres":
            self.create_database(self.database)


def _environment(run_as: RunAs | None = None) -> dict[str, str]:
    """A clean environment for PostgreSQL's programs: a known locale, no stray PG* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    if run_as is not None:
        env.update(HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
    return env
