"""YAML for Axon's own files, without aliases.

Manifests, lock files and token files are plain data: nothing in them needs an anchor's alias,
and aliases are what make a kilobyte of YAML expand to gigabytes ("billion laughs"). The
:class:`StrictLoader` is PyYAML's safe loader that refuses every alias the moment the parser
meets it, before anything is built, with the position of the alias.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

__all__ = ["StrictLoader", "load"]


class StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases (``*name``) and merge keys built from them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose as usual, but fail at the first alias event."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(None, None, "YAML aliases (*name) are not allowed in Axon files",
                                event.start_mark)
        return super().compose_node(parent, index)


def load(text: str | bytes) -> Any:
    """Parse one YAML document with :class:`StrictLoader`; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=StrictLoader)
