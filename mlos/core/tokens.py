"""API tokens: random, shown once, stored hashed, compared in constant time, expiring, revocable.

A token reads `mlos_<id>_<secret>`: the public id finds the record, and the SHA-256 of the
whole token is what the registry keeps, compared with :func:`hmac.compare_digest`. Tokens are
32 random bytes, so a fast hash is enough: there is nothing to guess. The book keeps every
token in memory (lookups on every call cost a dict access and one hash) and writes through to
the registry's `tokens` table, so tokens survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine, select

from mlos.core.limits import Rate
from mlos.core.schema import tokens_table
from mlos.core.store import RegistryStore, column_values, upsert
from mlos.errors import InvalidArgument, NotFound, Unauthenticated
from mlos.wire.roles import ROLE_NAMES, roles_text
from mlos_generated import smi_pb2

__all__ = [
    "ADMIN_TOKEN_FILE",
    "TOKEN_PREFIX",
    "TokenBook",
    "TokenRecord",
    "ensure_admin_token",
]

ADMIN_TOKEN_FILE = "admin.token"
"""Where in the home the first start leaves an admin token (owner-only)."""

TOKEN_PREFIX = "mlos_"
_ID_BYTES = 6
_SECRET_BYTES = 32

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token (its digest, never its secret)."""

    id: str
    name: str
    role: int
    models: tuple[str, ...]
    digest: str
    created_at: int
    expires_at: int = 0
    revoked_at: int = 0
    rate_limit: str = ""

    def info(self) -> smi_pb2.TokenInfo:
        """The token as the API shows it."""
        return smi_pb2.TokenInfo(
            id=self.id,
            name=self.name,
            role=smi_pb2.Role.ValueType(self.role),
            models=self.models,
            created_at=self.created_at,
            expires_at=self.expires_at,
            revoked_at=self.revoked_at,
            rate_limit=self.rate_limit,
        )


class TokenBook:
    """Every token, in memory and in the registry."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self._engine: Engine = store.engine
        self._put = upsert(self._engine.dialect.name, tokens_table, ["id"])
        self._tokens: dict[str, TokenRecord] = {}
        self.reload()

    def reload(self) -> None:
        """Read every token from the registry again."""
        self._tokens = self.read()

    def read(self) -> dict[str, TokenRecord]:
        """Every token in the registry, by id (what :meth:`reload` keeps; safe in a thread)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(tokens_table))
            return {
                row.id: TokenRecord(
                    **{
                        **row._asdict(),
                        "role": smi_pb2.Role.Value(row.role),
                        "models": tuple(json.loads(row.models)),
                    }
                )
                for row in rows
            }

    def _write(self, record: TokenRecord) -> None:
        values = column_values(
            tokens_table,
            record,
            role=smi_pb2.Role.Name(smi_pb2.Role.ValueType(record.role)),
            models=json.dumps(list(record.models)),
        )
        with self._engine.begin() as conn:
            conn.execute(self._put, values)
            self._store.changed(conn)
        self._tokens[record.id] = record

    def replace(self, tokens: dict[str, TokenRecord]) -> None:
        """Keep `tokens` (read from the registry by :meth:`read`) as the book's tokens."""
        self._tokens = dict(tokens)

    def create(
        self,
        name: str,
        role: int,
        models: tuple[str, ...] = (),
        ttl_seconds: int = 0,
        rate_limit: str = "",
    ) -> tuple[str, TokenRecord]:
        """A new token: its secret (to show once) and its record."""
        if role not in ROLE_NAMES:
            raise InvalidArgument(f"a token needs a role: {roles_text()}")
        if ttl_seconds < 0:
            raise InvalidArgument("ttl_seconds must be 0 (no expiry) or more")
        if not name or len(name) > 128 or "\x00" in name:
            raise InvalidArgument("a token needs a name of 1 to 128 characters")
        if rate_limit:
            try:
                rate_limit = str(Rate.parse(rate_limit))
            except ValueError as exc:
                raise InvalidArgument(f"rate_limit {exc}") from None
        token_id = secrets.token_hex(_ID_BYTES)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        now = int(time.time())
        record = TokenRecord(
            id=token_id,
            name=name,
            role=role,
            models=tuple(models),
            digest=_digest(token),
            created_at=now,
            expires_at=now + ttl_seconds if ttl_seconds else 0,
            rate_limit=rate_limit,
        )
        self._write(record)
        return token, record

    def all(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        return sorted(self._tokens.values(), key=lambda r: (r.created_at, r.id))

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke a token for good (revoking it again changes nothing)."""
        record = self._tokens.get(token_id)
        if record is None:
            raise NotFound(f"no token {token_id!r}")
        if not record.revoked_at:
            record = replace(record, revoked_at=int(time.time()))
            self._write(record)
        return record

    def verify(self, token: str) -> TokenRecord:
        """The record of a presented token; Unauthenticated when it is not a valid one."""
        token_id = _token_id(token)
        record = self._tokens.get(token_id) if token_id else None
        # The digest is compared even for an unknown id, so both cost the same.
        expected = record.digest if record is not None else _UNKNOWN
        if not hmac.compare_digest(_digest(token), expected) or record is None:
            raise Unauthenticated("the token is not valid")
        return self.check(record.id)

    def check(self, token_id: str) -> TokenRecord:
        """The record of token `token_id` if it is still usable; Unauthenticated if it was
        revoked, has expired or is gone (a connection that authenticated earlier asks again)."""
        record = self._tokens.get(token_id)
        if record is None:
            raise Unauthenticated("the token is not valid")
        if record.revoked_at:
            raise Unauthenticated("the token was revoked")
        if record.expires_at and time.time() >= record.expires_at:
            raise Unauthenticated("the token has expired")
        return record

    def rate_limit_of(self, principal: str) -> str:
        """The own rate limit of a token principal ("token:<id>"), or "" for none."""
        if not principal.startswith("token:"):
            return ""
        record = self._tokens.get(principal[6:])
        return record.rate_limit if record is not None else ""

    def has_admin(self) -> bool:
        """Whether a usable admin token exists."""
        now = time.time()
        return any(
            r.role == smi_pb2.ROLE_ADMIN
            and not r.revoked_at
            and (not r.expires_at or now < r.expires_at)
            for r in self._tokens.values()
        )


_UNKNOWN = "0" * 64


def _token_id(token: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        return ""
    token_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
    return token_id if secret else ""


def ensure_admin_token(book: TokenBook, path: Path) -> bool:
    """Create an admin token and write it to `path` (owner-only) when none is usable.

    Returns whether it created one. The file is written whole under another name and renamed
    into place, so a reader never sees half a token.
    """
    if book.has_admin():
        return False
    token, _ = book.create("admin", smi_pb2.ROLE_ADMIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    os.replace(partial, path)
    return True
