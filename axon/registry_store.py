"""A registry on disk: the layout a static web server can host, and the writes that keep it.

Layout under the registry root (also the URL layout, see ``spec/registry.openapi.yaml``)::

    index.json                                     every model with a visible version, for search
    models/<ns>/<name>/index.json                  versions of one model (yanked ones marked)
    models/<ns>/<name>/<version>/manifest.json     the manifest of one version
    models/<ns>/<name>/<version>/signatures.json   ed25519 signatures of the version, if any
    blobs/sha256/<hex>                             package archives by digest
    .axon/                                         tokens, locks, uploads in progress (private)

A package is published only after it passes the checks an install makes — the same code,
:func:`axon.extraction.extract`, run without writing files — so a registry never holds a
package that no client would install. Versions are immutable: publishing the same version
again with the same package is a no-op, with a different package a :class:`ConflictError`
(checked before anything is stored). Yanked versions stay installable by exact version but
leave ``latest`` and search; deleting a version removes it and any blob no other version uses.
Every file is written to a temp file and renamed, under one lock, so readers never see a
half-written index.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from typing import Any

from filelock import FileLock

from axon.atomic_files import write_atomic
from axon.blobstore import BlobWriter, blob_path
from axon.digest import CHUNK, sha256_file
from axon.errors import ConflictError, IntegrityError, NotFoundError, UsageError
from axon.extraction import extract
from axon.manifest import Manifest
from axon.semver import Version

__all__ = ["REGISTRY_VERSION", "RegistryStore"]

REGISTRY_VERSION = 1
DEFAULT_MAX_BYTES = 64 * 2**30


def _write_json(path: pathlib.Path, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _read_json(path: pathlib.Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"{what} not found") from exc


class RegistryStore:
    """Read and write a registry directory."""

    def __init__(self, root: pathlib.Path, max_extract_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.max_extract_bytes = max_extract_bytes

    @property
    def private(self) -> pathlib.Path:
        """``ROOT/.axon``: never served (tokens, locks, uploads in progress)."""
        path = self.root / ".axon"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _lock(self) -> FileLock:
        return FileLock(str(self.private / "write.lock"))

    def _model_dir(self, namespace: str, name: str) -> pathlib.Path:
        return self.root / "models" / namespace / name

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
        data: dict[str, Any] = _read_json(self._model_dir(namespace, name) / "index.json",
                                          f"model {namespace}/{name}")
        return data

    def version_entry(self, namespace: str, name: str, version: str) -> dict[str, Any] | None:
        """The index entry of one version, or None."""
        try:
            doc = self.versions(namespace, name)
        except NotFoundError:
            return None
        for entry in doc.get("versions", []):
            if entry["version"] == version:
                found: dict[str, Any] = entry
                return found
        return None

    def manifest(self, namespace: str, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version."""
        data: dict[str, Any] = _read_json(
            self._model_dir(namespace, name) / version / "manifest.json",
            f"{namespace}/{name}@{version}")
        return data

    def signatures(self, namespace: str, name: str, version: str) -> list[dict[str, Any]]:
        """The signatures recorded for one version (none if it has none)."""
        path = self._model_dir(namespace, name) / version / "signatures.json"
        if not path.exists():
            return []
        found: list[dict[str, Any]] = _read_json(path, "signatures")["signatures"]
        return found

    def blob(self, digest: str) -> pathlib.Path:
        """Path of a blob; :class:`NotFoundError` if absent."""
        path = blob_path(self.blobs, digest)
        if not path.is_file():
            raise NotFoundError(f"blob sha256:{digest} not found")
        return path

    # -- publishing ----------------------------------------------------------------------

    def check_new(self, namespace: str, name: str, version: str, sha256: str) -> bool:
        """Before any upload: True if the version is new, False if published with these bytes.

        Raises :class:`ConflictError` when it is published with other content.
        """
        entry = self.version_entry(namespace, name, version)
        if entry is None:
            return True
        if entry["package"]["sha256"] != sha256:
            raise ConflictError(f"{namespace}/{name}@{version} is already published with "
                                "other content; publish a new version")
        return False

    def publish_package(self, package: pathlib.Path, sha256: str | None = None,
                        move: bool = False, expect: tuple[str, str, str] | None = None,
                        ) -> tuple[Manifest, str, bool]:
        """Check a ``.axon`` file as an install would, then publish it.

        Returns the manifest, the package digest and whether the version is new. Nothing is
        stored unless every check passes (and, with ``expect``, the package is that
        namespace, name and version); ``move`` renames ``package`` into the blob store (same
        filesystem) instead of copying it.
        """
        digest, size = sha256_file(package)
        if sha256 is not None and digest != sha256:
            raise IntegrityError(f"digest mismatch: expected sha256:{sha256[:12]}…, got "
                                 f"sha256:{digest[:12]}…")
        manifest = extract(package, None, self.max_extract_bytes)
        ns, name, version = manifest.namespace, manifest.name, manifest.version
        if expect is not None and expect != (ns, name, version):
            raise UsageError(f"the package is {ns}/{name}@{version}, not "
                             f"{expect[0]}/{expect[1]}@{expect[2]}")
        with self._lock():
            if not self.check_new(ns, name, version, digest):
                return manifest, digest, False
            target = blob_path(self.blobs, digest)
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                if move:
                    os.replace(package, target)
                else:
                    with BlobWriter(self.blobs, digest, size) as writer, \
                            package.open("rb") as handle:
                        while chunk := handle.read(CHUNK):
                            writer.write(chunk)
                        writer.commit()
            _write_json(self._model_dir(ns, name) / version / "manifest.json",
                        manifest.to_dict())
            try:
                doc = self.versions(ns, name)
            except NotFoundError:
                doc = {"namespace": ns, "name": name, "versions": []}
            doc["versions"].append({"version": version,
                                    "package": {"sha256": digest, "size": size}})
            self._save_model(doc)
        return manifest, digest, True

    def add_signature(self, namespace: str, name: str, version: str,
                      signature: dict[str, Any]) -> bool:
        """Record a signature (already verified by the caller); True if it is new."""
        with self._lock():
            if self.version_entry(namespace, name, version) is None:
                raise NotFoundError(f"{namespace}/{name}@{version} is not published")
            found = self.signatures(namespace, name, version)
            if any(s["key_id"] == signature["key_id"] and s["signature"] ==
                   signature["signature"] for s in found):
                return False
            found = [s for s in found if s["key_id"] != signature["key_id"]] + [signature]
            _write_json(self._model_dir(namespace, name) / version / "signatures.json",
                        {"signatures": found})
        return True

    # -- lifecycle -----------------------------------------------------------------------

    def yank(self, namespace: str, name: str, version: str, reason: str = "",
             undo: bool = False) -> dict[str, Any]:
        """Mark a version yanked (or not); return its index entry."""
        with self._lock():
            doc = self.versions(namespace, name)
            entry = next((e for e in doc["versions"] if e["version"] == version), None)
            if entry is None:
                raise NotFoundError(f"{namespace}/{name}@{version} is not published")
            entry.pop("yanked", None)
            entry.pop("yanked_reason", None)
            if not undo:
                entry["yanked"] = True
                if reason:
                    entry["yanked_reason"] = reason
            self._save_model(doc)
            result: dict[str, Any] = dict(entry)
        return result

    def plan_delete(self, namespace: str, name: str, version: str) -> list[dict[str, Any]]:
        """What deleting a version removes: its directory and a blob no other version uses."""
        entry = self.version_entry(namespace, name, version)
        if entry is None:
            raise NotFoundError(f"{namespace}/{name}@{version} is not published")
        folder = self._model_dir(namespace, name) / version
        items = [{"path": str(folder.relative_to(self.root)),
                  "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
                  "reason": "manifest and signatures"}]
        digest = entry["package"]["sha256"]
        if not any(e["package"]["sha256"] == digest and
                   (m["namespace"], m["name"], e["version"]) != (namespace, name, version)
                   for m in self._all_models() for e in m["versions"]):
            blob = blob_path(self.blobs, digest)
            if blob.is_file():
                items.append({"path": str(blob.relative_to(self.root)),
                              "bytes": blob.stat().st_size, "reason": "package blob"})
        return items

    def delete(self, namespace: str, name: str, version: str) -> list[dict[str, Any]]:
        """Delete a version (see :meth:`plan_delete`); return what was removed."""
        with self._lock():
            items = self.plan_delete(namespace, name, version)
            doc = self.versions(namespace, name)
            doc["versions"] = [e for e in doc["versions"] if e["version"] != version]
            self._save_model(doc)
            for item in items:
                path = self.root / item["path"]
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        return items

    # -- indexes -------------------------------------------------------------------------

    def _all_models(self) -> list[dict[str, Any]]:
        models = self.root / "models"
        return [json.loads(p.read_text("utf-8")) for p in sorted(models.glob("*/*/index.json"))] \
            if models.is_dir() else []

    def _save_model(self, doc: dict[str, Any]) -> None:
        """Sort versions, recompute ``latest``, write the model index and its search entry."""
        ns, name = doc["namespace"], doc["name"]
        folder = self._model_dir(ns, name)
        ordered = sorted(doc["versions"], key=lambda v: Version.parse(v["version"]))
        visible = [v["version"] for v in ordered if not v.get("yanked")]
        stable = [v for v in visible if not Version.parse(v).prerelease]
        doc["versions"] = ordered
        doc["latest"] = (stable or visible or [""])[-1]
        if not ordered:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            _write_json(folder / "index.json", doc)
        index = self.index()
        models = {(m["namespace"], m["name"]): m for m in index["models"]}
        models.pop((ns, name), None)
        if visible:
            latest = self.manifest(ns, name, doc["latest"])
            models[(ns, name)] = {
                "namespace": ns, "name": name, "latest": doc["latest"], "versions": visible,
                "description": latest.get("description", ""), "tags": latest.get("tags", []),
                "framework": latest["framework"]["name"], "task": latest.get("task", ""),
            }
        index["models"] = [models[k] for k in sorted(models)]
        index["registry_version"] = REGISTRY_VERSION
        _write_json(self.root / "index.json", index)
