"""Plans that delete from the cache (remove, gc, the sweep before an install) and their
execution under the same locks installs hold.

A plan lists what would go, with sizes and reasons, and the lock each item needs. Executing it
takes each lock (waiting for a removal, trying once for gc: an item in use is skipped, not
waited for), checks again under the lock that the item is still garbage, then deletes it. So gc
run during an install leaves the install's partial download, staging directory and fresh blob
alone, and a removal never deletes a version an install has just put back.

Temporary entries under ``tmp/`` name their lock: ``stage-<lock>-<random>`` and
``old-<lock>-<random>`` (extraction staging, a replaced version on its way out) are stale as
soon as their lock is free; ``sha256-<hex>.partial*`` (a download, kept for resuming) is stale
when ``blob-<hex>`` is free and it is older than the grace period; anything else when it is
older than the grace period.
"""

from __future__ import annotations

import itertools
import pathlib
import time
from dataclasses import dataclass
from typing import Literal

from filelock import Timeout

from axon.cache import Cache, CachedModel, blob_lock, delete_path, model_lock, tree_size

__all__ = ["Plan", "PlanItem", "execute", "plan_gc", "plan_remove", "sweep"]

Kind = Literal["ref", "model", "record", "blob", "tmp"]


@dataclass(frozen=True)
class PlanItem:
    """One path a plan deletes, its size, why, and the lock held while deleting it."""

    path: pathlib.Path
    bytes: int
    reason: str
    kind: Kind = "tmp"
    lock: str | None = None


@dataclass(frozen=True)
class Plan:
    """What a destructive action would delete; ``wait``: wait for locks, or skip busy items."""

    action: str
    items: tuple[PlanItem, ...] = ()
    wait: bool = True

    @property
    def total_bytes(self) -> int:
        """Bytes freed."""
        return sum(item.bytes for item in self.items)


def plan_remove(cache: Cache, model: CachedModel) -> Plan:
    """Delete one installed version (and its blob when no other version uses it)."""
    ns, name, version = model.namespace, model.name, model.version
    lock = model_lock(ns, name, version)
    items = [PlanItem(cache.ref_path(ns, name, version), 0, "ref", "ref", lock),
             PlanItem(model.path, tree_size(model.path) if model.path.exists() else 0,
                      "model files", "model", lock),
             PlanItem(cache.record_path(ns, name, version), 0, "manifest", "record", lock)]
    others = {m.sha256 for m in cache.installed() if m.ref != model.ref}
    blob = cache.blob(model.sha256)
    if model.sha256 not in others and blob.exists():
        items.append(PlanItem(blob, blob.stat().st_size, "package blob", "blob",
                              blob_lock(model.sha256)))
    return Plan(f"remove {model.ref}", tuple(items))


def _busy(cache: Cache, lock: str) -> bool:
    handle = cache.lock(lock)
    try:
        handle.acquire(timeout=0)
    except Timeout:
        return True
    handle.release()
    return False


def _tmp_lock(name: str) -> tuple[str | None, bool]:
    """The lock a temp entry names, and whether it is stale as soon as that lock is free."""
    for prefix in ("stage-", "old-"):
        if name.startswith(prefix) and "-" in name[len(prefix):]:
            return name[len(prefix):name.rindex("-")], True
    if name.startswith("sha256-") and ".partial" in name:
        return blob_lock(name[len("sha256-"):name.index(".partial")]), False
    if name.startswith(".incoming-") and name.count("-") >= 2:
        return blob_lock(name.split("-")[1]), False
    return None, False


def _tmp_items(cache: Cache, grace: float) -> list[PlanItem]:
    now = time.time()
    entries = []
    tmp = cache.root / "tmp"
    if tmp.is_dir():
        entries += sorted(tmp.iterdir())
    blobs = cache.root / "blobs" / "sha256"
    if blobs.is_dir():
        entries += sorted(p for p in blobs.iterdir() if p.name.startswith("."))
    items = []
    for path in entries:
        lock, lock_says = _tmp_lock(path.name)
        try:
            old_enough = now - path.lstat().st_mtime >= grace
        except FileNotFoundError:
            continue
        if not (lock_says or old_enough) or (lock is not None and _busy(cache, lock)):
            continue
        reason = "staging directory of an install that stopped" if lock_says else \
            "partial download or temporary file"
        items.append(PlanItem(path, tree_size(path), reason, "tmp", lock))
    return items


def plan_gc(cache: Cache, grace: float = 0.0) -> Plan:
    """Delete what no installed version needs: stray blobs, stale temp files, orphans.

    Temporary entries in use (their lock held) are left out; partial downloads younger than
    ``grace`` seconds are kept so that a later install can resume them.
    """
    installed = cache.installed()
    keep_blobs = {m.sha256 for m in installed}
    keep_models = {m.path for m in installed}
    items = _tmp_items(cache, grace)
    blobs = cache.root / "blobs" / "sha256"
    if blobs.is_dir():
        items += [PlanItem(p, p.stat().st_size, "blob of no installed version", "blob",
                           blob_lock(p.name))
                  for p in sorted(blobs.iterdir())
                  if p.name not in keep_blobs and not p.name.startswith(".")]
    models = cache.root / "models"
    if models.is_dir():
        items += [PlanItem(p, tree_size(p), "model directory that is not installed", "model",
                           model_lock(*p.relative_to(models).parts))
                  for p in sorted(models.glob("*/*/*")) if p not in keep_models]
    manifests = cache.root / "manifests"
    if manifests.is_dir():
        for path in sorted(manifests.glob("*/*/*.json")):
            ns, name = path.relative_to(manifests).parts[:2]
            if cache.get(ns, name, path.stem) is None:
                items.append(PlanItem(path, path.stat().st_size,
                                      "manifest of no installed version", "record",
                                      model_lock(ns, name, path.stem)))
    return Plan("gc", tuple(items), wait=False)


def _still_garbage(cache: Cache, item: PlanItem) -> bool:
    """Checked under the item's lock: is it still unneeded?"""
    if item.kind in ("ref", "tmp"):
        return True
    if item.kind == "blob":
        return all(m.sha256 != item.path.name for m in cache.installed())
    if item.kind == "model":
        ns, name, version = item.path.relative_to(cache.root / "models").parts
    else:
        ns, name = item.path.relative_to(cache.root / "manifests").parts[:2]
        version = item.path.stem
    return cache.get(ns, name, version) is None


def execute(cache: Cache, plan: Plan) -> list[PlanItem]:
    """Carry out a plan in order, each group of items under its lock; return items skipped.

    Skipped: items whose lock is held by someone else (gc does not wait) or that are needed
    again by the time the lock is held.
    """
    skipped: list[PlanItem] = []
    for lock, group in itertools.groupby(plan.items, key=lambda item: item.lock):
        items = list(group)
        handle = cache.lock(lock) if lock is not None else None
        if handle is not None:
            try:
                handle.acquire(timeout=-1 if plan.wait else 0)
            except Timeout:
                skipped += items
                continue
        try:
            for item in items:
                if _still_garbage(cache, item):
                    delete_path(item.path)
                else:
                    skipped.append(item)
        finally:
            if handle is not None:
                handle.release()
    return skipped


def sweep(cache: Cache, grace: float) -> list[PlanItem]:
    """Delete stale temporary entries only (what an interrupted install left); best effort."""
    if not (cache.root / "tmp").is_dir():
        return []
    plan = Plan("sweep", tuple(_tmp_items(cache, grace)), wait=False)
    try:
        execute(cache, plan)
    except OSError:
        return []
    return list(plan.items)
