"""Parallel ranged download of one large blob.

The blob is cut into segments (about four per connection, none smaller than a minimum);
``connections`` threads take segments from a queue and fetch each with
``Range: bytes=START-END``, writing at its offset in ``tmp/sha256-<hex>.partial``, which is
sized to the blob first. What each segment has received is kept in
``tmp/sha256-<hex>.partial.ranges`` (JSON, saved as segments complete and every 16 MiB), so an
interrupted download — a dropped connection, a killed process — asks only for what is missing
next time. A source that answers a range with the whole blob raises :class:`RangesUnsupported`
and the caller downloads in one stream instead. Nothing here checks the digest: the caller
hashes the finished file before it is renamed into the cache.
"""

from __future__ import annotations

import json
import os
import pathlib
import queue
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from axon.atomic_files import write_atomic
from axon.errors import IntegrityError, RegistryError
from axon.progress import Progress
from axon.registry_client import RegistryClient

__all__ = ["MIN_SEGMENT", "RangesUnsupported", "Segment", "fetch_ranges", "plan_segments",
           "state_path"]

MIN_SEGMENT = 8 << 20
_SAVE_EVERY = 16 << 20


class RangesUnsupported(Exception):
    """The source ignored a byte range (answered with the whole blob)."""


@dataclass
class Segment:
    """Bytes ``start`` to ``end`` (exclusive) of the blob; ``done`` of them received."""

    start: int
    end: int
    done: int = 0

    @property
    def position(self) -> int:
        """Next byte to ask for."""
        return self.start + self.done


def plan_segments(size: int, connections: int, min_segment: int = MIN_SEGMENT) -> list[Segment]:
    """About four segments per connection, none smaller than ``min_segment`` (but one)."""
    count = max(1, min(connections * 4, size // max(min_segment, 1)))
    step = -(-size // count)
    return [Segment(start, min(start + step, size)) for start in range(0, size, step)]


def state_path(partial: pathlib.Path) -> pathlib.Path:
    """Where the segment state of a ranged partial download is kept."""
    return partial.with_name(partial.name + ".ranges")


def _load(partial: pathlib.Path, size: int, connections: int,
          min_segment: int) -> list[Segment]:
    """Segments to resume from, or a fresh plan (and an empty partial file of ``size``)."""
    state = state_path(partial)
    try:
        data = json.loads(state.read_text("utf-8"))
        if data["size"] == size and partial.stat().st_size == size:
            segments = [Segment(int(s), int(e), int(d)) for s, e, d in data["segments"]]
            if all(0 <= seg.done <= seg.end - seg.start for seg in segments):
                return segments
    except (OSError, ValueError, KeyError, TypeError):
        pass
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    return plan_segments(size, connections, min_segment)


class _Download:
    """Shared state of one ranged download across its worker threads."""

    def __init__(self, client: RegistryClient, partial: pathlib.Path, digest: str, size: int,
                 segments: list[Segment], progress: Progress | None, attempts: int) -> None:
        self.client, self.partial, self.digest, self.size = client, partial, digest, size
        self.segments, self.progress, self.attempts = segments, progress, attempts
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pending: queue.SimpleQueue[Segment] = queue.SimpleQueue()
        for segment in segments:
            if segment.position < segment.end:
                self.pending.put(segment)
        self.done = sum(s.done for s in segments)
        self.unsaved = 0

    def save(self) -> None:
        """Write the segment state (caller holds the lock)."""
        body = {"size": self.size, "segments": [[s.start, s.end, s.done] for s in self.segments]}
        write_atomic(state_path(self.partial), json.dumps(body).encode())
        self.unsaved = 0

    def received(self, segment: Segment, count: int) -> None:
        with self.lock:
            segment.done += count
            self.done += count
            self.unsaved += count
            if self.unsaved >= _SAVE_EVERY or segment.position == segment.end:
                self.save()
            if self.progress is not None:
                self.progress(self.done, self.size)

    def fetch(self, fd: int, segment: Segment) -> None:
        """One try at the rest of ``segment``."""
        stream = self.client.open_blob(self.digest, segment.position, segment.end - 1)
        try:
            if not stream.ranged or stream.offset != segment.position:
                raise RangesUnsupported(self.client.display)
            for chunk in stream.chunks:
                if self.stop.is_set():
                    return
                room = segment.end - segment.position
                os.pwrite(fd, chunk[:room], segment.position)
                self.received(segment, min(len(chunk), room))
                if len(chunk) >= room:
                    return
        finally:
            stream.close()

    def worker(self, fd: int) -> None:
        while not self.stop.is_set():
            try:
                segment = self.pending.get_nowait()
            except queue.Empty:
                return
            for attempt in range(1, self.attempts + 1):
                try:
                    self.fetch(fd, segment)
                except RegistryError:
                    if attempt == self.attempts:
                        raise
                    continue
                if segment.position >= segment.end or self.stop.is_set():
                    break
            else:
                raise RegistryError(f"range {segment.start}-{segment.end - 1} of "
                                    f"sha256:{self.digest[:12]}… stopped short")


def fetch_ranges(client: RegistryClient, partial: pathlib.Path, digest: str, size: int,
                 connections: int, progress: Progress | None = None, attempts: int = 3,
                 min_segment: int = MIN_SEGMENT) -> None:
    """Fill ``partial`` with the blob's ``size`` bytes over ``connections`` parallel ranges.

    Raises :class:`RangesUnsupported` (partial files removed) when the source ignores ranges,
    and :class:`~axon.errors.RegistryError` when a segment fails ``attempts`` times in a row
    (what arrived is kept for the next try).
    """
    segments = _load(partial, size, connections, min_segment)
    download = _Download(client, partial, digest, size, segments, progress, attempts)
    if progress is not None:
        progress(download.done, size)
    fd = os.open(partial, os.O_WRONLY)
    try:
        with ThreadPoolExecutor(max_workers=connections) as pool:
            futures = [pool.submit(download.worker, fd) for _ in range(connections)]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in finished):
                download.stop.set()
            wait(futures)
        errors = [e for f in futures if (e := f.exception()) is not None]
        os.fsync(fd)
    finally:
        os.close(fd)
        with download.lock:
            download.save()
    if any(isinstance(e, RangesUnsupported) for e in errors):
        partial.unlink(missing_ok=True)
        state_path(partial).unlink(missing_ok=True)
        raise RangesUnsupported(client.display)
    if errors:
        first = errors[0]
        if isinstance(first, IntegrityError | RegistryError):
            raise RegistryError(f"download of sha256:{digest[:12]}… stopped at "
                                f"{download.done} of {size} bytes; run the command again to "
                                "resume") from first
        raise first
