"""``axon registry serve``: the project's registry server (Starlette on uvicorn).

It serves the static layout of :mod:`axon.registry_store` (so any web server could serve the
read side) and adds the write side, for bearer tokens (:mod:`axon.registry_tokens`):

- ``PUT /models/{ns}/{name}/{version}/package?sha256=HEX`` (write): the ``.axon`` itself. A
  version published with other content is refused with 409 before the body is read; the body
  is hashed while it streams into a private directory, then checked exactly as an install
  checks a package, and only then published. Nothing is stored on any failure.
- ``POST .../{version}/signatures`` (write): an ed25519 signature, checked before it is kept.
- ``POST``/``DELETE .../{version}/yank`` (write): yank a version, or undo it.
- ``DELETE .../{version}[?dry_run=true]`` (admin): delete a version; the answer is the plan.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import re
import time
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from axon.atomic_files import create_temp
from axon.digest import CHUNK
from axon.errors import AxonError, ConflictError, IntegrityError, NotFoundError
from axon.registry_store import DEFAULT_MAX_BYTES, RegistryStore
from axon.registry_tokens import allows, default_tokens_file, role_of
from axon.semver import Version
from axon.signing import SignatureRecord, statement

__all__ = ["build_app", "serve"]

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_IDENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _axon_error(request: Request, exc: Exception) -> Response:
    """What a handler's Axon error answers: its status and `{"error": message}`."""
    return _error(_status_for(exc), str(exc))


def _status_for(exc: Exception) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, IntegrityError):
        return 422
    return 400


def _file_response(path: pathlib.Path, request: Request, media: str) -> Response:
    size = path.stat().st_size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=31536000, immutable"}
    start, end = 0, size - 1
    status = 200
    header = request.headers.get("range")
    if header:
        match = _RANGE.match(header.strip())
        if not match or int(match.group(1)) >= size:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if end < start:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media)

    def body() -> Iterator[bytes]:
        with path.open("rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    return StreamingResponse(body(), status_code=status, headers=headers, media_type=media)


def _version_params(request: Request) -> tuple[str, str, str] | None:
    p = request.path_params
    ns, name, version = p["ns"], p["name"], p.get("version", "")
    if not (_IDENT.match(ns) and _IDENT.match(name)):
        return None
    if version:
        try:
            Version.parse(version)
        except AxonError:
            return None
    return ns, name, version


async def _receive(request: Request, directory: pathlib.Path, digest: str,
                   limit: int) -> pathlib.Path:
    """Stream the body into a private temp file, hashing it; the file, or IntegrityError."""
    fd, path = create_temp(directory, ".upload-")
    hasher = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise IntegrityError(f"upload is larger than {limit} bytes")
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != digest:
            raise IntegrityError(f"digest mismatch: expected sha256:{digest[:12]}…, got "
                                 f"sha256:{hasher.hexdigest()[:12]}…; nothing stored")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _drop_stale_uploads(private: pathlib.Path, age: float = 3600.0) -> None:
    """Remove uploads a killed server left behind (none is younger than ``age`` seconds)."""
    if not private.is_dir():
        return
    cutoff = time.time() - age
    for path in private.glob(".upload-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def build_app(root: pathlib.Path, tokens_file: pathlib.Path | None = None,
              max_upload_bytes: int = DEFAULT_MAX_BYTES,
              max_extract_bytes: int = DEFAULT_MAX_BYTES) -> Starlette:
    """The registry ASGI app over the directory ``root``."""
    store = RegistryStore(root, max_extract_bytes)
    tokens_path = tokens_file or default_tokens_file(root)
    _drop_stale_uploads(root / ".axon")

    def denied(request: Request, needed: str) -> JSONResponse | None:
        role = role_of(request.headers.get("authorization", ""), tokens_path)
        if role is None:
            return _error(401, f"a bearer token with the {needed} role is required")
        if not allows(role, needed):
            return _error(403, f"this token lacks the {needed} role")
        return None

    def version_target(request: Request, needed: str) -> tuple[str, str, str] | Response:
        """The version the path names once the caller holds the `needed` role; else the refusal
        (401/403), or 404 for a path that names no valid version."""
        if (refused := denied(request, needed)) is not None:
            return refused
        return _version_params(request) or _error(404, "not found")

    def json_file(path: pathlib.Path) -> Response:
        if not path.is_file():
            return _error(404, "not found")
        return Response(path.read_bytes(), media_type="application/json")

    async def index(request: Request) -> Response:
        if not (root / "index.json").is_file():
            return JSONResponse(store.index())
        return json_file(root / "index.json")

    async def model_index(request: Request) -> Response:
        if (ids := _version_params(request)) is None:
            return _error(404, "not found")
        return json_file(root / "models" / ids[0] / ids[1] / "index.json")

    async def version_file(request: Request) -> Response:
        if (ids := _version_params(request)) is None:
            return _error(404, "not found")
        ns, name, version = ids
        return json_file(root / "models" / ns / name / version / request.url.path.split("/")[-1])

    async def blob(request: Request) -> Response:
        digest = request.path_params["digest"]
        if not _HEX.match(digest):
            return _error(404, "not found")
        try:
            path = store.blob(digest)
        except NotFoundError:
            return _error(404, f"blob sha256:{digest} not found")
        return _file_response(path, request, "application/octet-stream")

    async def put_package(request: Request) -> Response:
        if (refused := denied(request, "write")) is not None:
            return refused
        if (ids := _version_params(request)) is None:
            return _error(400, "namespace, name or version is malformed")
        digest = request.query_params.get("sha256", "")
        if not _HEX.match(digest):
            return _error(400, "give the package's digest: ?sha256=<64 hex characters>")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes:
            return _error(413, f"upload is larger than {max_upload_bytes} bytes")
        if not store.check_new(*ids, digest):
            return JSONResponse({"created": False, "sha256": digest}, status_code=200)
        upload = await _receive(request, store.private, digest, max_upload_bytes)
        try:
            manifest, _, created = await run_in_threadpool(
                store.publish_package, upload, digest, True, ids)
        finally:
            upload.unlink(missing_ok=True)
        return JSONResponse({"created": created, "sha256": digest,
                             "ref": f"{manifest.namespace}/{manifest.name}@{manifest.version}"},
                            status_code=201 if created else 200)

    async def put_signature(request: Request) -> Response:
        if isinstance(ids := version_target(request, "write"), Response):
            return ids
        try:
            body = await request.json()
            record = SignatureRecord.from_dict(body)
            entry = store.version_entry(*ids)
            if entry is None:
                raise NotFoundError(f"{ids[0]}/{ids[1]}@{ids[2]} is not published")
            package = entry["package"]
            if not record.valid_for(statement(*ids, package["sha256"], package["size"])):
                raise IntegrityError("the signature does not match this version's package")
            created = store.add_signature(*ids, record.to_dict())
        except (ValueError, TypeError, AttributeError):
            return _error(400, "body must be a JSON signature record")
        return JSONResponse({"created": created, "key_id": record.key_id},
                            status_code=201 if created else 200)

    async def yank(request: Request) -> Response:
        if isinstance(ids := version_target(request, "write"), Response):
            return ids
        reason = ""
        if request.method == "POST" and await request.body():
            try:
                reason = str((await request.json()).get("reason", ""))[:500]
            except (ValueError, AttributeError):
                return _error(400, "body must be JSON {\"reason\": \"...\"}")
        entry = store.yank(*ids, reason, undo=request.method == "DELETE")
        return JSONResponse(entry)

    async def delete_version(request: Request) -> Response:
        if isinstance(ids := version_target(request, "admin"), Response):
            return ids
        dry = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        items = store.plan_delete(*ids) if dry else store.delete(*ids)
        return JSONResponse({"deleted": not dry, "items": items,
                             "total_bytes": sum(i["bytes"] for i in items)})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    version = "/models/{ns}/{name}/{version}"
    routes = [
        Route("/healthz", health),
        Route("/index.json", index, methods=["GET"]),
        Route("/models/{ns}/{name}/index.json", model_index, methods=["GET"]),
        Route(version + "/manifest.json", version_file, methods=["GET"]),
        Route(version + "/signatures.json", version_file, methods=["GET"]),
        Route(version + "/package", put_package, methods=["PUT"]),
        Route(version + "/signatures", put_signature, methods=["POST"]),
        Route(version + "/yank", yank, methods=["POST", "DELETE"]),
        Route(version, delete_version, methods=["DELETE"]),
        Route("/blobs/sha256/{digest}", blob, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes, exception_handlers={AxonError: _axon_error})


def serve(root: pathlib.Path, host: str = "127.0.0.1", port: int = 8090,
          tokens_file: pathlib.Path | None = None, max_upload_bytes: int = DEFAULT_MAX_BYTES,
          max_extract_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Run the registry server until interrupted."""
    import uvicorn

    root.mkdir(parents=True, exist_ok=True)
    app: Any = build_app(root, tokens_file, max_upload_bytes, max_extract_bytes)
    uvicorn.run(app, host=host, port=port, log_level="warning")
