"""The handler of `/v1/cluster`: the nodes sharing this node's registry, as their heartbeats
report them (:meth:`mlos.core.engine.Engine.cluster_status`, :mod:`mlos.core.nodes`)."""

from __future__ import annotations

from starlette.responses import Response

from mlos.core.pipeline import Call
from mlos.rest.types import EngineHandlers, Request
from mlos.wire.encoding import dumps

__all__ = ["Cluster"]


class Cluster(EngineHandlers):
    """The cluster operations over one core engine."""

    async def get_cluster(self, request: Request, call: Call) -> Response:
        """Every node sharing the registry: addresses, health, convergence, models."""
        status = await self._engine.cluster_status()
        return Response(dumps(status), media_type="application/json")
