"""Plugins that break the SMI contract on purpose, each in one way; hosted by `mlos.sdk.host`.

Each is the test `double` plugin (tests/sdk/echo_plugin.py) with one fault, so a conformance
run against it must fail exactly the checks that look at that fault.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any, ClassVar

import numpy as np
import numpy.typing as npt

from mlos.errors import InvalidArgument
from mlos.sdk import LoadedModel, ModelSpec
from tests.sdk.echo_plugin import DoubleModel, EchoPlugin

Array = npt.NDArray[Any]

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


class CarelessPlugin(EchoPlugin):
    """Never looks at the path: anything loads, even a file that does not exist."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        return DoubleModel()


class BiasedModel(DoubleModel):
    """y = 2 * x + 1: shaped and typed right, but the values are wrong."""

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        return {"y": inputs["x"] * np.float32(2) + np.float32(1)}


class BiasedPlugin(StrictPlugin):
    """Answers with wrong values (only fixtures can tell)."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        super().load(spec)
        return BiasedModel()


class ReshapingModel(DoubleModel):
    """Returns y as [batch, 2, 2] although it declares [-1, 4]."""

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        return {"y": (inputs["x"] * np.float32(2)).reshape(-1, 2, 2)}


class ReshapingPlugin(StrictPlugin):
    """Answers with outputs of another shape than the metadata declares."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        super().load(spec)
        return ReshapingModel()


class RaisingModel(DoubleModel):
    """Every inference fails with an exception the plugin did not expect."""

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        raise RuntimeError("the model's kernel is missing")


class RaisingPlugin(StrictPlugin):
    """Loads, then raises on every Infer (the host answers INTERNAL)."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        super().load(spec)
        return RaisingModel()


class FdLeakPlugin(StrictPlugin):
    """Opens the model file on every load and never closes it."""

    opened: ClassVar[list[IO[bytes]]] = []

    def load(self, spec: ModelSpec) -> LoadedModel:
        model = super().load(spec)
        self.opened.append(spec.path.open("rb"))
        return model


class ThreadLeakPlugin(StrictPlugin):
    """Starts a thread on every load that nothing ever stops."""

    forever = threading.Event()

    def load(self, spec: ModelSpec) -> LoadedModel:
        model = super().load(spec)
        threading.Thread(target=self.forever.wait, daemon=True).start()
        return model


class ExitingModel(DoubleModel):
    """Takes the whole process down when it is unloaded."""

    def unload(self) -> None:
        os._exit(5)


class ExitOnUnloadPlugin(StrictPlugin):
    """Exits (code 5) on every unload instead of answering."""

    def load(self, spec: ModelSpec) -> LoadedModel:
        super().load(spec)
        return ExitingModel()


class ParentPlugin(StrictPlugin):
    """Starts a helper process on its first load and leaves it running when it exits."""

    helper: ClassVar[list[subprocess.Popen[bytes]]] = []

    def load(self, spec: ModelSpec) -> LoadedModel:
        model = super().load(spec)
        if not self.helper:
            self.helper.append(
                subprocess.Popen(
                    ["sleep", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
                )
            )
        return model


class SecondExtensionPlugin(StrictPlugin):
    """Claims .double and .dbl files, and loads any .dbl file without looking at it."""

    file_extensions = (".double", ".dbl")

    def load(self, spec: ModelSpec) -> LoadedModel:
        if spec.path.suffix == ".dbl" and spec.path.exists():
            return DoubleModel()
        return super().load(spec)
