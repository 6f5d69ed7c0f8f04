"""The JSON rendering of protobuf messages used by the /v1 API, and JSON bytes in and out.

The rendering is driven by the message descriptors alone, so every SMI message renders the same
way without code of its own:

* keys are the proto field names (snake_case), and every field is present, defaults included;
* 64-bit integers are JSON numbers (not strings, as in the canonical proto3 JSON mapping);
* an enum is its value name in lowercase without the enum's prefix (`PLUGIN_STATE_READY` →
  `"ready"`);
* maps are objects, repeated fields arrays, bytes base64 strings;
* a oneof shows only the member that is set (an unset oneof is absent).

:func:`from_json` reads the same shape back into a message.

Triton's own messages (model configuration, statistics, repository index) are answered on /v2 in
Triton's JSON instead, :func:`triton_json`: the canonical proto3 JSON mapping with proto field
names, defaults shown and enums by their full value names, but 64-bit integers as numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from mlos.errors import InvalidArgument

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None  # type: ignore[assignment]  # the module or None when it is not installed

__all__ = [
    "SERIALIZES_NUMPY",
    "dumps",
    "enum_name",
    "enum_prefix",
    "from_json",
    "loads",
    "to_json",
    "triton_json",
]

SERIALIZES_NUMPY = orjson is not None
"""Whether :func:`dumps` writes 1-D numpy arrays of native byte order directly."""

M = TypeVar("M", bound=Message)
_Render = Callable[[Any], Any]


# ---------------------------------------------------------------------------------------------
# JSON bytes
# ---------------------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    if orjson is not None:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Parse UTF-8 JSON; raise InvalidArgument when it is not valid UTF-8 or not valid JSON."""
    try:
        if orjson is not None:
            return orjson.loads(data)
        return json.loads(bytes(data).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"body is not valid UTF-8: {exc.reason}") from None
    except ValueError as exc:  # json.JSONDecodeError and orjson.JSONDecodeError
        raise InvalidArgument(f"body is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Enums
# ---------------------------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")
_ENUM_NAMES: dict[str, dict[int, str]] = {}
_ENUM_NUMBERS: dict[str, dict[str, int]] = {}


def enum_prefix(enum: EnumDescriptor) -> str:
    """The prefix of an enum's value names: `PluginState` → `PLUGIN_STATE_`."""
    return _CAMEL_BOUNDARY.sub("_", enum.name).upper() + "_"


def _enum_tables(enum: EnumDescriptor) -> tuple[dict[int, str], dict[str, int]]:
    names = _ENUM_NAMES.get(enum.full_name)
    if names is None:
        prefix = enum_prefix(enum)
        names = {}
        numbers: dict[str, int] = {}
        for value in enum.values:
            short = value.name.removeprefix(prefix).lower()
            names.setdefault(value.number, short)
            numbers[short] = value.number
            numbers[value.name] = value.number
        _ENUM_NAMES[enum.full_name] = names
        _ENUM_NUMBERS[enum.full_name] = numbers
    return names, _ENUM_NUMBERS[enum.full_name]


def enum_name(enum: EnumDescriptor, number: int) -> str | int:
    """The JSON name of an enum value (the number itself when the value is unknown)."""
    return _enum_tables(enum)[0].get(number, number)


# ---------------------------------------------------------------------------------------------
# Message → JSON
# ---------------------------------------------------------------------------------------------

# Per message type: (field name, renderer or None for values that are JSON already, whether
# the field is a oneof member shown only when set).
_Plan = list[tuple[str, _Render | None, bool]]
_PLANS: dict[str, _Plan] = {}


def _real_oneof(field: FieldDescriptor) -> bool:
    oneof = field.containing_oneof
    if oneof is None:
        return False
    # proto3 `optional` fields sit alone in a synthetic oneof named after them.
    return not (len(oneof.fields) == 1 and oneof.name == f"_{field.name}")


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _message(value: Message) -> dict[str, Any]:
    return to_json(value)


def _scalar_renderer(field: FieldDescriptor) -> _Render | None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message
    if field.enum_type is not None:
        names = _enum_tables(field.enum_type)[0]
        return lambda number: names.get(number, number)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _bytes
    return None


def _field_renderer(field: FieldDescriptor) -> _Render | None:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value = _scalar_renderer(message_type.fields_by_name["value"])
        if value is None:
            return dict
        return lambda entries: {str(k): value(v) for k, v in entries.items()}
    item = _scalar_renderer(field)
    if field.is_repeated:
        if item is None:
            return list
        return lambda items: [item(v) for v in items]
    return item


def _plan(descriptor: Descriptor) -> _Plan:
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        plan = [(f.name, _field_renderer(f), _real_oneof(f)) for f in descriptor.fields]
        _PLANS[descriptor.full_name] = plan
    return plan


def to_json(message: Message) -> dict[str, Any]:
    """`message` as a JSON-ready dict: every field present, enums as short lowercase names."""
    out: dict[str, Any] = {}
    for name, render, in_oneof in _plan(cast(Descriptor, message.DESCRIPTOR)):
        if in_oneof and not message.HasField(name):
            continue
        value = getattr(message, name)
        out[name] = value if render is None else render(value)
    return out


# ---------------------------------------------------------------------------------------------
# JSON → message
# ---------------------------------------------------------------------------------------------


def _parse_scalar(field: FieldDescriptor, value: Any, where: str) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        if not isinstance(value, Mapping):
            raise InvalidArgument(f"{where}: expected an object")
        return value
    if field.enum_type is not None:
        numbers = _enum_tables(field.enum_type)[1]
        if isinstance(value, str) and value in numbers:
            return numbers[value]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidArgument(f"{where}: unknown value {value!r}")
    if kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}: expected a base64 string")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise InvalidArgument(f"{where}: not valid base64") from None
    if kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}: expected a string")
        return value
    if kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise InvalidArgument(f"{where}: expected a boolean")
        return value
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"{where}: expected a number")
        return float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON has one number type: 2.0 is the integer 2 (as JSON Schema says)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{where}: expected an integer")
    return value


def _assign(message: Message, field: FieldDescriptor, value: Any, where: str) -> None:
    name = field.name
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise InvalidArgument(f"{where}: expected an object")
        target = getattr(message, name)
        value_field = message_type.fields_by_name["value"]
        for key, item in value.items():
            parsed = _parse_scalar(value_field, item, f"{where}.{key}")
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                from_json(parsed, target[key], where=f"{where}.{key}")
            else:
                target[key] = parsed
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise InvalidArgument(f"{where}: expected an array")
        target = getattr(message, name)
        for index, item in enumerate(value):
            parsed = _parse_scalar(field, item, f"{where}[{index}]")
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                from_json(parsed, target.add(), where=f"{where}[{index}]")
            else:
                target.append(parsed)
        return
    parsed = _parse_scalar(field, value, where)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        child = getattr(message, name)
        from_json(parsed, child, where=where)
        if _real_oneof(field):
            child.SetInParent()
    elif parsed != field.default_value or _real_oneof(field):
        # Writing a default would mark enclosing messages present for nothing.
        try:
            setattr(message, name, parsed)
        except ValueError as exc:  # out-of-range integers
            raise InvalidArgument(f"{where}: {exc}") from None


def from_json(data: Mapping[str, Any], message: M, *, where: str = "body") -> M:
    """Fill `message` from its JSON rendering and return it; unknown keys are ignored.

    Raises InvalidArgument naming the offending field when a value has the wrong type.
    """
    fields = cast(Descriptor, message.DESCRIPTOR).fields_by_name
    for key, value in data.items():
        field = fields.get(key)
        if field is not None:
            _assign(message, field, value, f"{where}.{key}")
    return message


# ---------------------------------------------------------------------------------------------
# Triton's JSON
# ---------------------------------------------------------------------------------------------

_INT64_TYPES = frozenset(
    (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    )
)


def _numbers(descriptor: Descriptor, document: dict[str, Any]) -> None:
    """Turn the 64-bit integers that the proto3 JSON mapping writes as strings into numbers."""
    for field in descriptor.fields:
        if field.name not in document:
            continue
        value = document[field.name]
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            value_field = message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.message_type is not None:
                    _numbers(value_field.message_type, item)
                elif value_field.type in _INT64_TYPES:
                    value[key] = int(item)
        elif message_type is not None:
            for item in value if field.is_repeated else (value,):
                _numbers(message_type, item)
        elif field.type in _INT64_TYPES:
            document[field.name] = [int(v) for v in value] if field.is_repeated else int(value)


def triton_json(message: Message) -> dict[str, Any]:
    """`message` as Triton's HTTP API writes it (see the module documentation)."""
    document: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    _numbers(cast(Descriptor, message.DESCRIPTOR), document)
    return document
