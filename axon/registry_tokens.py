"""Bearer tokens of the registry server: roles, creation, lookup.

Tokens are shown once when created and stored only as sha256 hashes, in a YAML file that is never
served (default ``ROOT/.axon/tokens.yaml``). Roles nest: ``read`` < ``write`` (publish, sign,
yank) < ``admin`` (also delete).
"""

from __future__ import annotations

import hashlib
import hmac
import pathlib
import secrets
from typing import Any

import yaml

from axon import strict_yaml
from axon.atomic_files import write_atomic
from axon.errors import ConfigError, UsageError

__all__ = ["ROLES", "allows", "create_token", "default_tokens_file", "load_tokens", "role_of"]

ROLES = ("read", "write", "admin")


def default_tokens_file(root: pathlib.Path) -> pathlib.Path:
    """``ROOT/.axon/tokens.yaml`` (never served)."""
    return root / ".axon" / "tokens.yaml"


def load_tokens(path: pathlib.Path) -> dict[str, str]:
    """Map of token sha256 → role."""
    if not path.exists():
        return {}
    try:
        data = strict_yaml.load(path.read_text(encoding="utf-8")) or {}
        return {t["sha256"]: t["role"] for t in data.get("tokens", [])}
    except (yaml.YAMLError, AttributeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a tokens file") from exc


def create_token(path: pathlib.Path, name: str, role: str) -> str:
    """Add a token with ``role`` to the tokens file and return it (shown once, stored hashed)."""
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}")
    token = "axon_" + secrets.token_urlsafe(32)
    data: dict[str, Any] = {"tokens": []}
    if path.exists():
        data = strict_yaml.load(path.read_text(encoding="utf-8")) or {"tokens": []}
    data.setdefault("tokens", []).append(
        {"name": name, "role": role, "sha256": hashlib.sha256(token.encode()).hexdigest()})
    write_atomic(path, yaml.safe_dump(data, sort_keys=True).encode(), private=True)
    return token


def role_of(authorization: str, path: pathlib.Path) -> str | None:
    """The role of the bearer token in an ``Authorization`` header, or None."""
    if not authorization.lower().startswith("bearer "):
        return None
    digest = hashlib.sha256(authorization[7:].strip().encode()).hexdigest()
    for known, role in load_tokens(path).items():
        if hmac.compare_digest(known, digest):
            return role
    return None


def allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` includes ``needed``."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)
