"""The top-level facts of an ONNX file (IR version, producer, opsets), read without parsing it.

onnxruntime reports the producer name and the graph but not the opsets or the IR version, and
parsing a whole `ModelProto` would copy every weight. `read_header` walks the protobuf wire
format of the file's top-level fields instead and seeks past the graph, so it reads a few
hundred bytes of a model of any size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

__all__ = ["ModelHeader", "read_header"]

# ModelProto field numbers (onnx/onnx.proto).
_IR_VERSION = 1
_PRODUCER_NAME = 2
_PRODUCER_VERSION = 3
_DOMAIN = 4
_MODEL_VERSION = 5
_OPSET_IMPORT = 8

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_SMALL_FIELD = 1 << 16  # longer strings are skipped rather than read


@dataclass(frozen=True, slots=True)
class ModelHeader:
    """What an ONNX file says about itself at the top level."""

    ir_version: int = 0
    producer_name: str = ""
    producer_version: str = ""
    domain: str = ""
    model_version: int = 0
    #: Operator set version by domain ("" is the default ai.onnx domain).
    opsets: dict[str, int] = field(default_factory=dict)


class _Truncated(Exception):
    pass


def _varint(stream: BinaryIO, *, at_end: int | None = None) -> int:
    """Read one varint; at the end of the stream return `at_end`, or raise if it is None."""
    result = shift = 0
    while True:
        byte = stream.read(1)
        if not byte:
            if shift == 0 and at_end is not None:
                return at_end
            raise _Truncated
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise _Truncated


def _varints(data: bytes) -> dict[int, int | bytes]:
    """Fields of a small embedded message (OperatorSetIdProto): number → last value."""
    stream = BytesIO(data)
    fields: dict[int, int | bytes] = {}
    while stream.tell() < len(data):
        key = _varint(stream)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            fields[number] = _varint(stream)
        elif wire == _LENGTH_DELIMITED:
            fields[number] = stream.read(_varint(stream))
        else:
            raise _Truncated
    return fields


def _opset(data: bytes) -> tuple[str, int]:
    fields = _varints(data)
    domain = fields.get(1, b"")
    version = fields.get(2, 0)
    return (
        domain.decode("utf-8", "replace") if isinstance(domain, bytes) else "",
        version if isinstance(version, int) else 0,
    )


def read_header(path: Path) -> ModelHeader:
    """Read the top-level fields of the ONNX file at `path`; empty on anything unexpected.

    Call it after onnxruntime has accepted the file: it tells nothing about validity.
    """
    values: dict[int, int | str] = {}
    opsets: dict[str, int] = {}
    try:
        with open(path, "rb") as stream:
            while (key := _varint(stream, at_end=-1)) >= 0:
                number, wire = key >> 3, key & 7
                if wire == _VARINT:
                    values[number] = _varint(stream)
                elif wire == _LENGTH_DELIMITED:
                    length = _varint(stream)
                    if number == _OPSET_IMPORT and length < _SMALL_FIELD:
                        domain, version = _opset(stream.read(length))
                        opsets[domain] = version
                    elif number in (_PRODUCER_NAME, _PRODUCER_VERSION, _DOMAIN) and (
                        length < _SMALL_FIELD
                    ):
                        values[number] = stream.read(length).decode("utf-8", "replace")
                    else:
                        stream.seek(length, 1)
                elif wire == _FIXED64:
                    stream.seek(8, 1)
                elif wire == _FIXED32:
                    stream.seek(4, 1)
                else:
                    break
    except (OSError, _Truncated):
        return ModelHeader()

    return ModelHeader(
        ir_version=_int(values, _IR_VERSION),
        producer_name=_text(values, _PRODUCER_NAME),
        producer_version=_text(values, _PRODUCER_VERSION),
        domain=_text(values, _DOMAIN),
        model_version=_int(values, _MODEL_VERSION),
        opsets=opsets,
    )


def _int(values: dict[int, int | str], key: int) -> int:
    value = values.get(key, 0)
    return value if isinstance(value, int) else 0


def _text(values: dict[int, int | str], key: int) -> str:
    value = values.get(key, "")
    return value if isinstance(value, str) else ""
