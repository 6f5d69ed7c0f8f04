"""A registry on disk: the layout a static web server can host, and the writes that keep it.

Layout under the registry root (also the URL layout, see ``spec/registry.openapi.yaml``)::

    index.json                                     every model, for search
    models/<ns>/<name>/index.json                  versions of one model
    models/<ns>/<name>/<version>/manifest.json     the manifest of one version
    blobs/sha256/<hex>                             package archives by digest

Versions are immutable: publishing the same version again with the same package is a no-op,
with a different package a :class:`ConflictError`. Every file is written to a temp file and
renamed, under one lock, so readers never see a half-written index.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable
from typing import Any

from filelock import FileLock

from axon.atomic_files import write_atomic
from axon.blobstore import BlobWriter, blob_path
from axon.errors import ConflictError, IntegrityError, NotFoundError
from axon.manifest import parse_manifest
from axon.semver import Version

__all__ = ["REGISTRY_VERSION", "RegistryStore"]

REGISTRY_VERSION = 1


def _write_json(path: pathlib.Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _read_json(path: pathlib.Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"{what} not found") from exc


class RegistryStore:
    """Read and write a registry directory."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.blobs = root / "blobs"

    def _lock(self) -> FileLock:
        (self.root / ".axon").mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".axon" / "write.lock"))

    # -- reads ---------------------------------------------------------------------------

    def index(self) -> dict[str, Any]:
        """The search index (empty if nothing was published yet)."""
        path = self.root / "index.json"
        if not path.exists():
            return {"registry_version": REGISTRY_VERSION, "models": []}
        data: dict[str, Any] = _read_json(path, "registry index")
        return data

    def versions(self, namespace: str, name: str) -> dict[str, Any]:
        """The version list of one model."""
        data: dict[str, Any] = _read_json(
            self.root / "models" / namespace / name / "index.json", f"model {namespace}/{name}")
        return data

    def manifest(self, namespace: str, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version."""
        data: dict[str, Any] = _read_json(
            self.root / "models" / namespace / name / version / "manifest.json",
            f"{namespace}/{name}@{version}")
        return data

    def blob(self, digest: str) -> pathlib.Path:
        """Path of a blob; :class:`NotFoundError` if absent."""
        path = blob_path(self.blobs, digest)
        if not path.is_file():
            raise NotFoundError(f"blob sha256:{digest} not found")
        return path

    # -- writes --------------------------------------------------------------------------

    def put_blob(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> bool:
        """Store a blob, verifying its digest; return True if it is new."""
        if blob_path(self.blobs, digest).is_file():
            for _ in chunks:
                pass
            return False
        with BlobWriter(self.blobs, digest, size) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def publish(self, manifest: dict[str, Any], package_sha256: str, package_size: int) -> bool:
        """Record a version whose package blob is already stored; return True if it is new."""
        parsed = parse_manifest(manifest, "published manifest")
        blob = self.blob(package_sha256)
        if blob.stat().st_size != package_size:
            raise IntegrityError(f"package blob has {blob.stat().st_size} bytes, "
                                 f"not {package_size}")
        ns, name, version = parsed.namespace, parsed.name, parsed.version
        entry = {"version": version, "package": {"sha256": package_sha256, "size": package_size}}
        with self._lock():
            try:
                doc = self.versions(ns, name)
            except NotFoundError:
                doc = {"namespace": ns, "name": name, "versions": []}
            existing = {v["version"]: v for v in doc["versions"]}
            if version in existing:
                if existing[version]["package"] != entry["package"]:
                    raise ConflictError(f"{ns}/{name}@{version} is already published with "
                                        "other content; publish a new version")
                return False
            _write_json(self.root / "models" / ns / name / version / "manifest.json",
                        parsed.to_dict())
            existing[version] = entry
            ordered = sorted(existing.values(), key=lambda v: Version.parse(v["version"]))
            stable = [v["version"] for v in ordered if not Version.parse(v["version"]).prerelease]
            doc["versions"] = ordered
            doc["latest"] = (stable or [ordered[-1]["version"]])[-1]
            _write_json(self.root / "models" / ns / name / "index.json", doc)
            self._update_index(parsed.to_dict(), doc)
        return True

    def _update_index(self, manifest: dict[str, Any], doc: dict[str, Any]) -> None:
        index = self.index()
        models = {(m["namespace"], m["name"]): m for m in index["models"]}
        latest = manifest if manifest["version"] == doc["latest"] else None
        key = (doc["namespace"], doc["name"])
        summary = dict(models.get(key, {}))
        summary.update({"namespace": doc["namespace"], "name": doc["name"],
                        "latest": doc["latest"],
                        "versions": [v["version"] for v in doc["versions"]]})
        if latest is not None or "description" not in summary:
            summary["description"] = manifest.get("description", "")
            summary["tags"] = manifest.get("tags", [])
            summary["framework"] = manifest["framework"]["name"]
            summary["task"] = manifest.get("task", "")
        models[key] = summary
        index["models"] = [models[k] for k in sorted(models)]
        index["registry_version"] = REGISTRY_VERSION
        _write_json(self.root / "index.json", index)
