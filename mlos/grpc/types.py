"""The boundary of the gRPC transport: the core engine it calls."""

from mlos.core.dataplane import Dataplane

__all__ = ["Dataplane"]
