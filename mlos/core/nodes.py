"""The nodes sharing one registry, as each reports itself: the registry's `nodes` table.

Every node writes its own row at each heartbeat (:class:`mlos.core.reconcile.Reconciler`): its
address, whether it is ready, converged or draining, and which models and plugins it has in
which state. Any node reads them all for `/v1/cluster` and `mlos cluster status`. A node that
stops cleanly deletes its row; one that dies leaves it behind, and its heartbeat ages until
readers report it `lost`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from mlos.core.schema import nodes_table
from mlos.core.store import RegistryStore, column_values, upsert

__all__ = ["NodeBook", "NodeReport"]


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One node's actual state, as its last heartbeat wrote it."""

    id: str
    address: str = ""
    """The node's REST URL."""
    grpc_address: str = ""
    """The node's gRPC address (host:port)."""
    version: str = ""
    """The MLOS version the node runs."""
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    """Seconds since the epoch."""
    ready: bool = False
    converged: bool = False
    draining: bool = False
    models: tuple[dict[str, str], ...] = ()
    """Every model version the node knows: name, version, state (and message when failed)."""
    plugins: tuple[dict[str, str], ...] = field(default_factory=tuple)
    """Every plugin the node knows: name and state."""

    def to_json(self, now: float, lost_after: float) -> dict[str, Any]:
        """The node as `/v1/cluster` shows it; `health` is `lost` once its heartbeat is older
        than `lost_after` seconds, else `draining`, `ready` or `not_ready`."""
        age = max(0.0, now - self.heartbeat_at)
        if age > lost_after:
            health = "lost"
        elif self.draining:
            health = "draining"
        else:
            health = "ready" if self.ready else "not_ready"
        return {
            "id": self.id,
            "address": self.address,
            "grpc_address": self.grpc_address,
            "version": self.version,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "heartbeat_age_seconds": round(age, 3),
            "health": health,
            "ready": self.ready and health != "lost",
            "converged": self.converged,
            "draining": self.draining,
            "models": [dict(m) for m in self.models],
            "plugins": [dict(p) for p in self.plugins],
        }


class NodeBook:
    """Reads and writes the `nodes` table of a registry."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self._put = upsert(store.dialect, nodes_table, ["id"])

    def beat(self, report: NodeReport) -> None:
        """Write (insert or replace) this node's row; not a change of desired state, so it
        notifies nobody."""
        values = column_values(
            nodes_table,
            report,
            models=json.dumps(list(report.models), sort_keys=True),
            plugins=json.dumps(list(report.plugins), sort_keys=True),
        )

        def write() -> None:
            with self._store.engine.begin() as conn:
                conn.execute(self._put, values)

        self._store.guarded(write)

    def remove(self, node_id: str) -> None:
        """Delete a node's row (no error when absent)."""

        def write() -> None:
            with self._store.engine.begin() as conn:
                conn.execute(delete(nodes_table).where(nodes_table.c.id == node_id))

        self._store.guarded(write)

    def all(self) -> list[NodeReport]:
        """Every node's last report, by id."""

        def read() -> list[NodeReport]:
            with self._store.engine.connect() as conn:
                rows = conn.execute(select(nodes_table).order_by(nodes_table.c.id))
                return [
                    NodeReport(
                        **{
                            **row._asdict(),
                            "models": tuple(json.loads(row.models)),
                            "plugins": tuple(json.loads(row.plugins)),
                        }
                    )
                    for row in rows
                ]

        return self._store.guarded(read)
