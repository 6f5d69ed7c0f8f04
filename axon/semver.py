"""Semantic versions (2.0.0) and version ranges.

A range is comparators joined by commas or spaces: ``>=1.2.0,<2.0.0``, ``^1.2.0`` (same major),
``~1.2.0`` (same minor), ``=1.2.3``, ``1.2.3`` or ``*``. Pre-releases only match a range that
names a pre-release of the same ``MAJOR.MINOR.PATCH``, as in npm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

from axon.errors import UsageError

__all__ = ["Range", "Version", "best_match"]

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_PARTIAL = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|==|=|\^|~)?\s*(\S+)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed semantic version; ordering follows semver precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``MAJOR.MINOR.PATCH[-pre][+build]``; raise :class:`UsageError` otherwise."""
        match = _SEMVER.match(text.strip())
        if not match:
            raise UsageError(f"{text!r} is not a semantic version (expected e.g. 1.2.3)")
        major, minor, patch, pre, build = match.groups()
        return cls(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (),
                   build or "")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text

    @property
    def core(self) -> tuple[int, int, int]:
        """``(major, minor, patch)`` without pre-release or build."""
        return (self.major, self.minor, self.patch)


def _lower_bound(text: str) -> tuple[Version, int]:
    """Parse a possibly partial version; return it and how many parts were given."""
    match = _PARTIAL.match(text)
    if not match:
        raise UsageError(f"{text!r} is not a version or version range")
    major, minor, patch, pre = match.groups()
    parts = 1 + (minor is not None) + (patch is not None)
    version = Version(int(major), int(minor or 0), int(patch or 0),
                      tuple(pre.split(".")) if pre else ())
    return version, parts


@dataclass(frozen=True)
class _Comparator:
    op: str
    version: Version

    def matches(self, v: Version) -> bool:
        ops = {
            ">=": v >= self.version, ">": v > self.version, "<=": v <= self.version,
            "<": v < self.version, "=": v == self.version,
        }
        return ops[self.op]


def _expand(op: str, text: str) -> list[_Comparator]:
    version, parts = _lower_bound(text)
    if op == "^":
        if version.major > 0 or parts == 1:
            upper = Version(version.major + 1, 0, 0, ("0",))
        elif version.minor > 0 or parts == 2:
            upper = Version(0, version.minor + 1, 0, ("0",))
        else:
            upper = Version(0, 0, version.patch + 1, ("0",))
        return [_Comparator(">=", version), _Comparator("<", upper)]
    if op == "~":
        upper = (Version(version.major + 1, 0, 0, ("0",)) if parts == 1
                 else Version(version.major, version.minor + 1, 0, ("0",)))
        return [_Comparator(">=", version), _Comparator("<", upper)]
    if op in ("=", "==", "") and parts < 3:
        upper = (Version(version.major + 1, 0, 0, ("0",)) if parts == 1
                 else Version(version.major, version.minor + 1, 0, ("0",)))
        return [_Comparator(">=", version), _Comparator("<", upper)]
    return [_Comparator("=" if op in ("", "==") else op, version)]


@dataclass(frozen=True)
class Range:
    """A set of comparators that must all hold."""

    text: str
    comparators: tuple[_Comparator, ...]

    @classmethod
    def parse(cls, text: str) -> Range:
        """Parse a range; ``*``, ``latest`` and the empty string match every stable version."""
        stripped = text.strip()
        if stripped in ("", "*", "latest"):
            return cls(stripped or "*", ())
        comparators: list[_Comparator] = []
        tokens = re.sub(r"(>=|<=|==|>|<|=|\^|~)\s+", r"\1", stripped).replace(",", " ").split()
        for token in tokens:
            match = _COMPARATOR.match(token)
            if not match:
                raise UsageError(f"{text!r} is not a version range")
            comparators.extend(_expand(match.group(1) or "", match.group(2)))
        return cls(stripped, tuple(comparators))

    def matches(self, version: Version) -> bool:
        """Whether ``version`` satisfies every comparator (pre-releases only when named)."""
        if version.prerelease and not any(
            c.version.prerelease and c.version.core == version.core for c in self.comparators
        ):
            return False
        return all(c.matches(version) for c in self.comparators)

    @property
    def is_exact(self) -> bool:
        """True when the range names exactly one version."""
        return len(self.comparators) == 1 and self.comparators[0].op == "="


def best_match(candidates: Iterable[str], wanted: str) -> str | None:
    """Highest of ``candidates`` (version strings) that satisfies ``wanted``, or None."""
    rng = Range.parse(wanted)
    parsed = []
    for text in candidates:
        try:
            parsed.append((Version.parse(text), text))
        except UsageError:
            continue
    matching = [(v, t) for v, t in parsed if rng.matches(v)]
    return max(matching)[1] if matching else None
