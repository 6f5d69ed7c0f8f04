"""The registry as it was before migrations: plugins and models.

Revision ID: 0001
Revises:

Databases created before MLOS shipped migrations have exactly these tables; opening one stamps
it with this revision instead of creating anything (`mlos.core.migrate`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the plugins and models tables."""
    op.create_table(
        "plugins",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("loaded", sa.Boolean, nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("plugin", sa.String(128), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("loaded", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    """Drop both tables (and every registration in them)."""
    op.drop_table("models")
    op.drop_table("plugins")
