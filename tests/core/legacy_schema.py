"""The registry schema as MLOS wrote it before migrations existed, frozen for the tests.

A copy of the tables `mlos/core/store.py` created with `metadata.create_all` up to the release
that introduced Alembic (commit 50665d0). Never change it: it stands for databases in the
field.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, MetaData, String, Table, Text

legacy_metadata = MetaData()

Table(
    "plugins",
    legacy_metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), nullable=False, default=""),
    Column("source_kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("loaded", Boolean, nullable=False, default=False),
)

Table(
    "models",
    legacy_metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("plugin", String(128), nullable=False),
    Column("path", Text, nullable=False),
    Column("config", Text, nullable=False, default="{}"),
    Column("loaded", Boolean, nullable=False, default=True),
)
