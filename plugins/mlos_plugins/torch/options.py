"""Load options of the torch plugin: the `config` strings of a model, parsed and checked.

================================  ===========================================================
``inputs``, ``outputs``           the tensor signature as JSON lists (see
                                  `mlos_plugins.torch.signature`); needed for TorchScript
``signature_file``                a JSON or YAML file with ``inputs`` and ``outputs``
``intra_op_threads``              threads one inference may use inside an operator; by
                                  default the CPUs this plugin process may run on
``device``                        ``cpu`` (default), ``cuda`` or ``cuda:N``; CUDA only when
                                  this PyTorch build has it and a GPU is present
``max_batch_size``                the largest batch reported for a model whose inputs and
                                  outputs all lead with a dynamic dimension; ``0`` turns
                                  batching off
``axon.*``                        set by ``axon deploy``; ``axon.manifest`` supplies the
                                  signature, the others are ignored
================================  ===========================================================

An unknown option or a bad value is an `InvalidArgument` that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlos.sdk.options import OPTION_HELP, available_cpus, check_known, count_option, device_option

__all__ = ["OPTIONS", "TorchConfig", "available_cpus"]

OPTIONS: dict[str, str] = {
    "inputs": "input tensors as a JSON list of {name, datatype, shape}",
    "outputs": "output tensors as a JSON list of {name, datatype, shape}",
    "signature_file": "JSON or YAML file with inputs and outputs",
    "intra_op_threads": "threads inside one operator (default: the CPUs of the process)",
    "device": OPTION_HELP["device"],
    "max_batch_size": OPTION_HELP["max_batch_size"],
}


@dataclass(frozen=True, slots=True)
class TorchConfig:
    """The parsed load options of one model."""

    intra_op_threads: int
    device: str = "cpu"
    max_batch_size: int | None = None

    @classmethod
    def parse(cls, config: Mapping[str, str], default_threads: int = 0) -> TorchConfig:
        """Parse a model's `config` (`default_threads`: the intra-op threads when it names
        none; 0: the process's CPUs); raise InvalidArgument for unknown options or bad values."""
        check_known(config, OPTIONS, "torch")
        threads = count_option(config, "intra_op_threads")
        kind, index = device_option(config)
        return cls(
            intra_op_threads=threads or default_threads or available_cpus(),
            device=kind if kind == "cpu" else f"{kind}:{index}",
            max_batch_size=count_option(config, "max_batch_size"),
        )
