"""A plugin for the tracing tests whose model writes a log line on every inference."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt

from mlos.sdk import LoadedModel, ModelPlugin, ModelSpec
from tests.sdk.echo_plugin import DoubleModel

log = logging.getLogger("tests.logging_plugin")


class LoggingModel(DoubleModel):
    """The doubling model, logging each batch it runs (at WARNING, which plugins write)."""

    def infer(
        self, inputs: Mapping[str, npt.NDArray[Any]], outputs: Sequence[str]
    ) -> Mapping[str, npt.NDArray[Any]]:
        log.warning("doubling a batch of %d", len(inputs["x"]))
        return super().infer(inputs, outputs)


class LoggingPlugin(ModelPlugin):
    """Serves `.double` files with :class:`LoggingModel`."""

    name = "logging"
    version = "0.0.1"
    formats = ("double",)
    file_extensions = (".double",)

    def load(self, spec: ModelSpec) -> LoadedModel:
        return LoggingModel()
