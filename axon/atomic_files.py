"""Temp files and atomic writes that honour the user's umask.

``tempfile.mkstemp`` and ``mkdtemp`` create owner-only files (0600) and directories (0700);
renamed into place, those would keep a web server running as another user from serving a
registry, or an MLOS server from reading the cache. Files here are created with mode 0666 and
directories with 0777, both filtered by the umask, like any file a program writes with
``open()``. Owner-only files (configuration with tokens, private keys) ask for ``private``.
"""

from __future__ import annotations

import os
import pathlib
import secrets

__all__ = ["create_temp", "make_temp_dir", "write_atomic"]

_ATTEMPTS = 100


def create_temp(directory: pathlib.Path, prefix: str, suffix: str = "",
                private: bool = False) -> tuple[int, pathlib.Path]:
    """A new, empty file in ``directory`` opened for writing: ``(fd, path)``."""
    mode = 0o600 if private else 0o666
    for _ in range(_ATTEMPTS):
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        except FileExistsError:
            continue
        return fd, path
    raise FileExistsError(f"no free temporary name in {directory}")


def make_temp_dir(directory: pathlib.Path, prefix: str) -> pathlib.Path:
    """A new, empty directory in ``directory``."""
    for _ in range(_ATTEMPTS):
        path = directory / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir(0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name in {directory}")


def write_atomic(path: pathlib.Path, data: bytes, private: bool = False) -> None:
    """Write ``data`` to ``path`` through a synced temp file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp(path.parent, ".tmp-", private=private)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
