"""The registry's tables, as SQLAlchemy Core metadata shared by the store and its migrations.

The tables hold desired state only: what is registered and whether it should be loaded.
Changing them means adding an Alembic revision under `mlos/core/migrations/versions/`; a test
checks that the migrations build exactly these tables on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

__all__ = [
    "VERSION_TABLE",
    "metadata",
    "models_table",
    "nodes_table",
    "plugins_table",
    "tokens_table",
]

VERSION_TABLE = "mlos_schema_version"
"""Where Alembic records the schema revision; named for MLOS so that a PostgreSQL database
shared with another Alembic-managed application keeps the two histories apart."""

metadata = MetaData()

plugins_table = Table(
    "plugins",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True, default=""),
    Column("source_kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("loaded", Boolean, nullable=False, default=False),
    Column("limits", Text, nullable=False, default="{}", server_default="{}"),
    Column("python", Text, nullable=False, default="", server_default=""),
    Column("is_default", Boolean, nullable=False, default=True, server_default=true()),
    Column("label", String(200), nullable=False, default="", server_default=""),
    UniqueConstraint("name", "label", name="plugins_name_label"),
)
"""One row per registered version of a plugin (name + version): several versions of a name
run side by side; `is_default` marks the one a model that pins no version follows; `label` is
the version's name inside the node (its processes, budget grants, metrics): the bare name for
the version registered first, `name@version` for those registered beside it. A write replaces
the row of the same name and label (an upgrade changes a version's version in place)."""

models_table = Table(
    "models",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("plugin", String(128), nullable=False),
    Column("path", Text, nullable=False),
    Column("config", Text, nullable=False, default="{}"),
    Column("loaded", Boolean, nullable=False, default=True),
    Column("resources", Text, nullable=False, default="{}", server_default="{}"),
)

tokens_table = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("models", Text, nullable=False, default="[]"),
    Column("digest", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, default=0),
    Column("revoked_at", BigInteger, nullable=False, default=0),
    Column("rate_limit", String(64), nullable=False, default=""),
)
"""API tokens: one row each, the SHA-256 of the token, never the token (`mlos.core.tokens`)."""

nodes_table = Table(
    "nodes",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("address", Text, nullable=False, default=""),
    Column("grpc_address", Text, nullable=False, default=""),
    Column("version", String(64), nullable=False, default=""),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("ready", Boolean, nullable=False, default=False),
    Column("converged", Boolean, nullable=False, default=False),
    Column("draining", Boolean, nullable=False, default=False),
    Column("models", Text, nullable=False, default="[]"),
    Column("plugins", Text, nullable=False, default="[]"),
)
"""The nodes sharing the registry and what each reports of itself (its actual state), written
by each node's heartbeat (`mlos.core.nodes`); the only table that is not desired state."""
