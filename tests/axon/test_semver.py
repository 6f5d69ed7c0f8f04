"""Semantic versions, ranges and references."""

from __future__ import annotations

import pytest

from axon.errors import UsageError
from axon.reference import ModelRef
from axon.semver import Range, Version, best_match

VERSIONS = ["0.9.0", "1.0.0", "1.2.0", "1.10.1", "2.0.0-rc.1", "2.0.0-rc.2"]


@pytest.mark.parametrize("spec,expected", [
    ("latest", "1.10.1"), ("*", "1.10.1"), ("^1.2", "1.10.1"), ("~1.2", "1.2.0"),
    ("1.0.0", "1.0.0"), ("=1.2.0", "1.2.0"), ("1", "1.10.1"), ("1.2", "1.2.0"),
    (">=1.0.0, <1.2.0", "1.0.0"), (">=2.0.0-rc.1", "2.0.0-rc.2"), ("^0.9", "0.9.0"),
    (">5", None),
])
def test_best_match(spec: str, expected: str | None) -> None:
    assert best_match(VERSIONS, spec) == expected


def test_ordering_follows_semver() -> None:
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    parsed = [Version.parse(v) for v in chain]
    assert parsed == sorted(reversed(parsed))
    assert Version.parse("1.0.0+build.1") == Version.parse("1.0.0")
    assert Range.parse("1.2.3").is_exact and not Range.parse("^1").is_exact


@pytest.mark.parametrize("bad", ["1.0", "01.0.0", "v1.0.0", "1.0.0-"])
def test_bad_versions(bad: str) -> None:
    with pytest.raises(UsageError):
        Version.parse(bad)


def test_references() -> None:
    assert ModelRef.parse("vision/resnet50") == ModelRef("vision", "resnet50", "latest")
    assert str(ModelRef.parse("vision/resnet50@^1.2")) == "vision/resnet50@^1.2"
    for bad in ("resnet50", "Vision/x", "a/b/c", "a/b@", "a/b@>=x"):
        with pytest.raises(UsageError):
            ModelRef.parse(bad)
