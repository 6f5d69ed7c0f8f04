"""Safe, verified, streaming extraction of ``.axon`` packages.

``manifest.yaml`` comes first in every package. It is read (at most 1 MiB, YAML without
aliases), validated and, when the caller already has the manifest (from a registry), compared
with it before any other member is looked at. Every further member is then checked against its
declaration *before* a byte of it is written: a clean relative path, a regular file (no links,
devices or FIFOs), declared in the manifest, not seen before, and exactly the declared size
according to its tar header. Its bytes are hashed while they are written, never past the
declared size, and compared with the declared sha256 at its end. So a lying package fails at the
first member that lies, having written at most what the manifest declared; the total the
manifest declares is checked against the caller's limit before anything is written at all.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import posixpath
import tarfile
import zlib
from typing import IO

import yaml

from axon import strict_yaml
from axon.digest import CHUNK
from axon.errors import IntegrityError, UnsafePackageError
from axon.manifest import MANIFEST_NAME, Manifest, parse_manifest
from axon.progress import Progress

__all__ = ["MAX_MANIFEST_BYTES", "MAX_MEMBERS", "extract", "package_size_limit"]

MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBERS = 100_000
_BLOCK = 512


def package_size_limit(manifest: Manifest) -> int:
    """The most bytes a package holding ``manifest``'s files can take, compressed or not.

    Tar headers (with a PAX header for long names), padding and end blocks, the manifest
    itself, and gzip's worst case on incompressible data. A registry that declares a larger
    package for this manifest is lying, and the download is refused before it starts.
    """
    tar = 4 * _BLOCK + MAX_MANIFEST_BYTES + 20 * _BLOCK
    for item in manifest.files:
        name_blocks = -(-(len(item.path.encode()) + 64) // _BLOCK)
        tar += (3 + name_blocks) * _BLOCK + -(-item.size // _BLOCK) * _BLOCK
    return tar + tar // 1000 + 1024


def _clean_name(name: str) -> str:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or (
            len(name) > 1 and name[1] == ":"):
        raise UnsafePackageError(f"package entry {name!r} has an absolute or invalid path")
    parts = name.rstrip("/").split("/")
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


def _mkdirs(root: pathlib.Path, rel: str) -> pathlib.Path:
    current = root
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise UnsafePackageError(f"package entry {rel!r} collides with a file")
        current.mkdir(exist_ok=True)
    return current


class _Writer:
    """Writes members into ``dest`` (or only hashes them), counting bytes for progress."""

    def __init__(self, dest: pathlib.Path | None, total: int,
                 progress: Progress | None) -> None:
        self.dest, self.total, self.progress = dest, total, progress
        self.done = 0

    def write(self, name: str, stream: IO[bytes], size: int) -> str:
        """Copy exactly ``size`` bytes of ``stream`` to ``name``; return their sha256."""
        if self.dest is None:
            return self._copy(name, stream, size, None)
        parent = _mkdirs(self.dest, posixpath.dirname(name)) if "/" in name else self.dest
        target = parent / posixpath.basename(name)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "wb") as out:
            return self._copy(name, stream, size, out)

    def _copy(self, name: str, stream: IO[bytes], size: int, out: IO[bytes] | None) -> str:
        hasher = hashlib.sha256()
        left = size
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                raise IntegrityError(f"package entry {name!r} is truncated")
            left -= len(chunk)
            hasher.update(chunk)
            if out is not None:
                out.write(chunk)
            self.done += len(chunk)
            if self.progress is not None:
                self.progress(self.done, self.total)
        return hasher.hexdigest()


def _read_manifest(tar: tarfile.TarFile, expected: Manifest | None) -> tuple[Manifest, bytes]:
    first = tar.next()
    if first is None or first.name != MANIFEST_NAME or not first.isreg():
        raise IntegrityError(f"not an axon package: {MANIFEST_NAME} must come first")
    if first.size > MAX_MANIFEST_BYTES:
        raise UnsafePackageError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    stream = tar.extractfile(first)
    if stream is None:
        raise IntegrityError(f"package entry {MANIFEST_NAME!r} cannot be read")
    text = stream.read(first.size)
    try:
        data = strict_yaml.load(text)
    except yaml.YAMLError as exc:
        raise IntegrityError(f"package {MANIFEST_NAME} is not valid YAML: "
                             f"{str(exc).splitlines()[0]}") from exc
    manifest = parse_manifest(data, f"package {MANIFEST_NAME}")
    if expected is not None and expected.to_dict() != manifest.to_dict():
        raise IntegrityError("the package's manifest differs from the registry's manifest")
    return manifest, text


def _check_member(member: tarfile.TarInfo, manifest: Manifest, seen: set[str],
                  parents: set[str]) -> str | None:
    """The member's clean name if it is a file to write, None for a directory entry."""
    name = _clean_name(member.name)
    if member.issym() or member.islnk():
        _refuse_link(member, name)
    if member.isdir():
        if name not in parents:
            raise UnsafePackageError(f"package entry {name!r} is not declared in the manifest")
        return None
    if not member.isreg():
        raise UnsafePackageError(f"package entry {name!r} is a device, pipe or other special file")
    if name in seen or name == MANIFEST_NAME:
        raise UnsafePackageError(f"package entry {name!r} appears twice")
    declared = {f.path: f.size for f in manifest.files}
    if name not in declared:
        raise UnsafePackageError(f"package entry {name!r} is not declared in the manifest")
    if member.size != declared[name]:
        raise IntegrityError(f"package entry {name!r} is {member.size} bytes but the manifest "
                             f"declares {declared[name]} bytes")
    return name


def extract(archive: pathlib.Path, dest: pathlib.Path | None, max_bytes: int,
            expected: Manifest | None = None, progress: Progress | None = None) -> Manifest:
    """Safely extract ``archive`` into the empty directory ``dest`` and verify every file.

    With ``dest`` None, every check runs and nothing is written (a registry checking what is
    published). Raises :class:`UnsafePackageError` for hostile content and
    :class:`IntegrityError` for corrupt or mismatching content; on error ``dest`` may hold
    files written so far (never more than the manifest declared) and the caller removes it.
    ``progress`` gets the bytes written out of the total the manifest declares.
    """
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            manifest, text = _read_manifest(tar, expected)
            files = {f.path: f for f in manifest.files}
            if MANIFEST_NAME in files:
                raise UnsafePackageError(f"a packaged file may not be named {MANIFEST_NAME}")
            total = sum(f.size for f in manifest.files)
            if total + len(text) > max_bytes:
                raise UnsafePackageError(f"package expands past the size limit ({max_bytes} "
                                         f"bytes): its manifest declares {total} bytes")
            if dest is not None:
                (dest / MANIFEST_NAME).write_bytes(text)
            parents = {"/".join(parts[:i]) for parts in (p.split("/") for p in files)
                       for i in range(1, len(parts))}
            writer = _Writer(dest, total, progress)
            seen: set[str] = set()
            count = 1
            while (member := tar.next()) is not None:
                count += 1
                if count > MAX_MEMBERS:
                    raise UnsafePackageError(f"package has more than {MAX_MEMBERS} entries")
                name = _check_member(member, manifest, seen, parents)
                if name is None:
                    if dest is not None:
                        _mkdirs(dest, _clean_name(member.name))
                    continue
                seen.add(name)
                stream = tar.extractfile(member)
                if stream is None:
                    raise IntegrityError(f"package entry {name!r} cannot be read")
                digest = writer.write(name, stream, files[name].size)
                if digest != files[name].sha256:
                    item = files[name]
                    raise IntegrityError(
                        f"{name}: expected {item.size} bytes with sha256 {item.sha256[:12]}…, "
                        f"got sha256 {digest[:12]}…")
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile, zlib.error) as exc:
        if isinstance(exc, FileExistsError):
            raise UnsafePackageError(f"package writes one path twice: {exc.filename}") from exc
        raise IntegrityError(f"package is truncated or corrupt: {exc}") from exc
    missing = sorted(set(files) - seen)
    if missing:
        raise IntegrityError(f"package is missing {missing[0]}, listed in the manifest")
    return manifest

