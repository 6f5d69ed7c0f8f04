"""Handlers of what operators watch the server through: Prometheus metrics (`/metrics`), and
Triton's trace (`/v2[/models/{name}]/trace/setting`) and logging (`/v2/logging`) extensions.

The metrics are the core's (:meth:`mlos.core.engine.Engine.scrape_metrics`), written in
Prometheus's text format; docs/metrics.md lists them. The trace and log settings live in the
core too (:mod:`mlos.core.trace_settings`, :mod:`mlos.core.log_settings`); a GET reads them, a
POST changes those its JSON body names and answers them all.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mlos.core.exposition import CONTENT_TYPE
from mlos.core.pipeline import Call
from mlos.rest.types import EngineHandlers, Request
from mlos.wire.encoding import dumps

__all__ = ["Observability"]


class Observability(EngineHandlers):
    """The metrics, trace setting and log settings operations over one core engine."""

    async def metrics(self, request: Request, call: Call) -> Response:
        """Every metric, in Prometheus's text exposition format."""
        body = await self._engine.scrape_metrics()
        return Response(body, headers={"Content-Type": CONTENT_TYPE})

    async def trace_setting(self, request: Request, call: Call) -> Response:
        """The trace settings in force, server-wide or for the model of the path."""
        settings = await self._engine.update_trace_setting(request.path.get("name", ""))
        return _json(settings)

    async def update_trace_setting(self, request: Request, call: Call) -> Response:
        """Change trace settings, server-wide or the model's own; the settings after."""
        changes = request.body.json or {}
        settings = await self._engine.update_trace_setting(request.path.get("name", ""), changes)
        return _json(settings)

    model_trace_setting = trace_setting
    update_model_trace_setting = update_trace_setting

    async def log_settings(self, request: Request, call: Call) -> Response:
        """The server's log settings."""
        return _json(await self._engine.update_log_settings())

    async def update_log_settings(self, request: Request, call: Call) -> Response:
        """Change the server's log settings; the settings after."""
        return _json(await self._engine.update_log_settings(request.body.json or {}))


def _json(document: Any) -> Response:
    return Response(dumps(document), media_type="application/json")
