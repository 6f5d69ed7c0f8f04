"""What a model version declared it needs from the resource budget (memory, cores, GPUs; JSON).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add models.resources; models registered before it declared nothing ({})."""
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("resources", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    """Drop models.resources (what models declared is forgotten; they are estimated)."""
    with op.batch_alter_table("models") as batch:
        batch.drop_column("resources")
