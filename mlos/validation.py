"""Checks a request before anything runs: an inference request against a model's metadata and
the server's input limits, a management request's strings.

Used by the core (so a bad request is answered before it crosses into a plugin process or is
recorded) and by the plugin host (so a plugin driven directly over SMI gets the same typed
answers). Every refusal is an :class:`~mlos.errors.InvalidArgument` naming the place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mlos.errors import InvalidArgument
from mlos.wire.tensors import DATATYPES, byte_size, decode_bytes, element_count
from mlos_generated import smi_pb2

__all__ = ["InputLimits", "check_contents_size", "check_infer_request", "check_text"]

_CACHE_LIMIT = 256


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What one request may carry, whatever the transport.

    The server's settings of the same names (docs/configuration.md). The size of a whole
    request is bounded before it is read (REST `max_body_bytes`, gRPC `grpc_max_message_bytes`);
    these bound its parts.
    """

    max_inputs: int = 1024
    """Inputs of an inference request, and outputs it asks for (each)."""
    max_tensor_elements: int = 2**30
    """Elements of one tensor, by its shape."""
    max_tensor_bytes: int = 2**30
    """Bytes of one tensor's data (by its shape; for BYTES, as given)."""
    max_batch_size: int = 65536
    """Batch (the first dimension) of a model that batches, whatever larger batch it allows."""
    max_string_bytes: int = 65536
    """Bytes of any string: names, paths, ids, parameter and option values."""


    @classmethod
    def of(cls, settings: object) -> InputLimits:
        """The limits in server settings (an attribute per limit; defaults for those missing)."""
        defaults = cls()
        names = cls.__slots__
        return cls(*(int(getattr(settings, name, getattr(defaults, name))) for name in names))


NO_LIMITS = InputLimits(2**62, 2**62, 2**62, 2**62, 2**62)
"""Limits that never bind (for callers that apply none, such as the plugin host)."""


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
        return not outputs or (
            len(outputs) <= len(self.outputs)
            and all(output.name in self.outputs and not output.parameters for output in outputs)
        )


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
        _check_limits(request, metadata, limits)
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
        for wanted in request.outputs:
            if wanted.name not in outputs:
                known = ", ".join(sorted(outputs))
                raise InvalidArgument(f"{model} has no output {wanted.name!r} (outputs: {known})")


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


def _check_limits(
    request: smi_pb2.InferRequest, metadata: smi_pb2.ModelMetadata, limits: InputLimits
) -> None:
    """InvalidArgument for the first part of an inference request over the server's limits."""
    for what, count in (("inputs", len(request.inputs)), ("outputs", len(request.outputs))):
        if count > limits.max_inputs:
            raise InvalidArgument(
                f"the request has {count} {what}; the limit is {limits.max_inputs} (max_inputs)"
            )
    _check_string(request.id, "id", False, limits)
    _check_parameters(request.parameters, "parameters", limits)
    batches = metadata.max_batch_size > 0
    for tensor in request.inputs:
        where = f"input {tensor.name[:128]!r}"
        _check_string(tensor.name, "input name", True, limits)
        _check_parameters(tensor.parameters, f"{where} parameters", limits)
        shape = list(tensor.shape)
        if any(dim < 0 for dim in shape):
            continue  # named by the full check
        count = element_count(shape)
        if count > limits.max_tensor_elements:
            raise InvalidArgument(
                f"{where}: shape {shape} holds {count} elements; the limit is "
                f"{limits.max_tensor_elements} (max_tensor_elements)"
            )
        needed = byte_size(tensor.datatype, shape) if tensor.datatype in DATATYPES else None
        if needed is None and not tensor.HasField("shared_memory"):
            needed = len(tensor.contents)  # BYTES: as given
        if needed is not None and needed > limits.max_tensor_bytes:
            raise InvalidArgument(
                f"{where}: {needed} bytes of data; the limit is {limits.max_tensor_bytes} "
                "(max_tensor_bytes)"
            )
        if batches and shape and shape[0] > limits.max_batch_size:
            raise InvalidArgument(
                f"{where}: batch of {shape[0]} exceeds the server's limit of "
                f"{limits.max_batch_size} (max_batch_size)"
            )
    for output in request.outputs:
        _check_string(output.name, "output name", True, limits)
        _check_parameters(output.parameters, f"output {output.name[:128]!r} parameters", limits)


def _check_parameters(
    parameters: Mapping[str, smi_pb2.Parameter], where: str, limits: InputLimits
) -> None:
    for key, value in parameters.items():
        _check_string(key, f"{where}: a name", True, limits)
        if value.WhichOneof("choice") == "string_param":
            _check_string(value.string_param, f"{where}: {key[:128]!r}", False, limits)


# ----- strings -------------------------------------------------------------------------------

_NAME_FIELDS = frozenset(
    (
        "name", "version", "plugin", "path", "entry_point", "module", "executable", "models",
        "model_name", "model_version", "key", "id", "rate_limit",
    )
)
"""String fields that hold names, paths or identifiers: no control character at all."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_string(value: str, where: str, is_name: bool, limits: InputLimits) -> None:
    if len(value) * 4 > limits.max_string_bytes and (
        len(value.encode("utf-8", "surrogatepass")) > limits.max_string_bytes
    ):
        raise InvalidArgument(
            f"{where}: a string of more than {limits.max_string_bytes} bytes (max_string_bytes)"
        )
    if is_name:
        found = _CONTROL.search(value)
        if found is not None:
            raise InvalidArgument(
                f"{where}: {value[:256]!r} holds the control character {found.group()!r}; "
                "names and paths may not"
            )
    elif "\x00" in value:
        raise InvalidArgument(f"{where}: a string may not hold a NUL character")


def check_text(message: Message, limits: InputLimits, where: str = "") -> None:
    """InvalidArgument for a string of `message`, at any depth, longer than the limit or
    holding NUL; in names, paths and ids (`name`, `path`, `module`, ...), for any control
    character."""
    for field, value in message.ListFields():
        place = f"{where}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            items = value if field.is_repeated else (value,)
            for item in items:
                _check_string(item, place, field.name in _NAME_FIELDS, limits)
        elif field.message_type is None:
            continue
        elif field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                _check_string(str(key), f"{place}: a key", True, limits)
                if isinstance(item, Message):
                    check_text(item, limits, f"{place}.{key}.")
                elif value_field.type == FieldDescriptor.TYPE_STRING:
                    _check_string(item, f"{place}.{key}", False, limits)
        elif field.is_repeated:
            for index, item in enumerate(value):
                check_text(item, limits, f"{place}[{index}].")
        else:
            check_text(value, limits, f"{place}.")
