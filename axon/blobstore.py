"""Content-addressed blob writing: temp file, hash while writing, check, rename into place."""

from __future__ import annotations

import hashlib
import os
import pathlib
from types import TracebackType

from axon.atomic_files import create_temp
from axon.errors import IntegrityError

__all__ = ["BlobWriter", "blob_path"]


def blob_path(root: pathlib.Path, digest: str) -> pathlib.Path:
    """``root/sha256/<hex>``."""
    return root / "sha256" / digest


class BlobWriter:
    """Write a blob of known digest (and optionally size) atomically.

    Bytes go to a temp file beside the destination and are hashed as they arrive; ``commit``
    checks size and digest and renames into place, anything else removes the temp file.
    """

    def __init__(self, root: pathlib.Path, digest: str, size: int | None = None,
                 max_size: int | None = None) -> None:
        self.dest = blob_path(root, digest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.digest, self.size, self.max_size = digest, size, max_size
        fd, self.tmp = create_temp(self.dest.parent, f".incoming-{digest}-")
        self._file = os.fdopen(fd, "wb")
        self._hasher = hashlib.sha256()
        self.written = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; fail early once the size passes what was declared."""
        self.written += len(chunk)
        limit = self.size if self.size is not None else self.max_size
        if limit is not None and self.written > limit:
            raise IntegrityError(f"blob sha256:{self.digest[:12]}… is larger than {limit} bytes")
        self._hasher.update(chunk)
        self._file.write(chunk)

    def commit(self) -> bool:
        """Verify and rename into place; return False if the blob was already there."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.size is not None and self.written != self.size:
            raise IntegrityError(f"blob sha256:{self.digest[:12]}… has {self.written} bytes, "
                                 f"expected {self.size}")
        actual = self._hasher.hexdigest()
        if actual != self.digest:
            raise IntegrityError(f"digest mismatch: expected sha256:{self.digest[:12]}…, "
                                 f"got sha256:{actual[:12]}…")
        existed = self.dest.exists()
        os.replace(self.tmp, self.dest)
        return not existed

    def abort(self) -> None:
        """Drop the temp file."""
        if not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()
