"""Registry client: resolve, read, publish, sign, yank and delete against one registry.

A registry is a base URL with mirrors (:mod:`axon.registry_sources`); reads go to the registry
and, when it cannot be reached, to its mirrors in order; writes go to the registry only.
Resolution follows the registry's version list: a range or ``latest`` never picks a yanked
version, an exact version may (a lock file or a pinned deployment keeps working after a yank).
"""

from __future__ import annotations

import pathlib
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from axon import strict_yaml
from axon.config import RegistryEntry
from axon.digest import sha256_file
from axon.errors import (
    AxonError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    UsageError,
)
from axon.extraction import MAX_MANIFEST_BYTES, extract
from axon.manifest import MANIFEST_NAME
from axon.progress import Progress
from axon.reference import ModelRef
from axon.registry_sources import BlobStream, Source, open_source
from axon.registry_store import DEFAULT_MAX_BYTES
from axon.semver import Range, best_match
from axon.signing import SignatureRecord

__all__ = ["Published", "RegistryClient", "Resolved", "read_package_manifest"]


@dataclass(frozen=True)
class Resolved:
    """A reference resolved to an exact version and its package blob."""

    namespace: str
    name: str
    version: str
    sha256: str
    size: int
    yanked: bool = False
    yanked_reason: str = ""

    @property
    def ids(self) -> tuple[str, str, str]:
        """``(namespace, name, version)``."""
        return (self.namespace, self.name, self.version)

    @property
    def ref(self) -> str:
        """``ns/name@version``."""
        return f"{self.namespace}/{self.name}@{self.version}"


@dataclass(frozen=True)
class Published:
    """What ``publish`` did: the version, whether it is new, the signatures added."""

    resolved: Resolved
    created: bool
    signed_by: tuple[str, ...] = ()


def read_package_manifest(path: pathlib.Path) -> dict[str, Any]:
    """The manifest inside a ``.axon`` archive (read without extracting anything else)."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST_NAME or not member.isreg() \
                    or member.size > MAX_MANIFEST_BYTES:
                raise IntegrityError(f"{path}: not an axon package ({MANIFEST_NAME} must "
                                     "come first)")
            stream = tar.extractfile(member)
            assert stream is not None
            data: dict[str, Any] = strict_yaml.load(stream.read())
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError) as exc:
        raise IntegrityError(f"{path}: not a readable axon package: "
                             f"{str(exc).splitlines()[0]}") from exc
    return data


class RegistryClient:
    """Read and publish against one configured registry and its mirrors."""

    def __init__(self, entry: RegistryEntry, timeout: float = 30.0,
                 max_extract_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.entry = entry
        self.max_extract_bytes = max_extract_bytes
        self.sources: list[Source] = [open_source(entry.url, entry.token, timeout,
                                                  max_extract_bytes)]
        self.sources += [open_source(url, None, timeout) for url in entry.mirrors]

    @property
    def display(self) -> str:
        """Redacted registry URL."""
        return self.sources[0].display

    def _read(self, call: Callable[[Source], Any]) -> Any:
        last: AxonError | None = None
        for source in self.sources:
            try:
                return call(source)
            except RegistryError as exc:
                last = exc
        assert last is not None
        raise last

    def index(self) -> dict[str, Any]:
        """The registry's search index (yanked versions are not in it)."""
        data: dict[str, Any] = self._read(lambda s: s.get_json("index.json"))
        return data

    def search(self, query: str = "") -> list[dict[str, Any]]:
        """Models whose name, namespace, description or tags contain ``query``."""
        needle = query.lower()
        return [m for m in self.index().get("models", [])
                if needle in " ".join([m["namespace"], m["name"], m.get("description", ""),
                                       *m.get("tags", [])]).lower()]

    def versions(self, namespace: str, name: str) -> dict[str, Any]:
        """The version list of one model."""
        data: dict[str, Any] = self._read(
            lambda s: s.get_json(f"models/{namespace}/{name}/index.json"))
        return data

    def resolve(self, ref: ModelRef) -> Resolved:
        """Exact version for ``ref``: ``latest`` and ranges skip yanked versions."""
        try:
            doc = self.versions(ref.namespace, ref.name)
        except NotFoundError as exc:
            raise NotFoundError(f"{ref.key} is not in registry {self.display}") from exc
        entries = {v["version"]: v for v in doc.get("versions", [])}
        exact = Range.parse(ref.spec).is_exact
        visible = {v: e for v, e in entries.items() if exact or not e.get("yanked")}
        version = best_match(visible, ref.spec)
        if version is None:
            yanked = sorted(set(entries) - set(visible))
            note = f"; yanked: {', '.join(yanked)} (install one by exact version)" \
                if yanked else ""
            raise NotFoundError(f"no version of {ref.key} matches {ref.spec!r} "
                                f"(available: {', '.join(visible) or 'none'}{note})")
        entry = entries[version]
        package = entry["package"]
        return Resolved(ref.namespace, ref.name, version, package["sha256"], package["size"],
                        bool(entry.get("yanked")), str(entry.get("yanked_reason", "")))

    def manifest(self, namespace: str, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version, as stored by the registry."""
        data: dict[str, Any] = self._read(
            lambda s: s.get_json(f"models/{namespace}/{name}/{version}/manifest.json"))
        return data

    def signatures(self, namespace: str, name: str, version: str) -> list[dict[str, Any]]:
        """The signature records of one version (empty when it has none)."""
        try:
            data = self._read(
                lambda s: s.get_json(f"models/{namespace}/{name}/{version}/signatures.json"))
        except NotFoundError:
            return []
        if not isinstance(data, dict) or not isinstance(data.get("signatures"), list):
            raise IntegrityError(f"registry {self.display}: malformed signatures of "
                                 f"{namespace}/{name}@{version}")
        found: list[dict[str, Any]] = data["signatures"]
        return found

    def open_blob(self, digest: str, offset: int, end: int | None = None) -> BlobStream:
        """Stream a blob (or the byte range ``offset``..``end``) from the first source up."""
        stream: BlobStream = self._read(lambda s: s.open_blob(digest, offset, end))
        return stream

    def publish(self, package: pathlib.Path, progress: Progress | None = None,
                signatures: Sequence[SignatureRecord] = ()) -> Published:
        """Check a ``.axon`` package as an install would, upload it, then add signatures.

        A version published with other content is refused before anything is uploaded; one
        published with the same bytes is not uploaded again (its signatures are still added).
        """
        manifest = extract(package, None, self.max_extract_bytes)
        digest, size = sha256_file(package)
        ids = (manifest.namespace, manifest.name, manifest.version)
        target = self.sources[0]
        resolved = Resolved(*ids, digest, size)
        existing = self._entry(ids)
        if existing is not None and existing["package"]["sha256"] != digest:
            raise ConflictError(f"{resolved.ref} is already published with other content; "
                                "publish a new version")
        try:
            created = existing is None and target.put_package(ids, digest, package, progress)
        except RegistryError as exc:  # a server that refuses mid-upload closes the connection
            entry = self._entry(ids)
            if entry is not None and entry["package"]["sha256"] != digest:
                raise ConflictError(f"{resolved.ref} was published with other content "
                                    "meanwhile; publish a new version") from exc
            raise
        for record in signatures:
            target.put_signature(ids, record.to_dict())
        return Published(resolved, created, tuple(r.key_id for r in signatures))

    def _entry(self, ids: tuple[str, str, str]) -> dict[str, Any] | None:
        try:
            doc = self.sources[0].get_json(f"models/{ids[0]}/{ids[1]}/index.json")
        except NotFoundError:
            return None
        found: dict[str, Any] | None = next(
            (e for e in doc.get("versions", []) if e["version"] == ids[2]), None)
        return found

    def yank(self, ref: ModelRef, reason: str = "", undo: bool = False) -> dict[str, Any]:
        """Yank an exact version (or undo a yank)."""
        return self.sources[0].yank(_exact(ref), reason, undo)

    def delete(self, ref: ModelRef, dry_run: bool = False) -> dict[str, Any]:
        """Delete an exact version (needs an admin token); the plan, executed or not."""
        return self.sources[0].delete(_exact(ref), dry_run)


def _exact(ref: ModelRef) -> tuple[str, str, str]:
    if not Range.parse(ref.spec).is_exact:
        raise UsageError(f"{ref}: name an exact version, e.g. {ref.key}@1.0.0")
    return (ref.namespace, ref.name, ref.spec.lstrip("="))
