"""Plugins that break the SMI contract on purpose, each in one way; hosted by `mlos.sdk.host`.

Each is the test `double` plugin (tests/sdk/echo_plugin.py) with one fault, so a conformance
run against it must fail exactly the checks that look at that fault.
"""

from __future__ import annotations

import os
from typing import ClassVar

from mlos.errors import InvalidArgument
from mlos.sdk import LoadedModel, ModelSpec
from tests.sdk.echo_plugin import DoubleModel, EchoPlugin

#: What each leaky load keeps, touched so that it counts in RSS.
LEAK_BYTES = 24 * 1024 * 1024
#: What a valid `.double` model file holds.
MODEL_TEXT = "double"


def _is_model(spec: ModelSpec) -> bool:
    try:
        return spec.path.read_text().strip() == MODEL_TEXT
    except (OSError, UnicodeDecodeError):
        return False


class StrictPlugin(EchoPlugin):
    """The double plugin, refusing files that are not `.double` models (a correct plugin)."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        if not _is_model(spec):
            raise InvalidArgument(f"{spec.path} is not a .double model")
        return DoubleModel()


class LeakOnFailurePlugin(StrictPlugin):
    """A failed load keeps what it allocated: load is not all-or-nothing."""

    kept: ClassVar[list[bytes]] = []

    def load(self, spec: ModelSpec) -> LoadedModel:
        buffer = b"\x01" * LEAK_BYTES
        try:
            return super().load(spec)
        except InvalidArgument:
            self.kept.append(buffer)
            raise


class HoardingModel(DoubleModel):
    """Holds a buffer that nothing ever frees."""

    hoard: ClassVar[list[bytes]] = []

    def __init__(self) -> None:
        self.hoard.append(b"\x01" * LEAK_BYTES)


class HoardingPlugin(StrictPlugin):
    """Never gives back what a model took: memory grows with every load/unload cycle."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        super().load(spec)
        return HoardingModel()


class CrashingPlugin(StrictPlugin):
    """Exits on a file that is not a model instead of answering with an error."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        if spec.path.exists() and not _is_model(spec):
            os._exit(3)
        return super().load(spec)
