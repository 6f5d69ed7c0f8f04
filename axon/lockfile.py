"""Lock files: the exact versions and package digests of a set of models (``axon.lock``).

``axon lock vision/resnet50@^1 demo/mlp`` resolves each reference once and writes what it
found; ``axon install --locked`` then installs exactly those versions, or fails — a registry
that now answers with other bytes for a locked version is refused, not trusted. The file keeps
the spec each entry was resolved from, so ``axon lock`` with no reference resolves them again.

::

    # Written by `axon lock`; install with `axon install --locked`.
    lock_version: 1
    registry: https://models.example.com
    models:
    - ref: demo/mlp@1.1.0
      spec: latest
      sha256: 4c1e...
      size: 18212
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from axon import strict_yaml
from axon.atomic_files import write_atomic
from axon.errors import UsageError
from axon.reference import ModelRef
from axon.registry_client import RegistryClient, Resolved
from axon.semver import Version

__all__ = ["LOCK_NAME", "LockFile", "LockedModel", "lock", "read_lock", "write_lock"]

LOCK_NAME = "axon.lock"
LOCK_VERSION = 1
_HEX = re.compile(r"^[0-9a-f]{64}$")
_HEADER = "# Written by `axon lock`; install with `axon install --locked`.\n"


@dataclass(frozen=True)
class LockedModel:
    """One pinned version: where it came from (``spec``) and what its package must be."""

    resolved: Resolved
    spec: str = "latest"

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.resolved.namespace}/{self.resolved.name}"


@dataclass(frozen=True)
class LockFile:
    """The whole file."""

    models: tuple[LockedModel, ...]
    registry: str = ""

    def find(self, key: str) -> LockedModel:
        """The entry for ``namespace/name``."""
        for model in self.models:
            if model.key == key:
                return model
        raise UsageError(f"{key} is not in the lock file; run `axon lock` with it")


def lock(client: RegistryClient, refs: Sequence[ModelRef]) -> LockFile:
    """Resolve each reference to an exact version and its package digest."""
    keys = [ref.key for ref in refs]
    if len(set(keys)) != len(keys):
        raise UsageError("each model may appear once in a lock file")
    models = tuple(LockedModel(client.resolve(ref), ref.spec)
                   for ref in sorted(refs, key=lambda r: r.key))
    return LockFile(models, client.display)


def write_lock(path: pathlib.Path, lock_file: LockFile) -> None:
    """Write ``path`` deterministically."""
    data = {"lock_version": LOCK_VERSION, "registry": lock_file.registry, "models": [
        {"ref": m.resolved.ref, "spec": m.spec, "sha256": m.resolved.sha256,
         "size": m.resolved.size} for m in lock_file.models]}
    write_atomic(path, (_HEADER + yaml.safe_dump(data, sort_keys=False)).encode())


def read_lock(path: pathlib.Path) -> LockFile:
    """Read and check a lock file; :class:`UsageError` naming what is wrong."""
    try:
        data = strict_yaml.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no lock file; write one with `axon lock REF...`") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not a lock file ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION \
            or not isinstance(data.get("models"), list):
        raise UsageError(f"{path}: not an axon lock file (lock_version {LOCK_VERSION} and "
                         "models expected)")
    models = []
    for index, entry in enumerate(data["models"]):
        where = f"{path}: models[{index}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected a mapping")
        ref = ModelRef.parse(str(entry.get("ref", "")))
        try:
            Version.parse(ref.spec)
        except UsageError:
            raise UsageError(f"{where}: ref must name an exact version, not {ref.spec!r}") \
                from None
        sha256, size = entry.get("sha256"), entry.get("size")
        if not isinstance(sha256, str) or not _HEX.match(sha256) or not isinstance(size, int) \
                or isinstance(size, bool) or size < 0:
            raise UsageError(f"{where}: needs sha256 (64 hex characters) and size (bytes)")
        models.append(LockedModel(Resolved(ref.namespace, ref.name, ref.spec, sha256, size),
                                  str(entry.get("spec", "latest"))))
    keys = [m.key for m in models]
    if len(set(keys)) != len(keys):
        raise UsageError(f"{path}: a model appears twice")
    return LockFile(tuple(models), str(data.get("registry", "")))
