"""The Axon cache: content-addressed blobs, manifests, refs and extracted models.

Layout under the cache root (``cache_dir``, default ``$AXON_HOME/cache``)::

    blobs/sha256/<hex>                       package archives, named by their digest
    manifests/<ns>/<name>/<version>.json     verified manifest + package digest of a version
    models/<ns>/<name>/<version>/            the extracted, verified model directory
    refs/<ns>/<name>/<version>               package digest; written last: "installed"
    tmp/                                     partial downloads and extraction staging
    locks/                                   file locks for concurrent installs

A version counts as installed only when its ref exists, and the ref is written after
everything else is in place, so an interrupted install never looks installed. Scans return
frozen dataclasses; destructive actions return a :class:`Plan` that can be shown, skipped
(``--dry-run``) or executed.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from dataclasses import dataclass, field
from typing import Any

from filelock import FileLock

from axon.atomic_files import make_temp_dir, write_atomic
from axon.blobstore import blob_path
from axon.digest import sha256_file
from axon.errors import NotFoundError
from axon.manifest import Manifest, parse_manifest
from axon.semver import best_match

__all__ = ["Cache", "CachedModel", "Plan", "PlanItem", "Problem"]


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

    @property
    def ref(self) -> str:
        """``ns/name@version``."""
        return f"{self.namespace}/{self.name}@{self.version}"


@dataclass(frozen=True)
class PlanItem:
    """One path a plan deletes, its size and why."""

    path: pathlib.Path
    bytes: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """What a destructive action would delete."""

    action: str
    items: tuple[PlanItem, ...] = ()

    @property
    def total_bytes(self) -> int:
        """Bytes freed."""
        return sum(item.bytes for item in self.items)


@dataclass(frozen=True)
class Problem:
    """A corruption found by :meth:`Cache.verify`."""

    path: pathlib.Path
    message: str


def _size(path: pathlib.Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def _delete(path: pathlib.Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
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
        """A cross-process lock named ``name`` (e.g. ``model-ns-name-1.0.0``)."""
        return FileLock(str(self.dir("locks") / f"{name}.lock"))

    def staging(self) -> pathlib.Path:
        """A fresh temp directory inside the cache (same filesystem as the targets)."""
        return make_temp_dir(self.dir("tmp"), "stage-")

    def model_dir(self, namespace: str, name: str, version: str) -> pathlib.Path:
        """Where an extracted version lives."""
        return self._dirs["models"] / namespace / name / version

    def _ref(self, namespace: str, name: str, version: str) -> pathlib.Path:
        return self._dirs["refs"] / namespace / name / version

    def _record(self, namespace: str, name: str, version: str) -> pathlib.Path:
        return self._dirs["manifests"] / namespace / name / f"{version}.json"

    # -- scans --------------------------------------------------------------------------

    def get(self, namespace: str, name: str, version: str) -> CachedModel | None:
        """The installed version, or None."""
        ref = self._ref(namespace, name, version)
        if not ref.is_file():
            return None
        record = json.loads(self._record(namespace, name, version).read_text("utf-8"))
        path = self.model_dir(namespace, name, version)
        return CachedModel(namespace, name, version, ref.read_text("utf-8").strip(), path,
                           record["package"]["size"], record.get("source", ""))

    def manifest(self, model: CachedModel) -> Manifest:
        """The verified manifest of an installed version."""
        record = json.loads(self._record(model.namespace, model.name, model.version)
                            .read_text("utf-8"))
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
               source: str) -> CachedModel:
        """Move a verified extraction into place and mark it installed (ref last).

        The caller holds the model's lock.
        """
        ns, name, version = manifest.namespace, manifest.name, manifest.version
        target = self.model_dir(ns, name, version)
        if target.exists():
            _delete(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
        record: dict[str, Any] = {"manifest": manifest.to_dict(),
                                  "package": {"sha256": sha256, "size": size},
                                  "source": source}
        write_atomic(self._record(ns, name, version),
                      json.dumps(record, indent=2, sort_keys=True).encode())
        write_atomic(self._ref(ns, name, version), (sha256 + "\n").encode())
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

    # -- plans --------------------------------------------------------------------------

    def plan_remove(self, model: CachedModel) -> Plan:
        """Delete one installed version (and its blob when no other version uses it)."""
        ns, name, version = model.namespace, model.name, model.version
        items = [PlanItem(self._ref(ns, name, version), 0, "ref"),
                 PlanItem(model.path, _size(model.path) if model.path.exists() else 0,
                          "model files"),
                 PlanItem(self._record(ns, name, version), 0, "manifest")]
        others = {m.sha256 for m in self.installed() if m.ref != model.ref}
        blob = self.blob(model.sha256)
        if model.sha256 not in others and blob.exists():
            items.append(PlanItem(blob, blob.stat().st_size, "package blob"))
        return Plan(f"remove {model.ref}", tuple(items))

    def plan_gc(self) -> Plan:
        """Delete what no installed version needs: stray blobs, temp files, orphans."""
        installed = self.installed()
        keep_blobs = {m.sha256 for m in installed}
        keep_models = {m.path for m in installed}
        items: list[PlanItem] = []
        tmp = self._dirs["tmp"]
        if tmp.is_dir():
            items += [PlanItem(p, _size(p), "temporary or partial download")
                      for p in sorted(tmp.iterdir())]
        blobs = self._dirs["blobs"] / "sha256"
        if blobs.is_dir():
            items += [PlanItem(p, p.stat().st_size, "blob of no installed version")
                      for p in sorted(blobs.iterdir()) if p.name not in keep_blobs]
        models = self._dirs["models"]
        if models.is_dir():
            items += [PlanItem(p, _size(p), "model directory that is not installed")
                      for p in sorted(models.glob("*/*/*")) if p not in keep_models]
        manifests = self._dirs["manifests"]
        if manifests.is_dir():
            for path in sorted(manifests.glob("*/*/*.json")):
                ns, name = path.relative_to(manifests).parts[:2]
                if self.get(ns, name, path.stem) is None:
                    items.append(PlanItem(path, path.stat().st_size,
                                          "manifest of no installed version"))
        return Plan("gc", tuple(items))

    def execute(self, plan: Plan) -> None:
        """Carry out a plan, in order (refs first, so nothing looks half-installed)."""
        for item in plan.items:
            _delete(item.path)
