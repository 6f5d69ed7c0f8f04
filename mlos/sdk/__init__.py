"""The Python plugin SDK: subclass `ModelPlugin`, publish an `mlos.plugins` entry point."""

from mlos.sdk.base import LoadedModel, ModelPlugin, ModelSpec, TensorSpec

__all__ = ["LoadedModel", "ModelPlugin", "ModelSpec", "TensorSpec"]
