"""A loaded PyTorch model: a `Program`, its metadata, and inference on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from mlos.errors import InvalidArgument, NotFound
from mlos.sdk.base import Array, DescribedModel, ModelSpec
from mlos.sdk.options import max_batch_size
from mlos_plugins.torch.datatypes import to_array, to_tensor
from mlos_plugins.torch.options import TorchConfig
from mlos_plugins.torch.program import Program, flat_outputs

__all__ = ["TorchModel"]

#: PyTorch errors of a run that mean "the inputs do not fit the model".
BAD_REQUEST_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, ValueError, TypeError)



class TorchModel(DescribedModel):
    """A TorchScript module or torch.export program, run under `torch.inference_mode()`.

    Its inputs are in the order the model takes them, its outputs in the order it returns
    them; its properties: file, format, PyTorch version, device, threads and gradient mode.

    Inputs are copied into tensors (request buffers are read-only), moved to the model's
    device, and passed in declared order; the model's result — a tensor, a tuple or list, or a
    dict of tensors — is flattened in order and matched to the outputs. PyTorch errors raised
    by a run (wrong shapes or dtypes for the model) become `InvalidArgument`.
    """

    def __init__(self, program: Program, spec: ModelSpec, file: Path, config: TorchConfig) -> None:
        """Describe `program`; raise InvalidArgument for a max_batch_size it cannot take."""
        self.name = spec.name
        self.platform = (
            "pytorch_libtorch" if program.kind.value == "torchscript" else "pytorch_export"
        )
        self.max_batch_size = max_batch_size(program.inputs, program.outputs, config.max_batch_size)
        self._program: Program | None = program
        self._config = config
        self._input_types = [(s.name, s.datatype) for s in program.inputs]
        self._output_names = [s.name for s in program.outputs]
        properties = {
            "file": str(file),
            "format": program.kind.value,
            "torch_version": torch.__version__,
            "device": config.device,
            "intra_op_threads": str(config.intra_op_threads),
            "grad_mode": "inference_mode",
        }
        super().__init__(program.inputs, program.outputs, properties)

    def infer(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> Mapping[str, Array]:
        """Run the model and return the `outputs` named (all when empty)."""
        program = self._program
        if program is None:
            raise NotFound(f"model {self.name!r} is not loaded")
        threads = self._config.intra_op_threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)  # per thread: each inference thread sets its own
        device = self._config.device
        tensors = [
            to_tensor(inputs[name], datatype, device) for name, datatype in self._input_types
        ]
        try:
            with torch.inference_mode():
                result = program.call(tensors)
                produced = flat_outputs(result)
                if len(produced) != len(self._output_names):
                    raise InvalidArgument(
                        f"model {self.name!r} returned {len(produced)} output(s), its "
                        f"signature has {len(self._output_names)}"
                    )
                arrays = {
                    name: to_array(tensor, name)
                    for name, tensor in zip(self._output_names, produced, strict=True)
                }
        except BAD_REQUEST_ERRORS as exc:
            message = " ".join(str(exc).split())[:500]
            raise InvalidArgument(f"model {self.name!r}: {message}") from exc
        if not outputs:
            return arrays
        return {name: arrays[name] for name in outputs if name in arrays}

    def unload(self) -> None:
        """Drop the module and its weights."""
        self._program = None
