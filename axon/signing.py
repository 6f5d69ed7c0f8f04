"""Ed25519 signatures of published versions (through the ``cryptography`` package).

A signature covers a statement naming exactly one version and its package::

    axon-signature-v1\\n{"name":...,"namespace":...,"package":{"sha256":...,"size":...},"version":...}

(canonical JSON after the first line). A registry keeps a version's signatures in
``signatures.json`` beside its manifest; a local ``.axon`` file keeps them in ``PACKAGE.sig``.

The package digest covers every byte of the package — its manifest and its files, which an
install checks against the manifest — so the signature vouches for all of it, and for the name
and version it is published under. A signature record carries the signer's public key so that
anyone can check it is well formed; whether it counts is decided only by the keys the
installing user trusts (:func:`verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from axon.atomic_files import write_atomic
from axon.errors import IntegrityError, UsageError
from axon.manifest import canonical_json

__all__ = ["ALGORITHM", "PublicKey", "SignatureError", "SignatureRecord", "read_sidecar", "sidecar",
           "sign", "statement", "verify", "write_sidecar"]

ALGORITHM = "ed25519"
KEY_PREFIX = "axon-ed25519"
_CONTEXT = b"axon-signature-v1\n"


class SignatureError(IntegrityError):
    """A signature is missing, untrusted or does not verify; nothing was installed."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"{what} is not base64") from exc


@dataclass(frozen=True)
class PublicKey:
    """An ed25519 public key: 32 raw bytes; ``key_id`` is the first 16 hex of their sha256."""

    raw: bytes

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """From ``axon-ed25519 <base64> [comment]`` or a bare base64 key."""
        parts = text.strip().split()
        if not parts:
            raise UsageError("empty public key")
        encoded = parts[1] if parts[0] == KEY_PREFIX and len(parts) > 1 else parts[0]
        raw = _b64decode(encoded, "public key")
        if len(raw) != 32:
            raise UsageError(f"an ed25519 public key has 32 bytes, not {len(raw)}")
        return cls(raw)

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> PublicKey:
        """The public half of a private key."""
        return cls(private.public_key().public_bytes_raw())

    @property
    def key_id(self) -> str:
        """Short fingerprint used to name the key."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def b64(self) -> str:
        """Base64 of the raw key."""
        return base64.b64encode(self.raw).decode()

    def line(self, comment: str = "") -> str:
        """``axon-ed25519 <base64> comment``: what `axon key trust` reads."""
        return f"{KEY_PREFIX} {self.b64} {comment}".rstrip()

    def check(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True


def statement(namespace: str, name: str, version: str, sha256: str, size: int) -> bytes:
    """The bytes a signature of one published version covers."""
    body = {"namespace": namespace, "name": name, "version": version,
            "package": {"sha256": sha256, "size": size}}
    return _CONTEXT + canonical_json(body)


@dataclass(frozen=True)
class SignatureRecord:
    """One signature as a registry stores it (``signatures.json``) and a client reads it."""

    key_id: str
    public_key: PublicKey
    signature: bytes

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignatureRecord:
        """Parse and check the shape; :class:`SignatureError` if it is malformed."""
        try:
            if data["algorithm"] != ALGORITHM:
                raise SignatureError(f"unsupported signature algorithm {data['algorithm']!r}")
            key = PublicKey.parse(str(data["public_key"]))
            signature = _b64decode(str(data["signature"]), "signature")
        except (KeyError, TypeError, UsageError) as exc:
            raise SignatureError(f"malformed signature record: {exc}") from exc
        if data.get("key_id") != key.key_id or len(signature) != 64:
            raise SignatureError("malformed signature record: key id or length is wrong")
        return cls(key.key_id, key, signature)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"algorithm": ALGORITHM, "key_id": self.key_id, "public_key": self.public_key.b64,
                "signature": base64.b64encode(self.signature).decode()}

    def valid_for(self, data: bytes) -> bool:
        """Well formed and made by its own key over ``data`` (says nothing about trust)."""
        return self.public_key.check(self.signature, data)


def sign(private: Ed25519PrivateKey, data: bytes) -> SignatureRecord:
    """Sign a statement."""
    key = PublicKey.of(private)
    return SignatureRecord(key.key_id, key, private.sign(data))


def verify(records: Sequence[Mapping[str, Any]], data: bytes, trusted: Mapping[str, PublicKey],
           required: bool, what: str) -> tuple[str, ...]:
    """The ids of trusted keys whose signatures over ``data`` verify.

    Each signature by a trusted key is checked with the trusted key itself (never the key the
    record carries); one that does not verify means the version was altered after signing, and
    is refused whatever the policy. With ``required``, a version no trusted key signed is
    refused too. Signatures by keys the user does not trust are ignored.
    """
    good: list[str] = []
    seen: list[str] = []
    for raw in records:
        record = SignatureRecord.from_dict(raw)
        seen.append(record.key_id)
        key = trusted.get(record.key_id)
        if key is None:
            continue
        if not key.check(record.signature, data):
            raise SignatureError(f"{what}: the signature by trusted key {record.key_id} does not "
                                 "match; the package, its name or its version changed after "
                                 "signing. Nothing installed.")
        good.append(record.key_id)
    if required and not good:
        if seen:
            raise SignatureError(f"{what} is signed only by keys you do not trust "
                                 f"({', '.join(sorted(set(seen)))}); trust one with "
                                 "`axon key trust` or install something else")
        raise SignatureError(f"{what} is not signed, and require_signatures is on")
    return tuple(sorted(set(good)))


def sidecar(package: pathlib.Path) -> pathlib.Path:
    """``PACKAGE.sig``: signatures of a local ``.axon`` file (``axon pack --sign``)."""
    return package.with_name(package.name + ".sig")


def read_sidecar(package: pathlib.Path) -> list[dict[str, Any]]:
    """The signature records beside a local package (none when there is no ``.sig``)."""
    path = sidecar(package)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text("utf-8"))
        records: list[dict[str, Any]] = list(data["signatures"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{path}: not a signatures file") from exc
    return records


def write_sidecar(package: pathlib.Path, records: Sequence[SignatureRecord]) -> pathlib.Path:
    """Write (replace) ``PACKAGE.sig``."""
    path = sidecar(package)
    body = json.dumps({"signatures": [r.to_dict() for r in records]}, indent=2, sort_keys=True)
    write_atomic(path, (body + "\n").encode())
    return path
