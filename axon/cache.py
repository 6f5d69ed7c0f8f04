"""The Axon cache: content-addressed blobs, manifests, refs and extracted models.

Layout under the cache root (``cache_dir``, default ``$AXON_HOME/cache``)::

    blobs/sha256/<hex>                       package archives, named by their digest
    manifests/<ns>/<name>/<version>.json     verified manifest + package digest of a version
    models/<ns>/<name>/<version>/            the extracted, verified model directory
    refs/<ns>/<name>/<version>               package digest; written last: "installed"
    tmp/                                     partial downloads and extraction staging
    locks/                                   file locks for installs, removals and gc

A version counts as installed only when its ref exists, and the ref is written after
everything else is in place, so an interrupted install never looks installed. An install holds
the model's lock (``model-<ns>-<name>-<version>``) and the package's (``blob-<hex>``) from the
download to the ref; removal and gc take the same locks, so they never delete what an install
is using. Scans return frozen dataclasses; destructive actions return a :class:`Plan` (see
:mod:`axon.cleanup`) that can be shown, skipped (``--dry-run``) or executed.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from filelock import FileLock

from axon.atomic_files import make_temp_dir, write_atomic
from axon.blobstore import blob_path
from axon.digest import sha256_file
from axon.errors import NotFoundError
from axon.manifest import Manifest, parse_manifest
from axon.semver import best_match

__all__ = ["Cache", "CachedModel", "Problem", "blob_lock", "delete_path", "model_lock",
           "tree_size"]


def model_lock(namespace: str, name: str, version: str) -> str:
    """The lock an install, removal or gc of one version holds."""
    return f"model-{namespace}-{name}-{version}"


def blob_lock(digest: str) -> str:
    """The lock a download, install or gc of one package blob holds."""
    return f"blob-{digest}"


@dataclass(frozen=True)
class CachedModel:
    """An installed version."""

    namespace: str
    name: str
    version: str
    sha256: str
    path: pathlib.Path
    size: int
    source: str
    signed_by: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``ns/name@version``."""
        return f"{self.namespace}/{self.name}@{self.version}"


@dataclass(frozen=True)
class Problem:
    """A corruption found by :meth:`Cache.verify`."""

    path: pathlib.Path
    message: str


def tree_size(path: pathlib.Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def delete_path(path: pathlib.Path) -> None:
    """Remove a file or a directory tree; nothing if it is gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass
class Cache:
    """A cache rooted at ``root`` (created on first write)."""

    root: pathlib.Path
    _dirs: dict[str, pathlib.Path] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._dirs = {n: self.root / n for n in
                      ("blobs", "manifests", "models", "refs", "tmp", "locks")}

    def dir(self, name: str) -> pathlib.Path:
        """One of the layout directories, created if missing."""
        path = self._dirs[name]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def blob(self, digest: str) -> pathlib.Path:
        """Where the blob with ``digest`` lives (it may not exist)."""
        return blob_path(self._dirs["blobs"], digest)

    def lock(self, name: str) -> FileLock:
        """A cross-process lock named ``name`` (see :func:`model_lock`, :func:`blob_lock`)."""
        return FileLock(str(self.dir("locks") / f"{name}.lock"))

    def staging(self, lock: str) -> pathlib.Path:
        """A fresh temp directory for the holder of ``lock`` (same filesystem as the targets).

        Its name, ``stage-<lock>-<random>``, tells gc which lock to try before deleting it.
        """
        return make_temp_dir(self.dir("tmp"), f"stage-{lock}-")

    def partial(self, digest: str) -> pathlib.Path:
        """Where a download of ``digest`` collects its bytes."""
        return self.dir("tmp") / f"sha256-{digest}.partial"

    def model_dir(self, namespace: str, name: str, version: str) -> pathlib.Path:
        """Where an extracted version lives."""
        return self._dirs["models"] / namespace / name / version

    def ref_path(self, namespace: str, name: str, version: str) -> pathlib.Path:
        """The ref file that marks a version installed."""
        return self._dirs["refs"] / namespace / name / version

    def record_path(self, namespace: str, name: str, version: str) -> pathlib.Path:
        """The record (manifest, package digest, source) of a version."""
        return self._dirs["manifests"] / namespace / name / f"{version}.json"

    # -- scans --------------------------------------------------------------------------

    def _read_record(self, namespace: str, name: str, version: str) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(
                self.record_path(namespace, name, version).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return record

    def get(self, namespace: str, name: str, version: str) -> CachedModel | None:
        """The installed version, or None."""
        ref = self.ref_path(namespace, name, version)
        try:
            digest = ref.read_text("utf-8").strip()
        except (FileNotFoundError, IsADirectoryError):
            return None
        record = self._read_record(namespace, name, version)
        if record is None:
            return None
        path = self.model_dir(namespace, name, version)
        return CachedModel(namespace, name, version, digest, path, record["package"]["size"],
                           record.get("source", ""), tuple(record.get("signed_by", ())))

    def manifest(self, model: CachedModel) -> Manifest:
        """The verified manifest of an installed version."""
        record = self._read_record(model.namespace, model.name, model.version)
        if record is None:
            raise NotFoundError(f"{model.ref} is not installed")
        return parse_manifest(record["manifest"], f"cached manifest of {model.ref}")

    def installed(self) -> list[CachedModel]:
        """Every installed version, sorted."""
        refs = self._dirs["refs"]
        found = []
        if refs.is_dir():
            for ref in sorted(refs.glob("*/*/*")):
                if ref.is_file() and not ref.name.startswith("."):
                    ns, name, version = ref.relative_to(refs).parts
                    model = self.get(ns, name, version)
                    if model is not None:
                        found.append(model)
        return found

    def find(self, namespace: str, name: str, spec: str) -> CachedModel:
        """The best installed version of ``namespace/name`` matching ``spec``."""
        versions = {m.version: m for m in self.installed()
                    if (m.namespace, m.name) == (namespace, name)}
        match = best_match(versions, spec)
        if match is None:
            raise NotFoundError(f"{namespace}/{name}@{spec} is not installed "
                                f"(installed: {', '.join(versions) or 'none'})")
        return versions[match]

    # -- writes -------------------------------------------------------------------------

    def commit(self, staging: pathlib.Path, manifest: Manifest, sha256: str, size: int,
               source: str, extra: Mapping[str, Any] | None = None) -> CachedModel:
        """Move a verified extraction into place and mark it installed (ref last).

        An installed version of the same ref is replaced only now that the new one is complete
        and verified: its ref goes first (so a crash in between leaves "not installed", never a
        mix), the directories are swapped, then the record and the new ref are written and the
        old directory deleted. The caller holds the model's lock.
        """
        ns, name, version = manifest.namespace, manifest.name, manifest.version
        target = self.model_dir(ns, name, version)
        self.ref_path(ns, name, version).unlink(missing_ok=True)
        old: pathlib.Path | None = None
        if target.exists():
            old = self.dir("tmp") / f"old-{model_lock(ns, name, version)}-{os.getpid()}"
            delete_path(old)
            os.replace(target, old)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
        record: dict[str, Any] = {"manifest": manifest.to_dict(),
                                  "package": {"sha256": sha256, "size": size},
                                  "source": source, **(extra or {})}
        write_atomic(self.record_path(ns, name, version),
                     json.dumps(record, indent=2, sort_keys=True).encode())
        write_atomic(self.ref_path(ns, name, version), (sha256 + "\n").encode())
        if old is not None:
            delete_path(old)
        model = self.get(ns, name, version)
        assert model is not None
        return model

    # -- verification -------------------------------------------------------------------

    def verify(self) -> tuple[int, list[Problem]]:
        """Re-hash every blob and every installed file; return (files checked, problems)."""
        problems: list[Problem] = []
        checked = 0
        blobs = self._dirs["blobs"] / "sha256"
        if blobs.is_dir():
            for path in sorted(blobs.iterdir()):
                if path.name.startswith("."):
                    continue
                checked += 1
                digest, _ = sha256_file(path)
                if digest != path.name:
                    problems.append(Problem(path, f"blob content hashes to {digest[:12]}…"))
        for model in self.installed():
            count, found = self.verify_model(model)
            checked += count
            problems += found
        return checked, problems

    def verify_model(self, model: CachedModel) -> tuple[int, list[Problem]]:
        """Re-hash one installed version's files against its manifest."""
        problems: list[Problem] = []
        manifest = self.manifest(model)
        for item in manifest.files:
            path = model.path / item.path
            if not path.is_file():
                problems.append(Problem(path, f"{model.ref}: {item.path} is missing"))
                continue
            digest, size = sha256_file(path)
            if (digest, size) != (item.sha256, item.size):
                problems.append(Problem(path, f"{model.ref}: {item.path} does not match "
                                              "its manifest digest"))
        return len(manifest.files), problems
