"""The interpreter (or virtual environment) a plugin's host runs in.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add plugins.python; plugins registered before it run in the server's interpreter ("")."""
    with op.batch_alter_table("plugins") as batch:
        batch.add_column(sa.Column("python", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    """Drop plugins.python (plugins then run in the server's interpreter)."""
    with op.batch_alter_table("plugins") as batch:
        batch.drop_column("python")
