"""The nodes sharing the registry: address, heartbeat, convergence, loaded models.

Revision ID: 0006
Revises: 0005

Its rows are written by the nodes' heartbeats; after a downgrade and an upgrade, nodes write
their rows again at their next heartbeat.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mlos.core.migrations.steps import required, table_created

revision = "0006"
down_revision = "0005"


def _nodes() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(128), primary_key=True),
        *required(address=sa.Text, grpc_address=sa.Text, version=sa.String(64)),
        *required(started_at=sa.Float, heartbeat_at=sa.Float),
        *required(ready=sa.Boolean, converged=sa.Boolean, draining=sa.Boolean),
        *required(models=sa.Text, plugins=sa.Text),
    ]


upgrade, downgrade = table_created("nodes", _nodes)
