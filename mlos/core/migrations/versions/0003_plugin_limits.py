"""The limits a plugin was registered with (memory, CPUs, files, processes; JSON).

Revision ID: 0003
Revises: 0002

Plugins registered before it have no limits ({}); a downgrade forgets the limits given at
registration.
"""

from __future__ import annotations

import sqlalchemy as sa

from mlos.core.migrations.steps import column_added

revision = "0003"
down_revision = "0002"

upgrade, downgrade = column_added("plugins", "limits", sa.Text, "{}")
