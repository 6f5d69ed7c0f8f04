"""The Python plugin SDK: subclass `ModelPlugin`, publish an `mlos.plugins` entry point."""

from mlos.sdk.base import DescribedModel, LoadedModel, ModelPlugin, ModelSpec, TensorSpec

__all__ = ["DescribedModel", "LoadedModel", "ModelPlugin", "ModelSpec", "TensorSpec"]
