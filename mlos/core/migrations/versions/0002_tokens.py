"""API tokens.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mlos.core.migrations.steps import required, table_created

revision = "0002"
down_revision = "0001"


def _tokens() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        *required(name=sa.String(128), role=sa.String(16), models=sa.Text, digest=sa.String(64)),
        *required(created_at=sa.BigInteger, expires_at=sa.BigInteger, revoked_at=sa.BigInteger),
        *required(rate_limit=sa.String(64)),
    ]


upgrade, downgrade = table_created("tokens", _tokens)
