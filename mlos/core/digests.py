"""Checking a model's files against their declared sizes and sha256 before a plugin loads them.

A registration may list the files of the model version (an Axon manifest's `files`) with the
size and digest each must have. The core checks every one — present, a regular file inside the
model's directory, exactly that many bytes, that sha256 — before the plugin is asked to load
anything, so a corrupted or tampered file is refused with the file's name, not served.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from mlos.errors import InvalidArgument
from mlos_generated import smi_pb2

__all__ = ["check_files", "files_root"]

_HEX = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def files_root(path: Path, root: str) -> Path:
    """The directory file paths are relative to: `root`, else `path` or its parent."""
    if root:
        base = Path(root)
        if not base.is_absolute():
            raise InvalidArgument(f"files_root {root!r} must be an absolute path")
        return base.resolve()
    return path if path.is_dir() else path.parent


def _target(base: Path, name: str) -> Path:
    relative = PurePosixPath(name)
    if not name or relative.is_absolute() or ".." in relative.parts or "\\" in name:
        raise InvalidArgument(f"model file path {name!r} must be relative, without '..'")
    target = (base / relative).resolve()
    if base != target and base not in target.parents:
        raise InvalidArgument(f"model file {name!r} is outside {base}")
    return target


def _digest(target: Path, limit: int) -> tuple[str, int]:
    """sha256 and size of `target`, reading at most `limit` + 1 bytes."""
    hasher = hashlib.sha256()
    size = 0
    with target.open("rb") as handle:
        while size <= limit and (chunk := handle.read(min(_CHUNK, limit + 1 - size))):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def check_files(path: Path, files: Sequence[smi_pb2.ModelFile], root: str = "") -> None:
    """Raise InvalidArgument naming the first file that is missing, or of another size or
    sha256 than declared. Blocking: call it off the event loop."""
    base = files_root(path, root)
    for item in files:
        if not _HEX.match(item.sha256):
            raise InvalidArgument(f"model file {item.path!r}: sha256 must be 64 lower-case hex "
                                  "characters")
        target = _target(base, item.path)
        if not target.is_file():
            raise InvalidArgument(f"model file {item.path!r} is missing from {base}")
        digest, size = _digest(target, item.size)
        if size != item.size:
            raise InvalidArgument(f"model file {item.path!r} does not have its declared size "
                                  f"({item.size} bytes); refusing to load it")
        if digest != item.sha256:
            raise InvalidArgument(f"model file {item.path!r} does not match its declared "
                                  f"sha256 ({item.sha256[:12]}…, file has {digest[:12]}…); "
                                  "refusing to load it")
