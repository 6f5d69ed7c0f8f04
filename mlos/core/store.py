"""Persistent registry state: plugins and models, in SQLite by default or in PostgreSQL.

The tables (:mod:`mlos.core.schema`) are SQLAlchemy Core, so one code path runs on the embedded
SQLite file and on a PostgreSQL database that several nodes share. Opening a store brings the
database to the current schema (:mod:`mlos.core.migrate`). Every write is one transaction and
idempotent (an upsert with the dialect's `ON CONFLICT`, or a delete by key), so replaying it is
harmless. Only desired state lives here — what is registered and whether it should be loaded;
processes, sockets and live status are node-local and never stored.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, create_engine, delete, event, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.schema import Table

from mlos import database_url
from mlos.core.budget import Demand
from mlos.core.migrate import Migration, migrate
from mlos.core.schema import models_table, plugins_table
from mlos.errors import InvalidArgument, Unavailable
from mlos.sandbox.limits import Limits

__all__ = [
    "CHANNEL",
    "ModelRecord",
    "PluginRecord",
    "RegistryStore",
    "column_values",
    "upsert",
]

_T = TypeVar("_T")

CHANNEL = "mlos_registry"
"""The PostgreSQL notification channel every write of desired state notifies (no payload):
nodes LISTEN on it to reconcile at once instead of at their next poll
(:mod:`mlos.core.reconcile`)."""

_NOTIFY = text(f"NOTIFY {CHANNEL}")

CONNECT_TIMEOUT_SECONDS = 10
"""How long opening a connection to PostgreSQL may take before the store reports it down."""


@dataclass(frozen=True, slots=True)
class PluginRecord:
    """A registered plugin and whether it should run."""

    name: str
    version: str
    source_kind: str  # "entry_point", "module" or "executable"
    source: str
    loaded: bool = False
    limits: Limits = field(default_factory=Limits)
    """The limits given at registration (the configuration's come on top when it starts)."""
    python: str = ""
    """The interpreter the plugin host runs in; empty for the server's own."""
    is_default: bool = True
    """The version of its name that models naming no version follow."""
    label: str = ""
    """The version's name inside the node (its processes, grants, metrics): the plugin's
    name for the version registered first, `name@version` for versions registered beside it;
    empty means the name."""

    @property
    def key(self) -> str:
        """:attr:`label`, or the name when it is empty."""
        return self.label or self.name


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A registered model version and whether it should be loaded."""

    name: str
    version: str
    plugin: str
    path: str
    config: dict[str, str] = field(default_factory=dict)
    loaded: bool = True
    resources: Demand = field(default_factory=Demand)
    """What the registration declared it needs from the resource budget."""
    scheduling: dict[str, Any] = field(default_factory=dict)
    """How the core schedules the version's requests (:mod:`mlos.core.batching`), as JSON;
    empty: each request goes to the plugin as it comes."""


SCHEDULING_KEY = "@scheduling"
"""The key under which a model's scheduling travels in its stored `config` JSON (a name no
plugin option can have; it is taken out again on read and never reaches a plugin)."""


class RegistryStore:
    """Reads and writes the registry tables of one database.

    `url` is a database URL (:mod:`mlos.database_url`): `sqlite:///PATH` (the file and
    its folder are created) or `postgresql://USER@HOST/DBNAME`. Opening migrates the schema;
    an unreachable database raises :class:`Unavailable`, a bad URL :class:`InvalidArgument`,
    a database written by a newer MLOS :class:`FailedPrecondition`.
    """

    def __init__(self, url: str) -> None:
        try:
            self.url = database_url.normalize(url)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        self.where = f"the registry database {database_url.redact(self.url)}"
        self.writes = 0
        """How many writes of desired state this store has made (a reconciler that read the
        registry while one was under way reads it again)."""
        self.engine: Engine = _create_engine(self.url)
        try:
            self.migration: Migration = self._guard(lambda: migrate(self.engine, where=self.where))
        except BaseException:
            self.engine.dispose()
            raise
        # Every read and write below is one statement, atomic on its own. On PostgreSQL it runs
        # without BEGIN and COMMIT: one round trip instead of three. (SQLite has no round trips,
        # and switching its connection to autocommit and back costs more than the transaction;
        # migrations keep their transaction everywhere: they use `engine` itself.)
        self._single = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql"
            else self.engine
        )
        # Writes are built once with bound parameters: building a statement per call costs
        # several times what SQLite takes to run it.
        dialect = self.engine.dialect.name
        # A plugin version is replaced by its name and label: the first version of a name keeps
        # the empty label whatever its version (an upgrade in place), the others are labelled
        # `name@version` (:attr:`PluginRecord.label`).
        self._put_plugin = upsert(dialect, plugins_table, ["name", "label"])
        self._put_model = upsert(dialect, models_table, ["name", "version"])
        self._delete_plugin = delete(plugins_table).where(
            (plugins_table.c.name == bindparam("key_name"))
            & (plugins_table.c.version == bindparam("key_version"))
        )
        self._delete_model = delete(models_table).where(
            (models_table.c.name == bindparam("key_name"))
            & (models_table.c.version == bindparam("key_version"))
        )
        # On SQLite the store's own writes go through one connection of their own, so that
        # `PRAGMA data_version` on it changes only for commits by anyone else (change_marker).
        self._writer: Connection | None = None
        self._writer_lock = threading.Lock()

    @classmethod
    def sqlite(cls, path: Path) -> RegistryStore:
        """A store in the SQLite file `path` (created with its folder if missing)."""
        return cls(f"sqlite:///{path}")

    @property
    def dialect(self) -> str:
        """The database kind: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the connection pool."""
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()

    def change_marker(self) -> int | None:
        """A number that changes whenever a commit that this store's own writes did not make
        reaches the registry (another node, another process, another connection of this one);
        None when the store cannot tell (PostgreSQL), so that a reader must read.

        On SQLite it is `PRAGMA data_version` of the connection the store writes through: a
        reader that took the marker before reading and finds it unchanged later has missed no
        foreign write since, and the store's own writes are already in what it holds."""
        if self.engine.dialect.name != "sqlite":
            return None

        def read() -> int:
            with self._writer_lock:
                raw = self._writer_connection().connection.dbapi_connection
                assert raw is not None  # an open Connection holds its DBAPI connection
                row = raw.execute("PRAGMA data_version").fetchone()
                return int(row[0])

        return self._guard(read)

    def _writer_connection(self) -> Connection:
        """The connection the store writes through on SQLite (reopened when it died)."""
        if self._writer is None or self._writer.invalidated or self._writer.closed:
            if self._writer is not None:
                self._writer.close()
            self._writer = self.engine.connect()
        return self._writer

    # -- plugins ------------------------------------------------------------------------------

    def plugins(self) -> list[PluginRecord]:
        """Every registered plugin version, by name and version."""

        def read() -> list[PluginRecord]:
            with self._single.connect() as conn:
                rows = conn.execute(
                    select(plugins_table).order_by(plugins_table.c.name, plugins_table.c.version)
                )
                return [
                    PluginRecord(**{**row._asdict(), "limits": _limits(row.limits)})
                    for row in rows
                ]

        return self._guard(read)

    def put_plugin(self, record: PluginRecord) -> None:
        """Insert or replace a plugin version (the row of the same name and label)."""
        self._write(self._put_plugin, self._plugin_values(record))

    def _plugin_values(self, record: PluginRecord) -> dict[str, Any]:
        return column_values(plugins_table, record, limits=_limits_json(record.limits))

    def delete_plugin(self, name: str, version: str = "") -> None:
        """Remove a plugin version (no error when absent)."""
        self._write(self._delete_plugin, {"key_name": name, "key_version": version})

    def replace_plugin(self, old: PluginRecord, new: PluginRecord) -> None:
        """In one transaction, remove the version `old` and write `new` (an upgrade that
        changed the version of a registration)."""

        def write() -> None:
            with self.engine.begin() as conn:  # one transaction on PostgreSQL too
                conn.execute(
                    self._delete_plugin, {"key_name": old.name, "key_version": old.version}
                )
                conn.execute(self._put_plugin, self._plugin_values(new))
                self.changed(conn)

        self._guard(write)

    def put_plugins(self, records: list[PluginRecord]) -> None:
        """Insert or replace several plugin versions in one transaction (a change of the
        default version writes the old and the new default together)."""

        def write() -> None:
            with self.engine.begin() as conn:  # one transaction on PostgreSQL too
                for record in records:
                    conn.execute(self._put_plugin, self._plugin_values(record))
                self.changed(conn)

        self._guard(write)

    # -- models -------------------------------------------------------------------------------

    def models(self) -> list[ModelRecord]:
        """Every registered model version."""

        def read() -> list[ModelRecord]:
            with self._single.connect() as conn:
                rows = conn.execute(
                    select(models_table).order_by(models_table.c.name, models_table.c.version)
                )
                return [_model_record(row._asdict()) for row in rows]

        return self._guard(read)

    def put_model(self, record: ModelRecord) -> None:
        """Insert or replace a model version."""
        stored: dict[str, Any] = dict(record.config)
        if record.scheduling:
            stored[SCHEDULING_KEY] = json.dumps(record.scheduling, sort_keys=True)
        config = json.dumps(stored, sort_keys=True)
        resources = json.dumps(record.resources.to_json(), sort_keys=True)
        values = column_values(models_table, record, config=config, resources=resources)
        self._write(self._put_model, values)

    def delete_model(self, name: str, version: str) -> None:
        """Remove a model version (no error when absent)."""
        self._write(self._delete_model, {"key_name": name, "key_version": version})

    def _write(self, statement: Any, values: dict[str, Any]) -> None:
        def write() -> None:
            with self._single.begin() as conn:
                conn.execute(statement, values)
                self.changed(conn)

        def write_sqlite() -> None:
            with self._writer_lock:
                conn = self._writer_connection()
                with conn.begin():
                    conn.execute(statement, values)
                    self.changed(conn)

        if self.engine.dialect.name == "sqlite":
            self._guard(write_sqlite)
            return

        self._guard(write)

    def changed(self, conn: Connection) -> None:
        """Count a write of desired state made on `conn`, and on PostgreSQL tell the nodes
        listening on :data:`CHANNEL` (the notification goes out when it commits)."""
        self.writes += 1
        if self.engine.dialect.name == "postgresql":
            conn.execute(_NOTIFY)

    def guarded(self, work: Callable[[], _T]) -> _T:
        """Run `work` (a read or an idempotent write on :attr:`engine`) the way the store runs
        its own: once more if a pooled connection was dead, Unavailable if the database is."""
        return self._guard(work)

    def _guard(self, work: Callable[[], _T]) -> _T:
        """Run `work`, once more on a fresh connection if the pooled one turns out dead (the
        database restarted: every statement here is a read or an idempotent write, so a second
        try is safe), and report a database that cannot be reached as :class:`Unavailable`."""
        for attempt in (1, 2):
            try:
                return work()
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    continue  # the pool has dropped its stale connections; try a new one
                if isinstance(exc, OperationalError) or exc.connection_invalidated:
                    raise Unavailable(f"cannot use {self.where}: {_reason(exc)}") from exc
                raise
        raise AssertionError("unreachable")


def _create_engine(url: str) -> Engine:
    path = database_url.sqlite_file(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(
                f"cannot create the folder of the registry database {path}: {exc.strerror}"
            ) from None
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping (a round trip per call): a connection found dead is replaced and the
    # statement tried once more (RegistryStore._guard), so a node outlives a restart or a
    # failover of PostgreSQL without a failed call.
    return create_engine(
        url,
        pool_size=4,
        max_overflow=4,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "mlos"},
    )


def _reason(exc: DBAPIError) -> str:
    """The driver's own message, first line only, without SQLAlchemy's decoration."""
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


def _limits_json(limits: Limits) -> str:
    # Limits is flat: its fields as they are (dataclasses.asdict deep-copies, 4x the cost).
    values = {
        item.name: value
        for item in dataclasses.fields(limits)
        if (value := getattr(limits, item.name)) not in (0, "", ())
    }
    return json.dumps(values, sort_keys=True)


def _limits(text: str) -> Limits:
    values = json.loads(text or "{}")
    if "cpus" in values:
        values["cpus"] = tuple(values["cpus"])
    return Limits(**values)


def _model_record(row: dict[str, Any]) -> ModelRecord:
    """A model row as a record, its scheduling taken out of the stored config."""
    config: dict[str, str] = json.loads(row["config"])
    scheduling = config.pop(SCHEDULING_KEY, None)
    return ModelRecord(
        **{
            **row,
            "config": config,
            "resources": Demand.from_json(json.loads(row["resources"] or "{}")),
            "scheduling": json.loads(scheduling) if scheduling else {},
        }
    )


def column_values(table: Table, record: Any, **converted: Any) -> dict[str, Any]:
    """The bound parameters that write `record` into `table`: the record's attribute of each
    column's name, or the stored form given in `converted` (JSON text, an enum's name)."""
    return {column.name: getattr(record, column.name) for column in table.c} | converted


def upsert(dialect: str, table: Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of every other column, with a bound parameter
    per column (named like the column)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    else:
        statement = sqlite_insert(table)
    statement = statement.values({column.name: bindparam(column.name) for column in table.c})
    updates = {c.name: statement.excluded[c.name] for c in table.c if c.name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=updates)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL keeps readers off the writer's back and makes each commit a cheap append; a commit
    # is still atomic, and `synchronous=NORMAL` is durable across process crashes.
    # The busy timeout comes first: switching to WAL needs the database's lock too, and
    # without it a node opening the file while another migrates it failed at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
