"""Finding installed plugins: entry points in the group `mlos.plugins`, like any Python extension.

Scanning every installed distribution's metadata takes milliseconds, so the result is cached;
a name that is not in the cache triggers a rescan, so a plugin installed with pip while the
server runs is found on its first registration.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

__all__ = ["ENTRY_POINT_GROUP", "find_entry_point", "installed_plugins"]

ENTRY_POINT_GROUP = "mlos.plugins"

_cache: dict[str, EntryPoint] | None = None


def installed_plugins(refresh: bool = False) -> dict[str, EntryPoint]:
    """Installed plugin entry points by name (never imports a plugin)."""
    global _cache
    if _cache is None or refresh:
        _cache = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return dict(_cache)


def find_entry_point(name: str) -> EntryPoint | None:
    """The entry point called `name`, rescanning once when it is not known yet."""
    found = installed_plugins().get(name)
    if found is None:
        found = installed_plugins(refresh=True).get(name)
    return found
