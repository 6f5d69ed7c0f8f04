"""The REST transport: spec/openapi.yaml served over the core engine (see docs/rest.md).

    from mlos.rest import create_app
    app = create_app(engine, settings)   # an ASGI app for uvicorn

`create_app` is imported on first use, so that clients that only need :mod:`mlos.rest.encoding`
do not pay for importing connexion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlos.rest.app import RestSettings, create_app
    from mlos.rest.types import Dataplane

__all__ = ["Dataplane", "RestSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "RestSettings"):
        from mlos.rest import app

        return getattr(app, name)
    if name == "Dataplane":
        from mlos.rest.types import Dataplane

        return Dataplane
    raise AttributeError(f"module 'mlos.rest' has no attribute {name!r}")
