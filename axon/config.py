"""Axon configuration: ``$AXON_HOME/config.yaml`` plus ``AXON_*`` environment overrides.

``AXON_HOME`` (default ``~/.axon``) holds the config file and, unless ``cache_dir`` says
otherwise, the cache. Every scalar key can be overridden by ``AXON_<KEY>`` in the environment;
environment beats file beats default. Registries live under ``registries:`` and are managed by
``axon registry add/remove/set-default``; their tokens may come from the file or from
``AXON_TOKEN`` / ``AXON_REGISTRY_TOKEN_<NAME>`` and are never printed.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from axon import strict_yaml
from axon.atomic_files import write_atomic
from axon.errors import ConfigError, NotFoundError, UsageError
from mlos import config as settings

__all__ = ["KEYS", "Config", "Key", "RegistryEntry", "axon_home", "redact_url"]


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def _parse_positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def _parse_positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


class Key(settings.Key):
    """One documented configuration key (the MLOS server's kind, with its own variables)."""

    env_prefix = "AXON_"


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("cache_dir", str, None, "Cache directory (default $AXON_HOME/cache)."),
        Key("default_registry", str, None,
            "Registry used when none is named: a configured name or a URL."),
        Key("offline", _parse_bool, False, "Use the cache only; never contact a registry."),
        Key("progress", _parse_bool, True, "Show progress bars on downloads (on a terminal)."),
        Key("timeout", _parse_positive_float, 30.0, "Registry connect/read timeout in seconds."),
        Key("max_extract_bytes", _parse_positive_int, 64 * 2**30,
            "Largest total size a package may expand to."),
        Key("mlos_server", str, "http://127.0.0.1:8080",
            "MLOS server that `axon deploy` and `axon run` talk to."),
        Key("require_signatures", _parse_bool, False,
            "Refuse packages no trusted key signed (see `axon key`)."),
        Key("signing_key", str, None,
            "Key `axon publish --sign` and `axon pack --sign` use when none is named."),
        Key("jobs", _parse_positive_int, 4, "Packages `axon install` downloads at once."),
        Key("connections", _parse_positive_int, 4,
            "Parallel HTTP ranges for one large package; 1 downloads in one stream."),
        Key("parallel_min_bytes", _parse_positive_int, 16 * 2**20,
            "Packages at least this large download in parallel ranges."),
        Key("tmp_grace", _parse_non_negative_float, 86400.0,
            "Seconds a partial download is kept for resuming before gc or an install removes "
            "it."),
    )
}


def axon_home(env: Mapping[str, str] | None = None) -> pathlib.Path:
    """``$AXON_HOME`` or ``~/.axon``."""
    env = os.environ if env is None else env
    return pathlib.Path(env.get("AXON_HOME") or pathlib.Path.home() / ".axon").expanduser()


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` part replaced by ``***@``."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit(parts._replace(netloc="***@" + host))
    return url


@dataclass(frozen=True)
class RegistryEntry:
    """A configured registry: a base URL (``http(s)://`` or ``file://``), mirrors, a token."""

    name: str
    url: str
    mirrors: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        """Printable form: URLs redacted, the token reduced to whether there is one."""
        return {
            "name": self.name,
            "url": redact_url(self.url),
            "mirrors": [redact_url(m) for m in self.mirrors],
            "token": self.token is not None,
        }


class Config:
    """Effective configuration; ``set``/``unset`` and registry edits write the file atomically."""

    def __init__(self, home: pathlib.Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.home = home or axon_home(self.env)
        self.path = self.home / "config.yaml"
        self._data = self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = strict_yaml.load(self.path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{self.path}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path}: expected a mapping at the top level")
        return data

    def _write(self) -> None:
        # Owner-only: the file may hold registry tokens.
        write_atomic(self.path, yaml.safe_dump(self._data, sort_keys=True).encode(),
                     private=True)

    # -- scalar keys -----------------------------------------------------------------------

    def _key(self, name: str) -> Key:
        if name not in KEYS:
            raise UsageError(f"unknown config key {name!r}; known keys: {', '.join(KEYS)}")
        return KEYS[name]

    def source(self, name: str) -> str:
        """Where the effective value comes from: ``env``, ``file`` or ``default``."""
        key = self._key(name)
        if key.env in self.env:
            return "env"
        return "file" if name in self._data else "default"

    def get(self, name: str) -> Any:
        """Effective value of a key (environment, then file, then default)."""
        key = self._key(name)
        raw: Any
        if key.env in self.env:
            raw, origin = self.env[key.env], key.env
        elif name in self._data:
            raw, origin = self._data[name], str(self.path)
        else:
            return key.default
        try:
            return key.parse(str(raw)) if not isinstance(raw, bool) else raw
        except ValueError as exc:
            raise ConfigError(f"{origin}: bad value for {name}: {exc}") from exc

    def set(self, name: str, value: str) -> None:
        """Validate and store a key in the config file."""
        key = self._key(name)
        try:
            parsed = key.parse(value)
        except ValueError as exc:
            raise UsageError(f"bad value for {name}: {exc}") from exc
        self._data[name] = parsed
        self._write()

    def unset(self, name: str) -> None:
        """Remove a key from the file (its default applies again)."""
        self._key(name)
        self._data.pop(name, None)
        self._write()

    def items(self) -> list[tuple[str, Any, str]]:
        """``(key, effective value, source)`` for every key."""
        return [(name, self.get(name), self.source(name)) for name in KEYS]

    @property
    def cache_dir(self) -> pathlib.Path:
        """Cache root."""
        value = self.get("cache_dir")
        return pathlib.Path(value).expanduser() if value else self.home / "cache"

    # -- registries ------------------------------------------------------------------------

    def _registries(self) -> dict[str, Any]:
        regs = self._data.get("registries") or {}
        if not isinstance(regs, dict):
            raise ConfigError(f"{self.path}: 'registries' must be a mapping")
        return regs

    def _entry(self, name: str, raw: Any) -> RegistryEntry:
        if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
            raise ConfigError(f"{self.path}: registry {name!r} needs a 'url'")
        env_name = "AXON_REGISTRY_TOKEN_" + name.upper().replace("-", "_").replace(".", "_")
        token = self.env.get(env_name) or raw.get("token") or self.env.get("AXON_TOKEN")
        return RegistryEntry(name, raw["url"].rstrip("/"), tuple(raw.get("mirrors") or ()),
                             token or None)

    def registries(self) -> list[RegistryEntry]:
        """Configured registries, sorted by name."""
        return [self._entry(n, r) for n, r in sorted(self._registries().items())]

    def registry(self, name_or_url: str | None = None) -> RegistryEntry:
        """A registry by name or URL; the default registry when none is given."""
        wanted = name_or_url or self.get("default_registry")
        if not wanted:
            names = list(self._registries())
            if len(names) == 1:
                wanted = names[0]
            else:
                raise UsageError("no registry configured; run `axon registry add NAME URL` "
                                 "or `axon registry demo`")
        regs = self._registries()
        if wanted in regs:
            return self._entry(wanted, regs[wanted])
        if "://" in wanted:
            return RegistryEntry(wanted, wanted.rstrip("/"), (),
                                 self.env.get("AXON_TOKEN") or None)
        raise NotFoundError(f"no registry named {wanted!r}; see `axon registry list`")

    def add_registry(self, name: str, url: str, mirrors: tuple[str, ...] = (),
                     token: str | None = None) -> None:
        """Add or replace a registry entry."""
        if not name or "://" in name:
            raise UsageError(f"{name!r} is not a registry name")
        if urlsplit(url).scheme not in ("http", "https", "file"):
            raise UsageError(f"{redact_url(url)!r}: registry URLs start with http://, "
                             "https:// or file://")
        entry: dict[str, Any] = {"url": url.rstrip("/")}
        if mirrors:
            entry["mirrors"] = list(mirrors)
        if token:
            entry["token"] = token
        regs = self._registries()
        regs[name] = entry
        self._data["registries"] = regs
        self._write()

    def remove_registry(self, name: str) -> None:
        """Delete a registry entry (and the default if it pointed there)."""
        regs = self._registries()
        if name not in regs:
            raise NotFoundError(f"no registry named {name!r}; see `axon registry list`")
        del regs[name]
        if self._data.get("default_registry") == name:
            del self._data["default_registry"]
        self._write()

    def set_default_registry(self, name: str) -> None:
        """Make a configured registry the default."""
        if name not in self._registries():
            raise NotFoundError(f"no registry named {name!r}; see `axon registry list`")
        self._data["default_registry"] = name
        self._write()
