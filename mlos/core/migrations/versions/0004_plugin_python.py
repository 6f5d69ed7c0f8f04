"""The interpreter (or virtual environment) a plugin's host runs in.

Revision ID: 0004
Revises: 0003

Plugins registered before it run in the server's interpreter (""), as every plugin does again
after a downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa

from mlos.core.migrations.steps import column_added

revision = "0004"
down_revision = "0003"

upgrade, downgrade = column_added("plugins", "python", sa.Text, "")
