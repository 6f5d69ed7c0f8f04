"""The limits a plugin was registered with (memory, CPUs, files, processes; JSON).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add plugins.limits; plugins registered before it have none ({})."""
    with op.batch_alter_table("plugins") as batch:
        batch.add_column(sa.Column("limits", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    """Drop plugins.limits (the limits given at registration are forgotten)."""
    with op.batch_alter_table("plugins") as batch:
        batch.drop_column("limits")
