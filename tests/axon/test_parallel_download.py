"""Parallel ranged downloads: correct bytes, resumed ranges, one progress, fallback."""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import re

import pytest

from axon.cache import Cache
from axon.config import Config
from axon.errors import RegistryError
from axon.installer import Installer
from axon.ranged import plan_segments
from axon.registry_store import RegistryStore
from tests.axon.static_server import static_server
from tests.axon.test_package import hostile

SIZE = 3 << 20


@pytest.fixture
def big(tmp_path: pathlib.Path, file_registry: pathlib.Path,
        monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """A 3 MiB incompressible package published to the file registry: (digest, size)."""
    payload = os.urandom(SIZE)
    archive = hostile(tmp_path / "big.axon", [("model.onnx", payload)],
                      {"model.onnx": payload})
    _, digest, _ = RegistryStore(file_registry).publish_package(archive)
    monkeypatch.setenv("AXON_PARALLEL_MIN_BYTES", str(256 << 10))
    monkeypatch.setenv("AXON_CONNECTIONS", "4")
    return digest, archive.stat().st_size


def installer(url: str, **kwargs: object) -> Installer:
    config = Config()
    config.add_registry("r", url)
    return Installer(config, "r", **kwargs)  # type: ignore[arg-type]


def spans(ranges: list[str | None]) -> list[tuple[int, int]]:
    found = []
    for header in ranges:
        assert header is not None
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", header)
        assert match, header
        found.append((int(match.group(1)), int(match.group(2))))
    return sorted(found)


def test_segments_cover_the_blob_exactly() -> None:
    for size in (1, 1000, 8 << 20, (200 << 20) + 7):
        segments = plan_segments(size, 4, 1 << 20)
        assert segments[0].start == 0 and segments[-1].end == size
        assert all(a.end == b.start for a, b in itertools.pairwise(segments))
        assert len(segments) <= 16


def test_a_large_package_comes_in_parallel_ranges(file_registry: pathlib.Path,
                                                  big: tuple[str, int]) -> None:
    _digest, size = big
    seen: list[tuple[int, int]] = []
    with static_server(file_registry) as (url, behaviour):
        result = installer(url, progress=lambda d, t: seen.append((d, t))).install("evil/pkg")
    assert result.installed
    covered = spans(behaviour.ranges)
    assert len(covered) == 16 and covered[0][0] == 0 and covered[-1][1] == size - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))
    assert seen[-1][0] == seen[-1][1] == size + SIZE  # download, then unpack, one report
    assert all(d1 <= d2 for (d1, _), (d2, _) in itertools.pairwise(seen))
    cache = Cache(Config().cache_dir)
    assert cache.verify()[1] == [] and not list((cache.root / "tmp").iterdir())


def test_cut_ranges_resume_where_they_stopped(file_registry: pathlib.Path,
                                              big: tuple[str, int]) -> None:
    with static_server(file_registry) as (url, behaviour):
        behaviour.cut_next, behaviour.cut_at = 3, 10_000
        assert installer(url).install("evil/pkg").installed
    covered = spans(behaviour.ranges)
    planned = {s.start for s in plan_segments(big[1], 4, 64 << 10)}
    resumed = [start for start, _ in covered if start not in planned]
    assert len(covered) == 16 + 3 and len(resumed) == 3
    # Each resumes after what arrived before its cuts (10,000 bytes a cut, three cuts in all).
    assert all(any(0 < start - p <= 30_000 for p in planned) for start in resumed), \
        (sorted(planned), covered)


def test_a_new_process_asks_only_for_what_is_missing(file_registry: pathlib.Path,
                                                     big: tuple[str, int]) -> None:
    digest, size = big
    cache = Cache(Config().cache_dir)
    with static_server(file_registry) as (url, behaviour):
        victim = plan_segments(size, 4, 64 << 10)[5].start
        behaviour.cut_start, behaviour.cut_at = victim, 0  # this segment fails every time
        with pytest.raises(RegistryError, match="run the command again to resume"):
            installer(url).install("evil/pkg")
        state = json.loads((cache.root / "tmp" / f"sha256-{digest}.partial.ranges").read_text())
        complete = {s for s, e, d in state["segments"] if d == e - s}
        assert 0 < len(complete) < 16
        behaviour.ranges.clear()
        behaviour.cut_start = None
        assert installer(url).install("evil/pkg").installed
    again = spans(behaviour.ranges)
    assert not {start for start, _ in again} & complete
    assert cache.verify()[1] == []


def test_a_server_without_ranges_gets_one_stream(file_registry: pathlib.Path,
                                                 big: tuple[str, int]) -> None:
    with static_server(file_registry) as (url, behaviour):
        behaviour.ignore_ranges = True
        assert installer(url).install("evil/pkg").installed
    assert behaviour.ranges[-1] is None
    assert Cache(Config().cache_dir).verify()[1] == []
