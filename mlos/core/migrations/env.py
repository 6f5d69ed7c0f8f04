"""Alembic's environment for the registry schema.

MLOS runs it through `mlos.core.migrate`, which hands over an open connection inside a locked
transaction (`config.attributes["connection"]`). The `alembic` command line runs it too, on the
database named by `-x url=...` or `MLOS_DATABASE_URL`.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from mlos.core.schema import VERSION_TABLE, metadata
from mlos.database_url import normalize


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite alters a table by copying it; batch mode writes revisions that way.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "MLOS_DATABASE_URL"
    )
    if not url:
        raise SystemExit("name the database: alembic -x url=URL ... or MLOS_DATABASE_URL=URL")
    engine = create_engine(normalize(url))
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


_main()
