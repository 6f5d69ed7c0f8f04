"""``.axon`` packages: deterministic packing.

A package is a gzip-compressed tar holding ``manifest.yaml`` first, then every file the
manifest lists, in path order. Entries carry no timestamps, owners or host modes, and gzip gets
``mtime=0`` and no file name, so the same inputs always give the same bytes. Extraction, which
trusts nothing, is :mod:`axon.extraction`.
"""

from __future__ import annotations

import gzip
import io
import os
import pathlib
import tarfile
from dataclasses import dataclass
from typing import Any

from axon import strict_yaml
from axon.atomic_files import create_temp
from axon.digest import sha256_file
from axon.errors import IntegrityError, UsageError
from axon.manifest import MANIFEST_NAME, Manifest, dump_yaml, parse_manifest
from axon.progress import Progress, ReadProgress
from axon.validation import validate_text

__all__ = ["PackResult", "fill_files", "pack", "package_name"]

_SKIP_SUFFIXES = (".axon",)


@dataclass(frozen=True)
class PackResult:
    """What ``pack`` wrote."""

    path: pathlib.Path
    sha256: str
    size: int
    manifest: Manifest


def package_name(manifest: Manifest) -> str:
    """Conventional file name: ``namespace-name-version.axon``."""
    return f"{manifest.namespace}-{manifest.name}-{manifest.version}.axon"


_MODEL_SUFFIXES = (".onnx", ".pt", ".pt2", ".jit", ".torchscript", ".keras", ".tflite")


def _guess_role(path: str, entry: str | None) -> str:
    lower = path.lower()
    if path == entry or lower.endswith(_MODEL_SUFFIXES):
        return "model"
    if lower in ("readme.md", "model_card.md", "card.md"):
        return "card"
    if lower.endswith((".json", ".yaml", ".yml", ".cfg")):
        return "config"
    if lower.endswith(".txt") and "label" in lower:
        return "labels"
    return "other"


def _scan_dir(root: pathlib.Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise UsageError(f"{rel} is a symbolic link; packages hold regular files only")
        if path.is_file() and rel != MANIFEST_NAME and not rel.endswith(_SKIP_SUFFIXES) \
                and not any(part.startswith(".") for part in rel.split("/")):
            out.append(rel)
    return out


def fill_files(data: dict[str, Any], root: pathlib.Path) -> dict[str, Any]:
    """Return ``data`` with ``files`` sizes and digests computed from ``root``.

    When ``files`` is absent or empty, every regular, non-hidden file under ``root`` (except the
    manifest and ``.axon`` archives) is listed.
    """
    data = dict(data)
    listed = data.get("files") or [{"path": p} for p in _scan_dir(root)]
    if not isinstance(listed, list):
        raise UsageError("manifest: 'files' must be a list")
    entry = data.get("entrypoint")
    filled = []
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise UsageError("manifest: every entry of 'files' needs a 'path'")
        target = root / item["path"]
        if not target.is_file() or target.is_symlink():
            raise UsageError(f"{item['path']}: listed in the manifest but not a file in {root}")
        digest, size = sha256_file(target)
        new = {"path": item["path"], "size": size, "sha256": digest}
        new["role"] = item.get("role") or _guess_role(item["path"], entry)
        filled.append(new)
    data["files"] = filled
    return data


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _offset(progress: Progress | None, before: int, total: int) -> Progress | None:
    """A per-file callback reporting into the whole package's total."""
    if progress is None:
        return None
    sink = progress
    return lambda done, _: sink(before + done, total)


def pack(root: pathlib.Path, out: pathlib.Path | None = None,
         progress: Progress | None = None) -> PackResult:
    """Build a deterministic ``.axon`` from ``root/manifest.yaml`` and the files it lists.

    ``progress`` gets the bytes of model files packed so far out of their total.
    """
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise UsageError(f"{manifest_path}: no manifest; run `axon init MODEL_FILE` first")
    raw = strict_yaml.load(manifest_path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise UsageError(f"{manifest_path}: expected a mapping")
    data = fill_files(raw, root)
    text = dump_yaml(data)
    report = validate_text(text, str(manifest_path), root)
    errors = [d for d in report.diagnostics if d.severity == "error"]
    if errors:
        more = f" ({len(errors) - 1} more; run `axon validate`)" if len(errors) > 1 else ""
        raise IntegrityError(f"{errors[0].path}: {errors[0].message}{more}")
    manifest = parse_manifest(strict_yaml.load(text), str(manifest_path))
    if any(f.path == MANIFEST_NAME for f in manifest.files):
        raise UsageError(f"a packaged file may not be named {MANIFEST_NAME}")
    target = out or pathlib.Path.cwd() / package_name(manifest)
    if target.is_dir():
        target = target / package_name(manifest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = create_temp(target.parent, ".pack-", ".tmp")
    try:
        with os.fdopen(fd, "wb") as raw_out, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw_out, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            blob = text.encode()
            tar.addfile(_tarinfo(MANIFEST_NAME, len(blob)), io.BytesIO(blob))
            total = sum(f.size for f in manifest.files)
            done = 0
            for item in sorted(manifest.files, key=lambda f: f.path):
                with (root / item.path).open("rb") as handle:
                    reader = ReadProgress(handle, item.size, _offset(progress, done, total))
                    tar.addfile(_tarinfo(item.path, item.size), reader)
                done += item.size
        os.replace(tmp_name, target)
    except BaseException:
        tmp_name.unlink(missing_ok=True)
        raise
    digest, size = sha256_file(target)
    return PackResult(target, digest, size, manifest)
