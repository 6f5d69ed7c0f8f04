"""SHA-256 digests of files and streams."""

from __future__ import annotations

import hashlib
import pathlib
import re
from typing import BinaryIO

__all__ = ["CHUNK", "check_hex", "sha256_file", "sha256_stream"]

CHUNK = 1 << 20
_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Hex digest and byte count of everything left in ``stream``."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def sha256_file(path: pathlib.Path) -> tuple[str, int]:
    """Hex digest and size of a file."""
    with path.open("rb") as handle:
        return sha256_stream(handle)


def check_hex(digest: str) -> str:
    """Return ``digest`` if it is 64 lower-case hex characters, else raise ``ValueError``."""
    if not _HEX.match(digest):
        raise ValueError(f"{digest!r} is not a sha256 hex digest")
    return digest
