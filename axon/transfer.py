"""Resumable, verified blob downloads into the cache.

Bytes go to ``tmp/sha256-<hex>.partial``. A blob of at least ``parallel_min_bytes`` is fetched
over ``connections`` parallel byte ranges (:mod:`axon.ranged`) and hashed once complete; a
smaller one, one whose download began as a single stream, or one from a source that ignores
ranges comes in one stream whose digest is computed while it arrives (seeded with what a
previous attempt left). A short read leaves the partial file for the next attempt, which asks
for the rest with an HTTP Range request. Only a blob with the right size and digest is
renamed to ``blobs/sha256/<hex>``. The caller holds the blob's lock (``blob-<hex>``), which
serialises concurrent downloads of one blob and keeps gc away from the partial file.
"""

from __future__ import annotations

import hashlib
import os

from axon.cache import Cache
from axon.digest import CHUNK, sha256_file
from axon.errors import IntegrityError, RegistryError
from axon.progress import Progress
from axon.ranged import MIN_SEGMENT, RangesUnsupported, fetch_ranges, state_path
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


def _parallel(client: RegistryClient, cache: Cache, digest: str, size: int,
              progress: Progress | None, attempts: int, connections: int,
              min_segment: int) -> bool:
    """Download over parallel ranges; False when the source turned out not to support them."""
    partial = cache.partial(digest)
    try:
        fetch_ranges(client, partial, digest, size, connections, progress, attempts,
                     min_segment)
    except RangesUnsupported:
        return False
    actual, length = sha256_file(partial)
    if (actual, length) != (digest, size):
        partial.unlink(missing_ok=True)
        state_path(partial).unlink(missing_ok=True)
        raise IntegrityError(f"digest mismatch for sha256:{digest[:12]}… (got {actual[:12]}…); "
                             "nothing installed")
    target = cache.blob(digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    state_path(partial).unlink(missing_ok=True)
    return True


def fetch_blob(client: RegistryClient, cache: Cache, digest: str, size: int,
               progress: Progress | None = None, attempts: int = ATTEMPTS,
               connections: int = 1, parallel_min_bytes: int = 0) -> None:
    """Make sure ``blobs/sha256/<digest>`` is in the cache, downloading and resuming as needed.

    Retries an interrupted transfer up to ``attempts`` times (per range when parallel), each
    resuming where the last one stopped; a digest or size mismatch is not retried. With
    ``connections`` > 1, a blob of at least ``parallel_min_bytes`` comes in parallel ranges.
    The caller holds ``blob-<digest>``.
    """
    if cache.blob(digest).is_file():
        if progress:
            progress(size, size)
        return
    partial = cache.partial(digest)
    single_started = partial.exists() and not state_path(partial).exists()
    if connections > 1 and size >= max(parallel_min_bytes, 1) and not single_started and \
            _parallel(client, cache, digest, size, progress, attempts, connections,
                      min(MIN_SEGMENT, max(parallel_min_bytes // connections, 64 << 10))):
        return
    state_path(partial).unlink(missing_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            _attempt(client, cache, digest, size, progress)
            return
        except RegistryError:
            if attempt == attempts:
                raise
