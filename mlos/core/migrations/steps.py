"""The shapes of revision the registry's history repeats, written once.

A revision that only adds a column, or only creates a table, is its docstring, its revision
ids and one call of :func:`column_added` or :func:`table_created`; the upgrade and downgrade
that call returns are what Alembic runs. :func:`required` spells the NOT NULL columns that
make up most tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

Step = Callable[[], None]
ColumnType = sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]


def required(**types: ColumnType) -> list[sa.Column[Any]]:
    """NOT NULL columns, by name and type, in the order given."""
    return [sa.Column(name, type_, nullable=False) for name, type_ in types.items()]


def table_created(name: str, columns: Callable[[], list[sa.Column[Any]]]) -> tuple[Step, Step]:
    """The upgrade that creates the table `name` of `columns()` (made anew for each run) and
    the downgrade that drops it, with every row in it."""

    def upgrade() -> None:
        op.create_table(name, *columns())

    def downgrade() -> None:
        op.drop_table(name)

    upgrade.__doc__ = f"Create the {name} table."
    downgrade.__doc__ = f"Drop the {name} table (every row with it)."
    return upgrade, downgrade


def column_added(
    table: str, name: str, type_: type[sa.types.TypeEngine[Any]], default: str
) -> tuple[Step, Step]:
    """The upgrade that adds the NOT NULL column `name` to `table` (rows from before it hold
    `default`, its server default) and the downgrade that drops it, each in a batch so that
    SQLite, which cannot alter a column in place, runs them too."""

    def upgrade() -> None:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=default))

    def downgrade() -> None:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(name)

    upgrade.__doc__ = f"Add {table}.{name}; rows from before it hold {default!r}."
    downgrade.__doc__ = f"Drop {table}.{name}."
    return upgrade, downgrade
