"""Resumable, verified blob downloads into the cache.

Bytes go to ``tmp/sha256-<hex>.partial``; the digest is computed while they stream (seeded with
what a previous attempt left); a short read leaves the partial file for the next attempt, which
asks for the rest with an HTTP Range request. Only a blob with the right size and digest is
renamed to ``blobs/sha256/<hex>``. The caller holds the blob's lock (``blob-<hex>``), which
serialises concurrent downloads of one blob and keeps gc away from the partial file.
"""

from __future__ import annotations

import hashlib
import os

from axon.cache import Cache
from axon.digest import CHUNK
from axon.errors import IntegrityError, RegistryError
from axon.progress import Progress
from axon.registry_client import RegistryClient

__all__ = ["ATTEMPTS", "fetch_blob"]

ATTEMPTS = 3


def _attempt(client: RegistryClient, cache: Cache, digest: str, size: int,
             progress: Progress | None) -> None:
    partial = cache.partial(digest)
    hasher = hashlib.sha256()
    offset = partial.stat().st_size if partial.exists() else 0
    if offset > size:
        partial.unlink()
        offset = 0
    if offset:
        with partial.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
    stream = client.open_blob(digest, offset)
    try:
        mode = "ab"
        if stream.offset != offset:
            hasher, offset, mode = hashlib.sha256(), 0, "wb"
        done = offset
        if progress:
            progress(done, size)
        cause: RegistryError | None = None
        with partial.open(mode) as out:
            try:
                for chunk in stream.chunks:
                    if done + len(chunk) > size:
                        out.close()
                        partial.unlink()
                        raise IntegrityError(
                            f"blob sha256:{digest[:12]}… is larger than the {size} bytes the "
                            "registry declared; nothing installed")
                    done += len(chunk)
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(done, size)
            except RegistryError as exc:
                cause = exc
            out.flush()
            os.fsync(out.fileno())
    finally:
        stream.close()
    if done < size:
        raise RegistryError(f"download of sha256:{digest[:12]}… stopped at {done} of {size} "
                            "bytes; run the command again to resume") from cause
    if hasher.hexdigest() != digest:
        partial.unlink()
        raise IntegrityError(f"digest mismatch for sha256:{digest[:12]}… (got "
                             f"{hasher.hexdigest()[:12]}…); nothing installed")
    target = cache.blob(digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)


def fetch_blob(client: RegistryClient, cache: Cache, digest: str, size: int,
               progress: Progress | None = None, attempts: int = ATTEMPTS) -> None:
    """Make sure ``blobs/sha256/<digest>`` is in the cache, downloading and resuming as needed.

    Retries an interrupted transfer up to ``attempts`` times, each resuming where the last one
    stopped; a digest or size mismatch is not retried. The caller holds ``blob-<digest>``.
    """
    if cache.blob(digest).is_file():
        if progress:
            progress(size, size)
        return
    for attempt in range(1, attempts + 1):
        try:
            _attempt(client, cache, digest, size, progress)
            return
        except RegistryError:
            if attempt == attempts:
                raise
