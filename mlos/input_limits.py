"""What one request may carry, whatever the transport: the server's input limits.

:class:`InputLimits` holds them (the settings of the same names, docs/configuration.md).
:func:`check_limits` checks an inference request against them (the model check of
:mod:`mlos.validation` calls it for every request its fast path does not accept);
:func:`check_strings` checks the strings of a management request: no NUL anywhere, no control
character in a name, path or id, none longer than `max_string_bytes`. Every refusal is an
:class:`~mlos.errors.InvalidArgument` naming the part and the setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mlos.errors import InvalidArgument
from mlos.wire.tensors import DATATYPES, byte_size, element_count
from mlos_generated import smi_pb2

__all__ = ["NO_LIMITS", "InputLimits", "check_limits", "check_strings"]


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


def check_limits(
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


def check_strings(message: Message, limits: InputLimits, where: str = "") -> None:
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
                    check_strings(item, limits, f"{place}.{key}.")
                elif value_field.type == FieldDescriptor.TYPE_STRING:
                    _check_string(item, f"{place}.{key}", False, limits)
        elif field.is_repeated:
            for index, item in enumerate(value):
                check_strings(item, limits, f"{place}[{index}].")
        else:
            check_strings(value, limits, f"{place}.")
