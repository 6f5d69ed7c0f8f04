"""Registry client: the read protocol over ``http(s)://`` or ``file://``, plus publishing.

A registry is a base URL; the paths below it are those of :mod:`axon.registry_store`. Reads go
to the registry and, when it cannot be reached, to its mirrors in order. Credentials are sent
only to the registry itself, as ``Authorization: Bearer``, and never appear in messages.
"""

from __future__ import annotations

import json
import pathlib
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import requests
import urllib3
import yaml

from axon import strict_yaml
from axon.config import RegistryEntry, redact_url
from axon.digest import CHUNK, sha256_file
from axon.errors import (
    AuthError,
    AxonError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    UsageError,
)
from axon.manifest import MANIFEST_NAME, parse_manifest
from axon.reference import ModelRef
from axon.registry_store import RegistryStore
from axon.semver import best_match

__all__ = [
    "BlobStream",
    "FileSource",
    "HttpSource",
    "RegistryClient",
    "Resolved",
    "Source",
    "open_source",
    "read_package_manifest",
]


@dataclass
class BlobStream:
    """Bytes of a blob starting at ``offset`` (0 when the source ignored the range)."""

    offset: int
    chunks: Iterator[bytes]
    close: Callable[[], None]


class Source(Protocol):
    """One place the registry protocol can be read from (and maybe written to)."""

    display: str

    def get_json(self, rel: str) -> Any:
        """Fetch and decode a JSON document at ``rel`` below the base."""

    def open_blob(self, digest: str, offset: int) -> BlobStream:
        """Stream blob bytes from ``offset`` (a Range request over HTTP)."""

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is stored."""

    def put_blob(self, digest: str, path: pathlib.Path) -> None:
        """Upload a blob from a local file."""

    def put_version(self, manifest: dict[str, Any], sha256: str, size: int) -> bool:
        """Record a published version; True if new."""


class FileSource:
    """A registry directory reached through ``file://``."""

    def __init__(self, url: str) -> None:
        self.display = url
        self.store = RegistryStore(pathlib.Path(unquote(urlsplit(url).path)))

    def get_json(self, rel: str) -> Any:
        path = self.store.root / rel
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NotFoundError(f"{rel} not found in {self.display}") from exc
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.display}: cannot read {rel}: {exc}") from exc

    def open_blob(self, digest: str, offset: int) -> BlobStream:
        handle = self.store.blob(digest).open("rb")
        handle.seek(offset)
        return BlobStream(offset, iter(lambda: handle.read(CHUNK), b""), handle.close)

    def has_blob(self, digest: str) -> bool:
        try:
            self.store.blob(digest)
        except NotFoundError:
            return False
        return True

    def put_blob(self, digest: str, path: pathlib.Path) -> None:
        with path.open("rb") as handle:
            self.store.put_blob(digest, iter(lambda: handle.read(CHUNK), b""),
                                path.stat().st_size)

    def put_version(self, manifest: dict[str, Any], sha256: str, size: int) -> bool:
        return self.store.publish(manifest, sha256, size)


class HttpSource:
    """A registry over HTTP(S)."""

    def __init__(self, url: str, token: str | None, timeout: float,
                 session: requests.Session | None = None) -> None:
        self.base = url.rstrip("/")
        self.display = redact_url(self.base)
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _request(self, method: str, rel: str, accept: tuple[int, ...] = (),
                 **kwargs: Any) -> requests.Response:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        try:
            response = self.session.request(method, f"{self.base}/{rel}", headers=headers,
                                            timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise RegistryError(f"cannot reach registry {self.display}: "
                                f"{type(exc).__name__}") from exc
        if response.status_code < 400 or response.status_code in accept:
            return response
        try:
            detail = str(response.json().get("error", ""))
        except ValueError:
            detail = ""
        response.close()
        what = f"{method} {rel}: {detail or response.reason}"
        if response.status_code == 404:
            raise NotFoundError(f"{rel} not found in {self.display}")
        if response.status_code in (401, 403):
            raise AuthError(f"registry {self.display} refused {what} (check your token and "
                            "its role)")
        if response.status_code == 409:
            raise ConflictError(detail or f"{what}: conflict")
        if response.status_code in (400, 413, 422):
            raise IntegrityError(f"registry {self.display} rejected {what}")
        raise RegistryError(f"registry {self.display} failed {what} "
                            f"(HTTP {response.status_code})")

    def get_json(self, rel: str) -> Any:
        response = self._request("GET", rel)
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryError(f"registry {self.display}: {rel} is not JSON") from exc

    def open_blob(self, digest: str, offset: int) -> BlobStream:
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        response = self._request("GET", f"blobs/sha256/{digest}", accept=(416,),
                                 headers=headers, stream=True)
        if response.status_code == 416:
            response.close()
            return self.open_blob(digest, 0)
        start = offset if response.status_code == 206 else 0

        def chunks() -> Iterator[bytes]:
            # read1 hands over whatever arrived, so an interrupted transfer keeps every
            # byte received before the cut (iter_content would drop the last short read).
            try:
                while chunk := response.raw.read1(CHUNK):
                    yield chunk
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise RegistryError(f"download from {self.display} interrupted: "
                                    f"{type(exc).__name__}") from exc

        return BlobStream(start, chunks(), response.close)

    def has_blob(self, digest: str) -> bool:
        try:
            self._request("HEAD", f"blobs/sha256/{digest}")
        except NotFoundError:
            return False
        return True

    def put_blob(self, digest: str, path: pathlib.Path) -> None:
        with path.open("rb") as handle:
            self._request("PUT", f"blobs/sha256/{digest}", data=handle,
                          headers={"Content-Type": "application/octet-stream",
                                   "Content-Length": str(path.stat().st_size)})

    def put_version(self, manifest: dict[str, Any], sha256: str, size: int) -> bool:
        rel = f"models/{manifest['namespace']}/{manifest['name']}/{manifest['version']}"
        body = {"manifest": manifest, "package": {"sha256": sha256, "size": size}}
        return self._request("PUT", rel, json=body).status_code == 201


def open_source(url: str, token: str | None, timeout: float) -> Source:
    """A source for ``url`` by scheme."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return FileSource(url)
    if scheme in ("http", "https"):
        return HttpSource(url, token, timeout)
    raise UsageError(f"{redact_url(url)!r}: registry URLs start with http://, https:// "
                     "or file://")


@dataclass(frozen=True)
class Resolved:
    """A reference resolved to an exact version and its package blob."""

    namespace: str
    name: str
    version: str
    sha256: str
    size: int


def read_package_manifest(path: pathlib.Path) -> dict[str, Any]:
    """The manifest inside a ``.axon`` archive (read without extracting anything else)."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST_NAME or not member.isreg() \
                    or member.size > 1 << 20:
                raise IntegrityError(f"{path}: not an axon package ({MANIFEST_NAME} must "
                                     "come first)")
            stream = tar.extractfile(member)
            assert stream is not None
            data: dict[str, Any] = strict_yaml.load(stream.read())
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError) as exc:
        raise IntegrityError(f"{path}: not a readable axon package: {exc}") from exc
    return data


class RegistryClient:
    """Read and publish against one configured registry and its mirrors."""

    def __init__(self, entry: RegistryEntry, timeout: float = 30.0) -> None:
        self.entry = entry
        self.sources: list[Source] = [open_source(entry.url, entry.token, timeout)]
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
        """The registry's search index."""
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
        """Exact version for ``ref`` (``latest`` = newest stable, or a range)."""
        try:
            doc = self.versions(ref.namespace, ref.name)
        except NotFoundError as exc:
            raise NotFoundError(f"{ref.key} is not in registry {self.display}") from exc
        entries = {v["version"]: v for v in doc.get("versions", [])}
        version = best_match(entries, ref.spec)
        if version is None:
            raise NotFoundError(f"no version of {ref.key} matches {ref.spec!r} "
                                f"(available: {', '.join(entries) or 'none'})")
        package = entries[version]["package"]
        return Resolved(ref.namespace, ref.name, version, package["sha256"], package["size"])

    def manifest(self, namespace: str, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version, as stored by the registry."""
        data: dict[str, Any] = self._read(
            lambda s: s.get_json(f"models/{namespace}/{name}/{version}/manifest.json"))
        return data

    def open_blob(self, digest: str, offset: int) -> BlobStream:
        """Stream a blob from the first source that answers."""
        stream: BlobStream = self._read(lambda s: s.open_blob(digest, offset))
        return stream

    def publish(self, package: pathlib.Path) -> tuple[Resolved, bool]:
        """Upload a ``.axon`` package (blob first, then the version); True if new."""
        data = read_package_manifest(package)
        manifest = parse_manifest(data, f"{package} {MANIFEST_NAME}").to_dict()
        digest, size = sha256_file(package)
        target = self.sources[0]
        if not target.has_blob(digest):
            target.put_blob(digest, package)
        created = target.put_version(manifest, digest, size)
        return Resolved(manifest["namespace"], manifest["name"], manifest["version"], digest,
                        size), created
