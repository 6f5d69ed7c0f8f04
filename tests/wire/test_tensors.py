"""Raw tensor contents, BYTES serialization and JSON data."""

from __future__ import annotations

import numpy as np
import pytest

from mlos.errors import InvalidArgument
from mlos.wire import tensors


@pytest.mark.parametrize("datatype", [d for d in tensors.DATATYPES if d not in ("BYTES", "BF16")])
def test_numpy_round_trip_for_every_fixed_size_datatype(datatype: str) -> None:
    array = (np.arange(6) % 2).astype(tensors.numpy_dtype(datatype)).reshape(2, 3)
    tensor = tensors.from_numpy("t", array)
    assert tensor.datatype == datatype
    assert len(tensor.contents) == tensors.byte_size(datatype, [2, 3])
    np.testing.assert_array_equal(tensors.to_numpy(tensor), array)


def test_bytes_tensors_are_length_prefixed() -> None:
    array = np.array([b"ab", "é", b""], dtype=object)
    tensor = tensors.from_numpy("s", array)
    assert tensor.datatype == "BYTES"
    assert tensor.contents == b"\x02\x00\x00\x00ab\x02\x00\x00\x00\xc3\xa9\x00\x00\x00\x00"
    assert list(tensors.to_numpy(tensor)) == [b"ab", "é".encode(), b""]


@pytest.mark.parametrize("raw", [b"\x01\x00", b"\x05\x00\x00\x00abc"])
def test_truncated_bytes_contents_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidArgument):
        tensors.decode_bytes(raw)


def test_json_data_round_trip_and_errors() -> None:
    raw = tensors.from_json_data("INT32", [2, 2], [[1, 2], [3, 4]])
    assert tensors.to_json_data("INT32", raw) == [1, 2, 3, 4]
    assert tensors.to_json_data("BYTES", tensors.from_json_data("BYTES", [2], ["a", "bc"])) == ["a", "bc"]
    with pytest.raises(InvalidArgument, match="needs 4"):
        tensors.from_json_data("FP32", [2, 2], [1.0, 2.0])
    with pytest.raises(InvalidArgument, match="not valid INT8"):
        tensors.from_json_data("INT8", [1], ["x"])
    with pytest.raises(InvalidArgument, match="unknown datatype"):
        tensors.from_json_data("FP8", [1], [1])


def test_bf16_rounds_from_float32() -> None:
    raw = tensors.from_json_data("BF16", [3], [1.0, -2.5, 3.140625])
    assert tensors.to_json_data("BF16", raw) == [1.0, -2.5, 3.140625]
