"""What a model version declared it needs from the resource budget (memory, cores, GPUs; JSON).

Revision ID: 0005
Revises: 0004

Models registered before it declared nothing ({}); after a downgrade what models declared is
forgotten and their needs are estimated.
"""

from __future__ import annotations

import sqlalchemy as sa

from mlos.core.migrations.steps import column_added

revision = "0005"
down_revision = "0004"

upgrade, downgrade = column_added("models", "resources", sa.Text, "{}")
