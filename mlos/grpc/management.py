"""The `mlos.smi.v1.MLOS` service over gRPC: a mechanical adapter over the core's one
implementation (:class:`mlos.core.service.MLOSService`), built from the generated method table.
"""

from __future__ import annotations

from operator import attrgetter

from mlos.core.dataplane import Dataplane
from mlos.core.service import MLOS_OPERATIONS, MODEL_FIELDS, MLOSService
from mlos.grpc.routes import ModelOf, PipelineServicer, Route
from mlos_generated import smi_ipc

__all__ = ["servicer"]


def servicer(engine: Dataplane) -> PipelineServicer:
    """The MLOS service over `engine`: every method a call through its pipeline."""
    service = MLOSService(engine)
    routes: dict[str, Route] = {}
    for method in smi_ipc.MLOSServicer.METHODS:
        fields = MODEL_FIELDS.get(method.request_type.DESCRIPTOR.full_name)
        model_of: ModelOf | None = None if fields is None else attrgetter(*fields)
        handler = getattr(service, method.handler)
        routes[method.name] = Route(MLOS_OPERATIONS[method.handler], handler, model_of)
    return PipelineServicer(engine.pipeline, routes)
