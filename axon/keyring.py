"""Signing keys and trusted keys under ``$AXON_HOME/keys``.

::

    keys/<name>.key      a private ed25519 key (PKCS#8 PEM, owner-only)
    keys/<name>.pub      its public key, ``axon-ed25519 <base64> <name>``, to hand to others
    keys/trusted.yaml    the public keys whose signatures installs accept

A generated key is trusted by its owner at once; others' keys are added with
``axon key trust``.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from axon import strict_yaml
from axon.atomic_files import write_atomic
from axon.errors import ConfigError, ConflictError, NotFoundError, UsageError
from axon.signing import PublicKey

__all__ = ["KeyInfo", "Keyring"]

@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: name, id, public key, and whether the private half is here."""

    name: str
    key: PublicKey
    private: bool
    trusted: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form (never the private key)."""
        return {"name": self.name, "key_id": self.key.key_id, "public_key": self.key.line(),
                "private": self.private, "trusted": self.trusted}


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Keyring:
    """The keys of one Axon home."""

    def __init__(self, home: pathlib.Path) -> None:
        self.dir = home / "keys"

    def _trusted_file(self) -> pathlib.Path:
        return self.dir / "trusted.yaml"

    def _read_trusted(self) -> list[dict[str, str]]:
        path = self._trusted_file()
        if not path.exists():
            return []
        try:
            data = strict_yaml.load(path.read_text("utf-8")) or {}
            entries: list[dict[str, str]] = list(data.get("keys", []))
        except (yaml.YAMLError, AttributeError, TypeError) as exc:
            raise ConfigError(f"{path}: not a trusted-keys file ({exc})") from exc
        return entries

    def _write_trusted(self, entries: list[dict[str, str]]) -> None:
        write_atomic(self._trusted_file(),
                     yaml.safe_dump({"keys": entries}, sort_keys=True).encode())

    def trusted(self) -> dict[str, PublicKey]:
        """Trusted keys by id."""
        keys = {}
        for entry in self._read_trusted():
            key = PublicKey.parse(entry["public_key"])
            keys[key.key_id] = key
        return keys

    def generate(self, name: str) -> KeyInfo:
        """Make a new private key ``name`` and trust its public half."""
        if not _NAME.match(name):
            raise UsageError(f"{name!r} is not a key name (letters, digits, '.', '_', '-')")
        path = self.dir / f"{name}.key"
        if path.exists():
            raise ConflictError(f"a key named {name!r} exists already ({path})")
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        write_atomic(path, pem, private=True)
        key = PublicKey.of(private)
        write_atomic(self.dir / f"{name}.pub", (key.line(name) + "\n").encode())
        self.trust(key.line(), name)
        return KeyInfo(name, key, True, True)

    def trust(self, text: str, name: str | None = None) -> KeyInfo:
        """Trust a public key given as text or as the path of a ``.pub`` file."""
        candidate = pathlib.Path(text).expanduser()
        if len(text) < 4096 and "\n" not in text and candidate.is_file():
            text = candidate.read_text("utf-8")
        key = PublicKey.parse(text)
        parts = text.split()
        label = name or (parts[2] if len(parts) > 2 else key.key_id)
        entries = [e for e in self._read_trusted()
                   if PublicKey.parse(e["public_key"]).key_id != key.key_id]
        entries.append({"name": label, "key_id": key.key_id, "public_key": key.line()})
        self._write_trusted(sorted(entries, key=lambda e: e["name"]))
        return KeyInfo(label, key, (self.dir / f"{label}.key").exists(), True)

    def untrust(self, which: str) -> KeyInfo:
        """Stop trusting a key, by name or id."""
        entries = self._read_trusted()
        keep = [e for e in entries if which not in (e["name"], e["key_id"])]
        if len(keep) == len(entries):
            raise NotFoundError(f"no trusted key named {which!r}; see `axon key list`")
        gone = next(e for e in entries if which in (e["name"], e["key_id"]))
        self._write_trusted(keep)
        return KeyInfo(gone["name"], PublicKey.parse(gone["public_key"]), False, False)

    def list(self) -> list[KeyInfo]:
        """Own keys (with their private half) and trusted keys, by name."""
        trusted = {e["key_id"]: e["name"] for e in self._read_trusted()}
        found: dict[str, KeyInfo] = {}
        if self.dir.is_dir():
            for path in sorted(self.dir.glob("*.key")):
                key = PublicKey.of(self._load(path))
                found[key.key_id] = KeyInfo(path.stem, key, True, key.key_id in trusted)
        for entry in self._read_trusted():
            key = PublicKey.parse(entry["public_key"])
            found.setdefault(key.key_id, KeyInfo(entry["name"], key, False, True))
        return sorted(found.values(), key=lambda k: (k.name, k.key.key_id))

    def private(self, name: str | None = None) -> Ed25519PrivateKey:
        """A private key by name; without a name, the only one there is."""
        if name is None:
            names = sorted(p.stem for p in self.dir.glob("*.key")) if self.dir.is_dir() else []
            if len(names) != 1:
                raise UsageError("no signing key: run `axon key generate NAME`" if not names
                                 else f"several keys ({', '.join(names)}); name one with "
                                      "--sign NAME or the signing_key setting")
            name = names[0]
        path = self.dir / f"{name}.key"
        if not path.is_file():
            raise NotFoundError(f"no private key named {name!r} in {self.dir}")
        return self._load(path)

    @staticmethod
    def _load(path: pathlib.Path) -> Ed25519PrivateKey:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: not a readable private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path}: not an ed25519 key")
        return key
