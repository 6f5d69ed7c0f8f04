"""Load options of the ONNX plugin: the `config` strings of a model, parsed and checked.

Every option is a string, as `LoadModelRequest.config` carries it:

================================  ===========================================================
``intra_op_threads``              threads one inference may use inside an operator; ``1`` by
                                  default (MLOS runs requests side by side instead), ``0`` lets
                                  onnxruntime use every core
``inter_op_threads``              threads for independent operators in ``parallel`` mode;
                                  ``0`` (onnxruntime's choice) by default
``graph_optimization_level``      ``disable``, ``basic``, ``extended``, ``layout`` or ``all``
                                  (default)
``execution_mode``                ``sequential`` (default) or ``parallel``
``device``                        ``cpu`` (default), ``cuda`` or ``cuda:N``; the CUDA provider is
                                  used only when this onnxruntime has it, with the CPU provider
                                  always behind it
``max_batch_size``                the largest batch reported for a model whose inputs and
                                  outputs all lead with a dynamic dimension; ``0`` turns
                                  batching off
``spinning``                      ``on`` (default, onnxruntime's): threads of a session with
                                  several spin between operators; ``off`` lets them sleep,
                                  which spends less CPU on a machine shared with other work
================================  ===========================================================

An unknown option or a bad value is an `InvalidArgument` that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlos.errors import InvalidArgument
from mlos.sdk.options import OPTION_HELP, check_known, count_option, device_option

__all__ = ["OPTIONS", "SessionConfig"]

#: Option names and what each one means, for error messages and documentation: the options
#: every plugin shares, then onnxruntime's own.
OPTIONS: dict[str, str] = {
    "device": OPTION_HELP["device"],
    "max_batch_size": OPTION_HELP["max_batch_size"],
    "intra_op_threads": "threads inside one operator (default 1; 0: onnxruntime's choice)",
    "inter_op_threads": "threads across operators in parallel mode (default 0)",
    "graph_optimization_level": "disable | basic | extended | layout | all (default all)",
    "execution_mode": "sequential (default) | parallel",
    "spinning": "on (default) | off: whether a session's threads spin between operators",
}

_OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "layout": "ORT_ENABLE_LAYOUT",
    "all": "ORT_ENABLE_ALL",
}
_EXECUTION_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}
_SPINNING = {"on": "1", "off": "0"}

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def _count(config: Mapping[str, str], key: str, default: int) -> int:
    value = count_option(config, key)
    return default if value is None else value


def _choice(config: Mapping[str, str], key: str, choices: Mapping[str, str], default: str) -> str:
    raw = config.get(key)
    if raw is None or raw.strip() == "":
        return choices[default]
    word = raw.strip().lower()
    if word in choices:
        return choices[word]
    if raw.strip().upper() in choices.values():  # onnxruntime's own names are accepted too
        return raw.strip().upper()
    raise InvalidArgument(f"config {key}={raw!r}: expected one of {', '.join(choices)}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The parsed load options of one model."""

    intra_op_threads: int = 1
    inter_op_threads: int = 0
    graph_optimization_level: str = "ORT_ENABLE_ALL"
    execution_mode: str = "ORT_SEQUENTIAL"
    device: str = "cpu"
    device_id: int = 0
    max_batch_size: int | None = None
    spinning: bool = True

    @classmethod
    def parse(cls, config: Mapping[str, str]) -> SessionConfig:
        """Parse a model's `config`; raise InvalidArgument for unknown options or bad values."""
        check_known(config, OPTIONS, "onnx")
        device, device_id = device_option(config)
        max_batch = config.get("max_batch_size")
        return cls(
            intra_op_threads=_count(config, "intra_op_threads", 1),
            inter_op_threads=_count(config, "inter_op_threads", 0),
            graph_optimization_level=_choice(
                config, "graph_optimization_level", _OPTIMIZATION_LEVELS, "all"
            ),
            execution_mode=_choice(config, "execution_mode", _EXECUTION_MODES, "sequential"),
            device=device,
            device_id=device_id,
            max_batch_size=None if max_batch is None else _count(config, "max_batch_size", 0),
            spinning=_choice(config, "spinning", _SPINNING, "on") == "1",
        )

    def session_options(self, ort: Any) -> Any:
        """An `onnxruntime.SessionOptions` for these settings (`ort` is the onnxruntime module)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        level = getattr(ort.GraphOptimizationLevel, self.graph_optimization_level, None)
        if level is None:
            raise InvalidArgument(
                f"graph_optimization_level {self.graph_optimization_level}: "
                "this onnxruntime does not have it"
            )
        options.graph_optimization_level = level
        options.execution_mode = getattr(ort.ExecutionMode, self.execution_mode)
        options.log_severity_level = 3  # errors only; failures reach the caller as typed errors
        if not self.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return options

    def providers(self, available: list[str]) -> list[str | tuple[str, dict[str, str]]]:
        """Execution providers in priority order: CUDA when asked for and present, then CPU."""
        providers: list[str | tuple[str, dict[str, str]]] = []
        if self.device == "cuda" and CUDA_PROVIDER in available:
            providers.append((CUDA_PROVIDER, {"device_id": str(self.device_id)}))
        providers.append(CPU_PROVIDER)
        return providers
