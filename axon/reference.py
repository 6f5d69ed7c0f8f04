"""Model references: ``namespace/name[@version-or-range]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from axon.errors import UsageError
from axon.semver import Range

__all__ = ["ModelRef"]

_IDENT = r"[a-z0-9][a-z0-9._-]{0,63}"
_REF = re.compile(rf"^({_IDENT})/({_IDENT})(?:@(.+))?$")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference; ``spec`` is an exact version, a range, or ``latest``."""

    namespace: str
    name: str
    spec: str = "latest"

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``ns/name[@spec]``; raise :class:`UsageError` with the expected form."""
        match = _REF.match(text.strip())
        if not match:
            raise UsageError(
                f"{text!r} is not a model reference; expected namespace/name[@version], "
                "e.g. vision/resnet50@1.0.0"
            )
        namespace, name, spec = match.groups()
        spec = spec or "latest"
        Range.parse(spec)
        return cls(namespace, name, spec)

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.key}@{self.spec}"
