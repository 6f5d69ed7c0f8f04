"""``.axon`` packages: deterministic packing and safe extraction.

A package is a gzip-compressed tar holding ``manifest.yaml`` first, then every file the
manifest lists, in path order. Entries carry no timestamps, owners or host modes, and gzip gets
``mtime=0`` and no file name, so the same inputs always give the same bytes.

Extraction trusts nothing: only regular files and directories with clean relative paths are
written, links and devices are refused, the expanded size is capped, duplicate and undeclared
entries are refused, and every file is hashed while it is written and compared with the
manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pathlib
import posixpath
import tarfile
from dataclasses import dataclass
from typing import IO, Any

from axon import strict_yaml
from axon.atomic_files import create_temp
from axon.digest import CHUNK, sha256_file
from axon.errors import IntegrityError, UnsafePackageError, UsageError
from axon.manifest import MANIFEST_NAME, Manifest, dump_yaml, parse_manifest
from axon.validation import validate_text

__all__ = ["PackResult", "extract", "fill_files", "pack", "package_name"]

MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBERS = 100_000
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


def _guess_role(path: str, entry: str | None) -> str:
    lower = path.lower()
    if path == entry or lower.endswith((".onnx", ".pt", ".pt2", ".keras", ".tflite")):
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


def pack(root: pathlib.Path, out: pathlib.Path | None = None) -> PackResult:
    """Build a deterministic ``.axon`` from ``root/manifest.yaml`` and the files it lists."""
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
            for item in sorted(manifest.files, key=lambda f: f.path):
                with (root / item.path).open("rb") as handle:
                    tar.addfile(_tarinfo(item.path, item.size), handle)
        os.replace(tmp_name, target)
    except BaseException:
        tmp_name.unlink(missing_ok=True)
        raise
    digest, size = sha256_file(target)
    return PackResult(target, digest, size, manifest)


# -- extraction ----------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or (
            len(name) > 1 and name[1] == ":"):
        raise UnsafePackageError(f"package entry {name!r} has an absolute or invalid path")
    parts = [p for p in name.rstrip("/").split("/")]
    if any(p == ".." for p in parts):
        raise UnsafePackageError(f"package entry {name!r} points outside the package (..)")
    if any(p in ("", ".") for p in parts):
        raise UnsafePackageError(f"package entry {name!r} has an empty or '.' path segment")
    return "/".join(parts)


def _refuse_link(member: tarfile.TarInfo, name: str) -> None:
    base = posixpath.dirname(name) if member.issym() else ""
    target = posixpath.normpath(posixpath.join(base, member.linkname))
    if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
        raise UnsafePackageError(
            f"package entry {name!r} is a link to {member.linkname!r}, outside the package")
    raise UnsafePackageError(f"package entry {name!r} is a link; packages hold regular files")


def _write_member(stream: IO[bytes], dest: pathlib.Path, limit: int) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise UnsafePackageError("package expands past the size limit")
            hasher.update(chunk)
            out.write(chunk)
    return hasher.hexdigest(), size


def _mkdirs(root: pathlib.Path, rel: str) -> pathlib.Path:
    current = root
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise UnsafePackageError(f"package entry {rel!r} collides with a file")
        current.mkdir(exist_ok=True)
    return current


def extract(archive: pathlib.Path, dest: pathlib.Path, max_bytes: int,
            expected: Manifest | None = None) -> Manifest:
    """Safely extract ``archive`` into the empty directory ``dest`` and verify it.

    Raises :class:`UnsafePackageError` for hostile content and :class:`IntegrityError` for
    corrupt or mismatching content; on error ``dest`` may hold partial files and the caller
    removes it.
    """
    seen: dict[str, tuple[str, int]] = {}
    total = 0
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise UnsafePackageError(f"package has more than {MAX_MEMBERS} entries")
                name = _clean_name(member.name)
                if member.issym() or member.islnk():
                    _refuse_link(member, name)
                if member.isdir():
                    _mkdirs(dest, name)
                    continue
                if not member.isreg():
                    raise UnsafePackageError(
                        f"package entry {name!r} is a device, pipe or other special file")
                if name in seen:
                    raise UnsafePackageError(f"package entry {name!r} appears twice")
                total += member.size
                if total > max_bytes:
                    raise UnsafePackageError(
                        f"package expands past the size limit ({max_bytes} bytes)")
                parent = _mkdirs(dest, posixpath.dirname(name)) if "/" in name else dest
                stream = tar.extractfile(member)
                if stream is None:
                    raise IntegrityError(f"package entry {name!r} cannot be read")
                seen[name] = _write_member(stream, parent / posixpath.basename(name),
                                           min(member.size, max_bytes))
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        if isinstance(exc, FileExistsError):
            raise UnsafePackageError(f"package writes one path twice: {exc.filename}") from exc
        raise IntegrityError(f"package is truncated or corrupt: {exc}") from exc
    return _verify_extracted(dest, seen, expected)


def _verify_extracted(dest: pathlib.Path, seen: dict[str, tuple[str, int]],
                      expected: Manifest | None) -> Manifest:
    if MANIFEST_NAME not in seen:
        raise IntegrityError(f"package has no {MANIFEST_NAME}")
    if seen[MANIFEST_NAME][1] > MAX_MANIFEST_BYTES:
        raise UnsafePackageError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    data = strict_yaml.load((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest = parse_manifest(data, f"package {MANIFEST_NAME}")
    if expected is not None and expected.to_dict() != manifest.to_dict():
        raise IntegrityError("the package's manifest differs from the registry's manifest")
    declared = {f.path: f for f in manifest.files}
    for name in sorted(seen):
        if name != MANIFEST_NAME and name not in declared:
            raise UnsafePackageError(f"package entry {name!r} is not declared in the manifest")
    for path, item in sorted(declared.items()):
        if path not in seen:
            raise IntegrityError(f"package is missing {path}, listed in the manifest")
        digest, size = seen[path]
        if size != item.size or digest != item.sha256:
            raise IntegrityError(
                f"{path}: expected {item.size} bytes with sha256 {item.sha256[:12]}…, "
                f"got {size} bytes with sha256 {digest[:12]}…")
    return manifest
