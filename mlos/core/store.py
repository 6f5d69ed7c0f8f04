"""Persistent registry state: plugins and models, in SQLite by default.

The tables are SQLAlchemy Core, so the same code runs on PostgreSQL when several nodes share
one registry. Every write is one transaction and idempotent (an upsert or a delete by key), so
replaying it is harmless. Only desired state lives here — what is registered and whether it
should be loaded; processes, sockets and live status are node-local and never stored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mlos.sandbox.limits import Limits

__all__ = ["ModelRecord", "PluginRecord", "RegistryStore"]

metadata = MetaData()

plugins_table = Table(
    "plugins",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), nullable=False, default=""),
    Column("source_kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("loaded", Boolean, nullable=False, default=False),
    Column("limits", Text, nullable=False, default="{}", server_default="{}"),
)

models_table = Table(
    "models",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("plugin", String(128), nullable=False),
    Column("path", Text, nullable=False),
    Column("config", Text, nullable=False, default="{}"),
    Column("loaded", Boolean, nullable=False, default=True),
)


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


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A registered model version and whether it should be loaded."""

    name: str
    version: str
    plugin: str
    path: str
    config: dict[str, str] = field(default_factory=dict)
    loaded: bool = True


class RegistryStore:
    """Reads and writes the registry tables."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        # Writes are built once with bound parameters: building a statement per call costs
        # several times what SQLite takes to run it.
        dialect = self.engine.dialect.name
        self._put_plugin = _upsert(dialect, plugins_table, ["name"])
        self._put_model = _upsert(dialect, models_table, ["name", "version"])
        self._delete_plugin = delete(plugins_table).where(
            plugins_table.c.name == bindparam("key_name")
        )
        self._delete_model = delete(models_table).where(
            (models_table.c.name == bindparam("key_name"))
            & (models_table.c.version == bindparam("key_version"))
        )

    @classmethod
    def sqlite(cls, path: Path) -> RegistryStore:
        """A store in the SQLite file `path` (created with its folder if missing)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # -- plugins ------------------------------------------------------------------------------

    def plugins(self) -> list[PluginRecord]:
        """Every registered plugin, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(plugins_table).order_by(plugins_table.c.name))
            return [
                PluginRecord(
                    name=row.name,
                    version=row.version,
                    source_kind=row.source_kind,
                    source=row.source,
                    loaded=row.loaded,
                    limits=_limits(row.limits),
                )
                for row in rows
            ]

    def put_plugin(self, record: PluginRecord) -> None:
        """Insert or replace a plugin."""
        values = {
            "name": record.name,
            "version": record.version,
            "source_kind": record.source_kind,
            "source": record.source,
            "loaded": record.loaded,
            "limits": _limits_json(record.limits),
        }
        self._write(self._put_plugin, values)

    def delete_plugin(self, name: str) -> None:
        """Remove a plugin (no error when absent)."""
        self._write(self._delete_plugin, {"key_name": name})

    # -- models -------------------------------------------------------------------------------

    def models(self) -> list[ModelRecord]:
        """Every registered model version."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(models_table).order_by(models_table.c.name, models_table.c.version)
            )
            return [
                ModelRecord(
                    name=row.name,
                    version=row.version,
                    plugin=row.plugin,
                    path=row.path,
                    config=json.loads(row.config),
                    loaded=row.loaded,
                )
                for row in rows
            ]

    def put_model(self, record: ModelRecord) -> None:
        """Insert or replace a model version."""
        values = {
            "name": record.name,
            "version": record.version,
            "plugin": record.plugin,
            "path": record.path,
            "config": json.dumps(record.config, sort_keys=True),
            "loaded": record.loaded,
        }
        self._write(self._put_model, values)

    def delete_model(self, name: str, version: str) -> None:
        """Remove a model version (no error when absent)."""
        self._write(self._delete_model, {"key_name": name, "key_version": version})

    def _write(self, statement: Any, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement, values)


def _limits_json(limits: Limits) -> str:
    values = {
        key: value for key, value in dataclasses.asdict(limits).items() if value not in (0, "", ())
    }
    return json.dumps(values, sort_keys=True)


def _limits(text: str) -> Limits:
    values = json.loads(text or "{}")
    if "cpus" in values:
        values["cpus"] = tuple(values["cpus"])
    return Limits(**values)


def _add_missing_columns(engine: Engine) -> None:
    """Add the columns a registry written by an older MLOS lacks (with their defaults)."""
    existing = {c["name"] for c in inspect(engine).get_columns(plugins_table.name)}
    with engine.begin() as conn:
        if "limits" not in existing:
            conn.execute(text("ALTER TABLE plugins ADD COLUMN limits TEXT NOT NULL DEFAULT '{}'"))


def _upsert(dialect: str, table: Table, keys: list[str]) -> Any:
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
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
