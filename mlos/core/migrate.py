"""Bring a registry database to the schema this MLOS knows, when the store opens.

The migrations are Alembic revisions shipped in `mlos/core/migrations/`. Opening a database:

- empty: every revision runs, creating the tables;
- created before MLOS shipped migrations (the tables are there, no version table): it is
  stamped with the first revision, which is exactly that schema, then upgraded;
- at an older revision: the missing revisions run;
- at a revision this MLOS does not know (a newer MLOS wrote it): refused, nothing touched.

All of it happens in one transaction that holds a lock — PostgreSQL's advisory lock, SQLite's
write lock (`BEGIN IMMEDIATE`) — so nodes starting together against one database migrate it
once, and a failed migration leaves the database as it was (both databases roll back DDL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

# At INFO level Alembic announces its built-in plugins when imported, and its dialect at every
# open ("Context impl SQLiteImpl"): not news for a server log, which gets one line of ours when
# the schema changes.
for _name in ("alembic.runtime.plugins", "alembic.runtime.migration"):
    logging.getLogger(_name).setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, Engine, inspect, text  # noqa: E402

from mlos.core.schema import VERSION_TABLE  # noqa: E402
from mlos.errors import FailedPrecondition  # noqa: E402

__all__ = ["BASELINE", "LEGACY_TABLES", "MIGRATIONS", "Migration", "head", "migrate"]

logger = logging.getLogger("mlos.store")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory (env.py and versions/)."""

BASELINE = "0001"
"""The first revision: the schema of registries made before migrations existed."""

LEGACY_TABLES = frozenset({"plugins", "models"})
"""The tables a pre-migration registry has."""

_PG_LOCK_KEY = 0x6D6C6F73_00000001
"""The advisory lock that serialises schema changes of one PostgreSQL database."""


@dataclass(frozen=True, slots=True)
class Migration:
    """What opening a database did to its schema."""

    before: str | None
    """The revision found (None: a new database or one from before migrations)."""
    after: str
    """The revision the database is at now."""
    stamped: bool = False
    """True when a pre-migration registry was recognised and stamped."""

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return self.stamped or self.before != self.after


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this MLOS ships."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "the migrations directory has no revision"
    return revision


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _lock(connection: Connection) -> None:
    """Take the database's schema lock for the rest of the transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite does not open a transaction before DDL on its own; this one does, and takes
        # the write lock at once (other openers wait up to the busy timeout).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine, *, where: str = "the registry") -> Migration:
    """Upgrade the database behind `engine` to :func:`head`; `where` names it in errors."""
    config = _config()
    script = ScriptDirectory.from_config(config)
    target = script.get_current_head()
    assert target is not None
    with engine.connect() as connection:
        if _current(connection) == target:  # the everyday case: no lock, nothing written
            return Migration(target, target)
        connection.rollback()
        _lock(connection)
        before = _current(connection)  # again, under the lock: another node may have won
        if before == target:
            return Migration(before, target)
        known = {revision.revision for revision in script.walk_revisions()}
        if before is not None and before not in known:
            raise FailedPrecondition(
                f"{where} has schema revision {before!r}, which this MLOS does not know "
                f"(it knows up to {target!r}): a newer MLOS wrote it; upgrade MLOS to open it"
            )
        config.attributes["connection"] = connection
        stamped = False
        if before is None:
            present = LEGACY_TABLES & set(inspect(connection).get_table_names())
            if present == LEGACY_TABLES:
                command.stamp(config, BASELINE)
                stamped = True
            elif present:
                missing = ", ".join(sorted(LEGACY_TABLES - present))
                raise FailedPrecondition(
                    f"{where} has the table(s) {', '.join(sorted(present))} but not {missing} "
                    "and no schema version: it is not an MLOS registry, or it is damaged"
                )
        command.upgrade(config, "head")
        connection.commit()
    migration = Migration(before, target, stamped)
    logger.info(
        "registry schema: %s%s -> %s",
        before or "new",
        " (stamped as the pre-migration schema)" if stamped else "",
        target,
    )
    return migration
