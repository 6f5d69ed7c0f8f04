"""The nodes sharing the registry: address, heartbeat, convergence, loaded models.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the nodes table (its rows are written by the nodes' heartbeats)."""
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("grpc_address", sa.Text, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("ready", sa.Boolean, nullable=False),
        sa.Column("converged", sa.Boolean, nullable=False),
        sa.Column("draining", sa.Boolean, nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("plugins", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop the nodes table (nodes write their rows again at their next heartbeat)."""
    op.drop_table("nodes")
