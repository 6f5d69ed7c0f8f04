"""Handlers of what operators watch the server through: Prometheus metrics (`/metrics`).

The metrics are the core's (:meth:`mlos.core.engine.Engine.scrape_metrics`), written in
Prometheus's text format; docs/metrics.md lists them.
"""

from __future__ import annotations

from starlette.responses import Response

from mlos.core.dataplane import Dataplane
from mlos.core.exposition import CONTENT_TYPE
from mlos.core.pipeline import Call
from mlos.rest.types import Request

__all__ = ["Observability"]


class Observability:
    """The metrics operation over one core engine."""

    def __init__(self, engine: Dataplane) -> None:
        self._engine = engine

    async def metrics(self, request: Request, call: Call) -> Response:
        """Every metric, in Prometheus's text exposition format."""
        body = await self._engine.scrape_metrics()
        return Response(body, headers={"Content-Type": CONTENT_TYPE})
