"""Checks inference requests and responses against a model's metadata.

:func:`check_infer_request` is used by the core (so a bad request is answered before it crosses
into a plugin process) and by the plugin host (so a plugin driven directly over SMI gets the
same typed answers). :func:`check_infer_response` is the core's check of what a plugin answers:
the outputs asked for (or all the model declares), each once, with the declared datatype, a
shape that fits the declared one (-1 matches any size; with `max_batch_size` > 0 the leading
dimension is the request's batch) and contents of the size that shape needs. A mismatch is an
:class:`~mlos.errors.InternalError` naming the plugin — never an answer passed on.

Both compile the metadata once into a plan, so the common, correct message costs a few field
reads per tensor. The request check applies the server's input limits too
(:mod:`mlos.input_limits`; none for callers that give none, such as the plugin host).
"""

from __future__ import annotations

from mlos.errors import InternalError, InvalidArgument
from mlos.input_limits import NO_LIMITS, InputLimits, check_limits
from mlos.wire.tensors import DATATYPES, byte_size, decode_bytes, element_count
from mlos_generated import smi_pb2

__all__ = ["check_contents_size", "check_infer_request", "check_infer_response"]

_CACHE_LIMIT = 256


class _Plan:
    """A model's metadata, compiled for the check of a well-formed request.

    The common request (every input once, known datatype and shape, raw contents of the right
    size) is accepted here with few protobuf reads; anything else goes through the full check,
    which finds and names the problem.
    """

    __slots__ = ("batch", "inputs", "metadata", "outputs")

    def __init__(self, metadata: smi_pb2.ModelMetadata) -> None:
        self.metadata = metadata  # keeps the id() this plan is cached under alive
        self.batch = metadata.max_batch_size
        self.inputs: dict[str, tuple[str, list[int], int]] = {}
        for spec in metadata.inputs:
            size = DATATYPES[spec.datatype].itemsize if spec.datatype in DATATYPES else 0
            if spec.datatype == "BYTES":
                size = 0
            self.inputs[spec.name] = (spec.datatype, spec.shape[:], size)
        self.outputs = frozenset(spec.name for spec in metadata.outputs)

    def accepts(self, request: smi_pb2.InferRequest, large_from: int, limits: InputLimits) -> bool:
        """Whether the request is certainly valid (False: let the full check decide)."""
        tensors = request.inputs
        specs = self.inputs
        if len(tensors) != len(specs) or request.parameters:
            return False
        if len(request.id) * 4 > limits.max_string_bytes or "\x00" in request.id:
            return False
        batch = min(self.batch, limits.max_batch_size)
        seen = 0
        for tensor in tensors:
            spec = specs.get(tensor.name)
            if spec is None:
                return False
            datatype, wanted, size = spec
            if size == 0 or tensor.datatype != datatype or tensor.parameters:
                return False
            shape = tensor.shape[:]
            if len(shape) != len(wanted):
                return False
            count = 1
            for dim, want in zip(shape, wanted, strict=True):
                if dim < 0 or (want != dim and want != -1):
                    return False
                count *= dim
            if batch > 0 and shape and shape[0] > batch:
                return False
            if tensor.HasField("shared_memory"):
                return False
            needed = count * size
            if count > limits.max_tensor_elements or needed > limits.max_tensor_bytes:
                return False
            if not (large_from and needed >= large_from) and len(tensor.contents) != needed:
                return False
            seen += 1
        if len(specs) > 1 and len({tensor.name for tensor in tensors}) != seen:
            return False
        outputs = request.outputs
        if not outputs:
            return True
        if len(outputs) > 1 and len({output.name for output in outputs}) != len(outputs):
            return False
        return all(output.name in self.outputs and not output.parameters for output in outputs)


_PLANS: dict[int, _Plan] = {}


def check_infer_request(
    request: smi_pb2.InferRequest,
    metadata: smi_pb2.ModelMetadata,
    *,
    large_from: int = 0,
    limits: InputLimits = NO_LIMITS,
) -> None:
    """Raise InvalidArgument naming the first problem: the limits, names, datatypes, shapes,
    sizes, outputs.

    With `large_from`, the size of the contents of an input of at least that many bytes (by
    its shape) is left to the caller, who reads those contents anyway and checks them with
    :func:`check_contents_size`: reading a protobuf bytes field copies it, and for a tensor of
    megabytes a copy just to measure it is not free. The limits are checked on the shape
    first, so no such input is read when its shape is over them.
    """
    plan = _PLANS.get(id(metadata))
    if plan is None or plan.metadata is not metadata:
        if len(_PLANS) >= _CACHE_LIMIT:
            _PLANS.clear()
        plan = _PLANS[id(metadata)] = _Plan(metadata)
    if not plan.accepts(request, large_from, limits):
        check_limits(request, metadata, limits)
        _check(request, metadata, large_from)


def check_contents_size(tensor: smi_pb2.Tensor, data: bytes | memoryview, needed: int) -> None:
    """Raise InvalidArgument when an input's contents (`data`) are not the `needed` bytes."""
    if len(data) != needed:
        shape = list(tensor.shape)
        raise InvalidArgument(_size_message(tensor.name, len(data), shape, tensor.datatype, needed))


def _size_message(name: str, have: int, shape: list[int], datatype: str, needed: int) -> str:
    return f"input {name!r} has {have} bytes of data, shape {shape} of {datatype} needs {needed}"


def _check(
    request: smi_pb2.InferRequest, metadata: smi_pb2.ModelMetadata, large_from: int
) -> None:
    model = f"model {metadata.name!r}"
    expected = {spec.name: spec for spec in metadata.inputs}
    seen: set[str] = set()
    for tensor in request.inputs:
        spec = expected.get(tensor.name)
        if spec is None:
            known = ", ".join(sorted(expected)) or "none"
            raise InvalidArgument(f"{model} has no input {tensor.name!r} (inputs: {known})")
        if tensor.name in seen:
            raise InvalidArgument(f"input {tensor.name!r} is given twice")
        seen.add(tensor.name)
        _check_tensor(tensor, spec, metadata.max_batch_size, large_from)
    missing = [name for name in expected if name not in seen]
    if missing:
        raise InvalidArgument(f"{model} needs input(s) {', '.join(repr(m) for m in missing)}")
    if request.outputs:
        outputs = {spec.name for spec in metadata.outputs}
        asked: set[str] = set()
        for wanted in request.outputs:
            if wanted.name not in outputs:
                known = ", ".join(sorted(outputs))
                raise InvalidArgument(f"{model} has no output {wanted.name!r} (outputs: {known})")
            if wanted.name in asked:
                raise InvalidArgument(f"output {wanted.name!r} is asked for twice")
            asked.add(wanted.name)


def _check_tensor(
    tensor: smi_pb2.Tensor, spec: smi_pb2.TensorMetadata, max_batch_size: int, large_from: int
) -> None:
    name = tensor.name
    if tensor.datatype != spec.datatype:
        if tensor.datatype not in DATATYPES:
            raise InvalidArgument(f"input {name!r}: unknown datatype {tensor.datatype!r}")
        raise InvalidArgument(
            f"input {name!r} has datatype {tensor.datatype}, the model expects {spec.datatype}"
        )
    shape = list(tensor.shape)
    wanted = list(spec.shape)
    if any(dim < 0 for dim in shape):
        raise InvalidArgument(f"input {name!r}: shape {shape} has a negative dimension")
    if len(shape) != len(wanted) or any(
        want not in (-1, dim) for dim, want in zip(shape, wanted, strict=True)
    ):
        raise InvalidArgument(f"input {name!r} has shape {shape}, the model expects {wanted}")
    if max_batch_size > 0 and shape and shape[0] > max_batch_size:
        raise InvalidArgument(
            f"input {name!r}: batch of {shape[0]} exceeds the model's maximum of {max_batch_size}"
        )
    if tensor.HasField("shared_memory"):
        size = tensor.shared_memory.byte_size
        needed = byte_size(tensor.datatype, shape)
        if needed is not None and size != needed:
            raise InvalidArgument(
                f"input {name!r}: shared memory holds {size} bytes, shape {shape} needs {needed}"
            )
        return
    needed = byte_size(tensor.datatype, shape)
    if needed is None:
        decode_bytes(tensor.contents, element_count(shape))
    elif large_from and needed >= large_from:
        return  # measured by the caller
    else:
        have = len(tensor.contents)
        if have != needed:
            raise InvalidArgument(_size_message(name, have, shape, tensor.datatype, needed))


# ---------------------------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------------------------


class _OutputPlan:
    """A model's outputs, compiled for the check of a response.

    For each output of fixed-size type whose only dynamic dimension is a leading batch one (or
    none), the shape and byte count a right answer has follow from the batch alone, so the
    common answer is checked with one list comparison and one length per output.
    """

    __slots__ = ("batched", "fixed", "metadata", "names", "specs")

    def __init__(self, metadata: smi_pb2.ModelMetadata) -> None:
        self.metadata = metadata  # keeps the id() this plan is cached under alive
        self.batched = metadata.max_batch_size > 0
        self.names = frozenset(spec.name for spec in metadata.outputs)
        self.specs: dict[str, tuple[str, list[int], int]] = {}
        #: name → (datatype, dimensions after the first, bytes per leading entry, batched);
        #: only for outputs whose shape is known but for a leading batch dimension.
        self.fixed: dict[str, tuple[str, list[int], int, bool]] = {}
        for spec in metadata.outputs:
            known = spec.datatype in DATATYPES and spec.datatype != "BYTES"
            size = DATATYPES[spec.datatype].itemsize if known else 0
            dims = spec.shape[:]
            self.specs[spec.name] = (spec.datatype, dims, size)
            if not size:
                continue
            lead_batch = self.batched and bool(dims) and dims[0] == -1
            rest = dims[1:] if lead_batch else dims
            if all(dim >= 0 for dim in rest):
                count = 1
                for dim in rest:
                    count *= dim
                self.fixed[spec.name] = (spec.datatype, rest, count * size, lead_batch)

    def accepts(
        self, response: smi_pb2.InferResponse, wanted: frozenset[str], batch: int
    ) -> bool:
        """Whether the response is certainly right (False: let the full check find why)."""
        outputs = response.outputs
        count = len(outputs)
        if count != len(wanted):
            return False
        fixed = self.fixed
        seen: set[str] = set()
        for index in range(count):
            tensor = outputs[index]
            name = tensor.name
            spec = fixed.get(name)
            if spec is None or name not in wanted or name in seen:
                return False
            seen.add(name)
            datatype, rest, nbytes, lead_batch = spec
            if tensor.datatype != datatype:
                return False
            if lead_batch:
                if tensor.shape[:] != [batch, *rest]:
                    return False
                nbytes *= batch
            elif tensor.shape[:] != rest:
                return False
            if len(tensor.contents) != nbytes and (
                not tensor.HasField("shared_memory") or tensor.shared_memory.byte_size != nbytes
            ):
                return False
        return True


_OUTPUT_PLANS: dict[int, _OutputPlan] = {}


def check_infer_response(
    response: smi_pb2.InferResponse,
    request: smi_pb2.InferRequest,
    metadata: smi_pb2.ModelMetadata,
    *,
    batch: int,
    plugin: str,
) -> None:
    """Raise InternalError naming `plugin` when its answer to `request` does not fit the model.

    `batch` is the leading dimension of the request's first input; it is compared with the
    leading dimension of every output when the model batches (`max_batch_size` > 0).
    """
    plan = _OUTPUT_PLANS.get(id(metadata))
    if plan is None or plan.metadata is not metadata:
        if len(_OUTPUT_PLANS) >= _CACHE_LIMIT:
            _OUTPUT_PLANS.clear()
        plan = _OUTPUT_PLANS[id(metadata)] = _OutputPlan(metadata)
    requested = request.outputs
    wanted = frozenset(output.name for output in requested) if requested else plan.names
    if not plan.accepts(response, wanted, batch):
        problem = _response_problem(response, plan, wanted, batch)
        if problem is not None:
            raise InternalError(
                f"plugin {plugin!r} answered model {metadata.name!r} version "
                f"{metadata.version!r} with {problem}"
            )


def _response_problem(
    response: smi_pb2.InferResponse, plan: _OutputPlan, wanted: frozenset[str], batch: int
) -> str | None:
    """What is wrong with a response the fast check did not accept, or None."""
    seen: set[str] = set()
    for tensor in response.outputs:
        name = tensor.name
        spec = plan.specs.get(name)
        if spec is None:
            known = ", ".join(sorted(plan.specs)) or "none"
            return f"an output {name!r} the model does not declare (outputs: {known})"
        if name not in wanted:
            return f"output {name!r}, which the request did not ask for"
        if name in seen:
            return f"output {name!r} twice"
        seen.add(name)
        problem = _output_problem(tensor, spec, plan.batched, batch)
        if problem is not None:
            return problem
    missing = sorted(wanted - seen)
    if missing:
        return f"no output {', '.join(repr(m) for m in missing)}"
    return None


def _output_problem(
    tensor: smi_pb2.Tensor, spec: tuple[str, list[int], int], batched: bool, batch: int
) -> str | None:
    name = tensor.name
    datatype, dims, _ = spec
    if tensor.datatype != datatype:
        return f"output {name!r} of datatype {tensor.datatype!r}; the model declares {datatype}"
    shape = list(tensor.shape)
    if any(dim < 0 for dim in shape) or len(shape) != len(dims) or any(
        want not in (-1, dim) for dim, want in zip(shape, dims, strict=True)
    ):
        return f"output {name!r} of shape {shape}; the model declares {dims}"
    if batched and shape and shape[0] != batch:
        return f"output {name!r} of shape {shape}, a batch of {shape[0]} for a request of {batch}"
    needed = byte_size(datatype, shape)
    if tensor.HasField("shared_memory"):
        have = tensor.shared_memory.byte_size
        if needed is not None and have != needed:
            return f"output {name!r} of {have} bytes in shared memory; shape {shape} needs {needed}"
        return None
    if needed is None:
        try:
            decode_bytes(tensor.contents, element_count(shape))
        except InvalidArgument as exc:
            return f"output {name!r} whose BYTES contents do not fit shape {shape}: {exc.message}"
        return None
    have = len(tensor.contents)
    if have != needed:
        return f"output {name!r} of {have} bytes; shape {shape} of {datatype} needs {needed}"
    return None
