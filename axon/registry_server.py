"""``axon registry serve``: the project's registry server (Starlette on uvicorn).

It serves the static layout of :mod:`axon.registry_store` (so any web server could serve the
read side) and adds the write side: ``PUT`` of blobs and versions, allowed to bearer tokens with
the ``write`` role. Tokens are stored as sha256 hashes in a YAML file; see
:func:`create_token`.
"""

from __future__ import annotations

import hashlib
import hmac
import pathlib
import re
import secrets
from collections.abc import Iterator
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from axon import strict_yaml
from axon.atomic_files import write_atomic
from axon.blobstore import BlobWriter
from axon.digest import CHUNK
from axon.errors import AxonError, ConflictError, IntegrityError, NotFoundError, UsageError
from axon.registry_store import RegistryStore

__all__ = ["ROLES", "build_app", "create_token", "default_tokens_file", "load_tokens", "serve"]

ROLES = ("read", "write")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_IDENT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def default_tokens_file(root: pathlib.Path) -> pathlib.Path:
    """``ROOT/.axon/tokens.yaml`` (never served)."""
    return root / ".axon" / "tokens.yaml"


def load_tokens(path: pathlib.Path) -> dict[str, str]:
    """Map of token sha256 → role."""
    if not path.exists():
        return {}
    data = strict_yaml.load(path.read_text(encoding="utf-8")) or {}
    return {t["sha256"]: t["role"] for t in data.get("tokens", [])}


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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _status_for(exc: AxonError) -> int:
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


def build_app(root: pathlib.Path, tokens_file: pathlib.Path | None = None,
              max_upload_bytes: int = 64 * 2**30) -> Starlette:
    """The registry ASGI app over the directory ``root``."""
    store = RegistryStore(root)
    tokens_path = tokens_file or default_tokens_file(root)

    def role_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        for known, role in load_tokens(tokens_path).items():
            if hmac.compare_digest(known, digest):
                return role
        return None

    def require_write(request: Request) -> JSONResponse | None:
        role = role_of(request)
        if role is None:
            return _error(401, "a bearer token with the write role is required")
        if role != "write":
            return _error(403, "this token lacks the write role")
        return None

    def json_file(path: pathlib.Path) -> Response:
        if not path.is_file():
            return _error(404, "not found")
        return Response(path.read_bytes(), media_type="application/json")

    async def index(request: Request) -> Response:
        if not (root / "index.json").is_file():
            return JSONResponse(store.index())
        return json_file(root / "index.json")

    async def model_index(request: Request) -> Response:
        p = request.path_params
        if not (_IDENT.match(p["ns"]) and _IDENT.match(p["name"])):
            return _error(404, "not found")
        return json_file(root / "models" / p["ns"] / p["name"] / "index.json")

    async def manifest(request: Request) -> Response:
        p = request.path_params
        if not (_IDENT.match(p["ns"]) and _IDENT.match(p["name"])) or "/" in p["version"] \
                or p["version"].startswith("."):
            return _error(404, "not found")
        return json_file(root / "models" / p["ns"] / p["name"] / p["version"] / "manifest.json")

    async def blob(request: Request) -> Response:
        digest = request.path_params["digest"]
        if not _HEX.match(digest):
            return _error(404, "not found")
        if request.method in ("GET", "HEAD"):
            try:
                path = store.blob(digest)
            except NotFoundError:
                return _error(404, f"blob sha256:{digest} not found")
            return _file_response(path, request, "application/octet-stream")
        if (denied := require_write(request)) is not None:
            return denied
        declared = request.headers.get("content-length")
        if declared is not None and int(declared) > max_upload_bytes:
            return _error(413, "upload too large")
        if (root / "blobs" / "sha256" / digest).is_file():
            async for _ in request.stream():
                pass
            return JSONResponse({"sha256": digest, "created": False}, status_code=200)
        writer = BlobWriter(root / "blobs", digest, max_size=max_upload_bytes)
        try:
            async for chunk in request.stream():
                writer.write(chunk)
            created = writer.commit()
        except IntegrityError as exc:
            return _error(422, str(exc))
        finally:
            writer.abort()
        return JSONResponse({"sha256": digest, "created": created},
                            status_code=201 if created else 200)

    async def put_version(request: Request) -> Response:
        if (denied := require_write(request)) is not None:
            return denied
        try:
            body = await request.json()
            manifest_doc, package = body["manifest"], body["package"]
            p = request.path_params
            if (manifest_doc.get("namespace"), manifest_doc.get("name"),
                    manifest_doc.get("version")) != (p["ns"], p["name"], p["version"]):
                return _error(400, "the manifest's namespace/name/version differ from the URL")
            created = store.publish(manifest_doc, str(package["sha256"]), int(package["size"]))
        except AxonError as exc:
            return _error(_status_for(exc), str(exc))
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(400, "body must be JSON {manifest: {...}, package: {sha256, size}}")
        return JSONResponse({"created": created}, status_code=201 if created else 200)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/healthz", health),
        Route("/index.json", index, methods=["GET"]),
        Route("/models/{ns}/{name}/index.json", model_index, methods=["GET"]),
        Route("/models/{ns}/{name}/{version}/manifest.json", manifest, methods=["GET"]),
        Route("/models/{ns}/{name}/{version}", put_version, methods=["PUT"]),
        Route("/blobs/sha256/{digest}", blob, methods=["GET", "HEAD", "PUT"]),
    ]
    return Starlette(routes=routes)


def serve(root: pathlib.Path, host: str = "127.0.0.1", port: int = 8090,
          tokens_file: pathlib.Path | None = None) -> None:
    """Run the registry server until interrupted."""
    import uvicorn

    root.mkdir(parents=True, exist_ok=True)
    uvicorn.run(build_app(root, tokens_file), host=host, port=port, log_level="warning")
