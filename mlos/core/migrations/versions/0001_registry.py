"""The registry as it was before migrations: plugins and models.

Revision ID: 0001
Revises:

Databases created before MLOS shipped migrations have exactly these tables; opening one stamps
it with this revision instead of creating anything (`mlos.core.migrate`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mlos.core.migrations.steps import required

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the plugins and models tables."""
    op.create_table(
        "plugins",
        sa.Column("name", sa.String(128), primary_key=True),
        *required(version=sa.String(64), source_kind=sa.String(16), source=sa.Text),
        *required(loaded=sa.Boolean),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        *required(plugin=sa.String(128), path=sa.Text, config=sa.Text, loaded=sa.Boolean),
    )


def downgrade() -> None:
    """Drop both tables (and every registration in them)."""
    op.drop_table("models")
    op.drop_table("plugins")
