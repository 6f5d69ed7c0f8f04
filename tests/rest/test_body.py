"""Request bodies: malformed input is a 400 naming the problem, never a 500."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest

from mlos.errors import InvalidArgument
from mlos.rest.body import split_binary

INFER = {"inputs": [{"name": "in", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}


@pytest.mark.parametrize("path", ["/v1/plugins", "/v2/models/echo/infer"])
@pytest.mark.parametrize(
    "content",
    [b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"name": "onnx"', b"{nope}", b"[1, 2", b"\x00"],
)
async def test_bad_utf8_or_json_is_400(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    response = await client.post(
        path, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    detail = body["error"] if path.startswith("/v2") else body["detail"]
    assert "UTF-8" in detail or "JSON" in detail


async def test_bad_utf8_in_binary_header_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/models/echo/infer",
        content=b'{"inputs": "\xff"}\x00\x00',
        headers={"Inference-Header-Content-Length": "17"},
    )
    assert response.status_code == 400


async def test_missing_required_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"] == "request body is required"


async def test_null_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models", content=b"null", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_unsupported_media_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/plugins",
        content=b"name=onnx",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["code"] == "invalid_argument"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_bodies(client: httpx.AsyncClient, encoding: str) -> None:
    raw = json.dumps(INFER).encode()
    content = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    response = await client.post(
        "/v2/models/echo/infer",
        content=content,
        headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [1.0, 2.0]


async def test_corrupt_or_unknown_encoding_is_400(client: httpx.AsyncClient) -> None:
    for encoding in ("gzip", "br"):
        response = await client.post(
            "/v2/models/echo/infer",
            content=b"not compressed",
            headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
        )
        assert response.status_code == 400


def test_split_binary() -> None:
    head, tail = split_binary(b'{"a":1}xyz', b"7")
    assert (bytes(head), bytes(tail)) == (b'{"a":1}', b"xyz")
    head, tail = split_binary(b'{"a":1}', None)
    assert (bytes(head), bytes(tail)) == (b'{"a":1}', b"")
    for bad in (b"-1", b"99", b"seven"):
        with pytest.raises(InvalidArgument):
            split_binary(b'{"a":1}', bad)
