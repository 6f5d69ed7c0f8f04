"""Where the registry protocol is read and written: a directory (``file://``) or HTTP(S).

A :class:`Source` is one base URL. The read side is plain files (JSON documents and blobs, with
byte ranges); the write side is the publishing, signing, yanking and deleting that
``spec/registry.openapi.yaml`` defines, done directly on the directory through
:class:`~axon.registry_store.RegistryStore` (the same code the server runs) or through the
server over HTTP. Credentials are sent only by the source that was given them, as
``Authorization: Bearer``, and never appear in messages.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import requests
import requests.adapters
import urllib3

from axon.config import redact_url
from axon.digest import CHUNK
from axon.errors import (
    AuthError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    UsageError,
)
from axon.progress import Progress, ReadProgress
from axon.registry_store import DEFAULT_MAX_BYTES, RegistryStore

__all__ = ["BlobStream", "FileSource", "HttpSource", "Source", "open_source"]


@dataclass
class BlobStream:
    """Bytes of a blob starting at ``offset`` (0 when the source ignored the range).

    ``ranged``: the source honoured the requested range (HTTP 206, or a file), so the stream
    ends where the range ends.
    """

    offset: int
    chunks: Iterator[bytes]
    close: Callable[[], None]
    ranged: bool = False


class Source(Protocol):
    """One place the registry protocol can be read from (and maybe written to)."""

    display: str

    def get_json(self, rel: str) -> Any:
        """Fetch and decode a JSON document at ``rel`` below the base."""

    def open_blob(self, digest: str, offset: int, end: int | None = None) -> BlobStream:
        """Stream blob bytes from ``offset`` to ``end`` (inclusive; None: to the end)."""

    def put_package(self, ids: tuple[str, str, str], digest: str, path: pathlib.Path,
                    progress: Progress | None) -> bool:
        """Publish a package file as version ``ids``; True if the version is new."""

    def put_signature(self, ids: tuple[str, str, str], record: dict[str, Any]) -> bool:
        """Add a signature record to a published version; True if it is new."""

    def yank(self, ids: tuple[str, str, str], reason: str, undo: bool) -> dict[str, Any]:
        """Yank a version (or undo it); the version's index entry."""

    def delete(self, ids: tuple[str, str, str], dry_run: bool) -> dict[str, Any]:
        """Delete a version; the plan (``items``, ``total_bytes``) and whether it was done."""


class FileSource:
    """A registry directory reached through ``file://``; writes go straight to the store."""

    def __init__(self, url: str, max_extract_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.display = url
        self.store = RegistryStore(pathlib.Path(unquote(urlsplit(url).path)), max_extract_bytes)

    def get_json(self, rel: str) -> Any:
        path = self.store.root / rel
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NotFoundError(f"{rel} not found in {self.display}") from exc
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.display}: cannot read {rel}: {exc}") from exc

    def open_blob(self, digest: str, offset: int, end: int | None = None) -> BlobStream:
        handle = self.store.blob(digest).open("rb")
        handle.seek(offset)
        left = [end - offset + 1 if end is not None else -1]

        def chunks() -> Iterator[bytes]:
            while left[0] != 0:
                chunk = handle.read(CHUNK if left[0] < 0 else min(CHUNK, left[0]))
                if not chunk:
                    return
                if left[0] > 0:
                    left[0] -= len(chunk)
                yield chunk

        return BlobStream(offset, chunks(), handle.close, True)

    def put_package(self, ids: tuple[str, str, str], digest: str, path: pathlib.Path,
                    progress: Progress | None) -> bool:
        _, _, created = self.store.publish_package(path, digest, expect=ids)
        if progress is not None:
            size = path.stat().st_size
            progress(size, size)
        return created

    def put_signature(self, ids: tuple[str, str, str], record: dict[str, Any]) -> bool:
        return self.store.add_signature(*ids, record)

    def yank(self, ids: tuple[str, str, str], reason: str, undo: bool) -> dict[str, Any]:
        return self.store.yank(*ids, reason, undo)

    def delete(self, ids: tuple[str, str, str], dry_run: bool) -> dict[str, Any]:
        items = self.store.plan_delete(*ids) if dry_run else self.store.delete(*ids)
        return {"deleted": not dry_run, "items": items,
                "total_bytes": sum(i["bytes"] for i in items)}


class HttpSource:
    """A registry over HTTP(S)."""

    def __init__(self, url: str, token: str | None, timeout: float,
                 session: requests.Session | None = None) -> None:
        self.base = url.rstrip("/")
        self.display = redact_url(self.base)
        self.token = token
        self.timeout = timeout
        if session is None:
            session = requests.Session()
            # Parallel ranges and parallel packages share the session's connection pool.
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _request(self, method: str, rel: str, accept: tuple[int, ...] = (),
                 **kwargs: Any) -> requests.Response:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, f"{self.base}/{rel}", headers=headers,
                                            **kwargs)
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
        what = f"{method} {rel.split('?')[0]}: {detail or response.reason}"
        if response.status_code == 404:
            raise NotFoundError(detail if method not in ("GET", "HEAD") and detail
                                else f"{rel} not found in {self.display}")
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

    def open_blob(self, digest: str, offset: int, end: int | None = None) -> BlobStream:
        headers = {"Accept-Encoding": "identity"}
        if offset or end is not None:
            headers["Range"] = f"bytes={offset}-{'' if end is None else end}"
        response = self._request("GET", f"blobs/sha256/{digest}", accept=(416,),
                                 headers=headers, stream=True)
        if response.status_code == 416:
            response.close()
            return self.open_blob(digest, 0)
        start = 0
        if response.status_code == 206:
            start = int(response.headers.get("Content-Range", "bytes 0-").split()[1]
                        .split("-")[0])

        def chunks() -> Iterator[bytes]:
            # read1 hands over whatever arrived, so an interrupted transfer keeps every
            # byte received before the cut (iter_content would drop the last short read).
            try:
                while chunk := response.raw.read1(CHUNK):
                    yield chunk
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise RegistryError(f"download from {self.display} interrupted: "
                                    f"{type(exc).__name__}") from exc

        return BlobStream(start, chunks(), response.close, response.status_code == 206)

    def put_package(self, ids: tuple[str, str, str], digest: str, path: pathlib.Path,
                    progress: Progress | None) -> bool:
        rel = "models/{}/{}/{}/package".format(*ids)
        size = path.stat().st_size
        with path.open("rb") as handle:
            body = ReadProgress(handle, size, progress)
            response = self._request(
                "PUT", f"{rel}?sha256={digest}", data=body,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Length": str(size)},
                timeout=(self.timeout, max(self.timeout, 600.0)))
        return response.status_code == 201

    def put_signature(self, ids: tuple[str, str, str], record: dict[str, Any]) -> bool:
        rel = "models/{}/{}/{}/signatures".format(*ids)
        return self._request("POST", rel, json=record).status_code == 201

    def yank(self, ids: tuple[str, str, str], reason: str, undo: bool) -> dict[str, Any]:
        rel = "models/{}/{}/{}/yank".format(*ids)
        if undo:
            response = self._request("DELETE", rel)
        else:
            response = self._request("POST", rel, json={"reason": reason})
        entry: dict[str, Any] = response.json()
        return entry

    def delete(self, ids: tuple[str, str, str], dry_run: bool) -> dict[str, Any]:
        rel = "models/{}/{}/{}".format(*ids) + ("?dry_run=true" if dry_run else "")
        plan: dict[str, Any] = self._request("DELETE", rel).json()
        return plan


def open_source(url: str, token: str | None, timeout: float,
                max_extract_bytes: int = DEFAULT_MAX_BYTES) -> Source:
    """A source for ``url`` by scheme."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return FileSource(url, max_extract_bytes)
    if scheme in ("http", "https"):
        return HttpSource(url, token, timeout)
    raise UsageError(f"{redact_url(url)!r}: registry URLs start with http://, https:// "
                     "or file://")
