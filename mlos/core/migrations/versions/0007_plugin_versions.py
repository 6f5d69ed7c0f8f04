"""Several versions of one plugin name: the plugins table is keyed by name and version.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

_COLUMNS = "name, version, source_kind, source, loaded, limits, python"


def _plugins(name: str, *, versions: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=versions, nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("loaded", sa.Boolean, nullable=False),
        sa.Column("limits", sa.Text, nullable=False, server_default="{}"),
        sa.Column("python", sa.Text, nullable=False, server_default=""),
    ]
    if versions:
        columns += [
            sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.true()),
            sa.Column("label", sa.String(200), nullable=False, server_default=""),
            sa.UniqueConstraint("name", "label", name="plugins_name_label"),
        ]
    op.create_table(name, *columns)


def upgrade() -> None:
    """Rebuild plugins with the primary key (name, version) and the columns is_default and
    label; every plugin registered before is its name's default, labelled with its name
    (an empty label)."""
    _plugins("plugins_0007", versions=True)
    op.execute(
        f"INSERT INTO plugins_0007 ({_COLUMNS}, is_default, label) "
        f"SELECT {_COLUMNS}, {sa.true().compile(dialect=op.get_bind().dialect)}, '' "
        "FROM plugins"
    )
    op.drop_table("plugins")
    op.rename_table("plugins_0007", "plugins")


def downgrade() -> None:
    """Back to one row per name: the default version of each name is kept."""
    _plugins("plugins_0006", versions=False)
    op.execute(
        f"INSERT INTO plugins_0006 ({_COLUMNS}) SELECT {_COLUMNS} FROM plugins "
        f"WHERE is_default = {sa.true().compile(dialect=op.get_bind().dialect)}"
    )
    op.drop_table("plugins")
    op.rename_table("plugins_0006", "plugins")
