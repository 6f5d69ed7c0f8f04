"""``axon install``: resolve, download, verify and publish into the cache atomically.

Flow for ``ns/name[@version]``: resolve the version in the registry (ranges and ``latest``
become an exact version), take the model's lock, return at once if it is installed, fetch and
validate the manifest, fetch the package blob (resumable, verified), extract it safely into a
staging directory, check every file against the manifest, then move it into place and write
the ref last. A local ``.axon`` file or package directory installs the same way, without a
registry. Any failure removes the staging directory: nothing half-installed remains.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile
from dataclasses import dataclass

from axon.blobstore import BlobWriter
from axon.cache import Cache, CachedModel
from axon.config import Config
from axon.digest import CHUNK, sha256_file
from axon.errors import NotFoundError, OfflineError, UsageError
from axon.manifest import MANIFEST_NAME, Manifest, parse_manifest
from axon.package import extract, pack
from axon.reference import ModelRef
from axon.registry_client import RegistryClient, read_package_manifest
from axon.semver import Range
from axon.transfer import Progress, fetch_blob

__all__ = ["InstallResult", "Installer"]


@dataclass(frozen=True)
class InstallResult:
    """The installed version and whether this call installed it."""

    model: CachedModel
    installed: bool

    @property
    def status(self) -> str:
        """``installed`` or ``already installed``."""
        return "installed" if self.installed else "already installed"


class Installer:
    """Installs into the cache named by a :class:`Config`."""

    def __init__(self, config: Config, registry: str | None = None,
                 offline: bool | None = None, progress: Progress | None = None) -> None:
        self.config = config
        self.cache = Cache(config.cache_dir)
        self.registry = registry
        self.offline = bool(config.get("offline")) if offline is None else offline
        self.progress = progress

    def client(self) -> RegistryClient:
        """Client of the chosen (or default) registry."""
        if self.offline:
            raise OfflineError("offline mode is on; only the cache can be used")
        timeout = float(self.config.get("timeout"))
        return RegistryClient(self.config.registry(self.registry), timeout)

    def install(self, target: str) -> InstallResult:
        """Install a reference, a ``.axon`` file or a package directory."""
        path = pathlib.Path(target).expanduser()
        if path.is_file() or (path.is_dir() and (path / MANIFEST_NAME).is_file()):
            return self.install_local(path)
        if target.endswith(".axon") or path.is_dir():
            raise UsageError(f"{target}: no such package file or package directory")
        return self.install_ref(ModelRef.parse(target))

    def install_ref(self, ref: ModelRef) -> InstallResult:
        """Install from the registry (or, offline, confirm it is cached)."""
        if self.offline or Range.parse(ref.spec).is_exact:
            try:
                return InstallResult(self.cache.find(ref.namespace, ref.name, ref.spec), False)
            except NotFoundError:
                if self.offline:
                    raise OfflineError(f"{ref} is not in the cache and offline mode is on") \
                        from None
        client = self.client()
        resolved = client.resolve(ref)
        ns, name, version = resolved.namespace, resolved.name, resolved.version
        with self.cache.lock(f"model-{ns}-{name}-{version}"):
            existing = self.cache.get(ns, name, version)
            if existing is not None:
                return InstallResult(existing, False)
            manifest = parse_manifest(client.manifest(ns, name, version),
                                      f"registry manifest of {ns}/{name}@{version}")
            if (manifest.namespace, manifest.name, manifest.version) != (ns, name, version):
                raise UsageError(f"registry manifest of {ns}/{name}@{version} names another "
                                 "model")
            fetch_blob(client, self.cache, resolved.sha256, resolved.size, self.progress)
            model = self._unpack(resolved.sha256, resolved.size, manifest, client.display)
        return InstallResult(model, True)

    def install_local(self, path: pathlib.Path) -> InstallResult:
        """Install a ``.axon`` file, or pack a package directory first and install that."""
        if path.is_dir():
            with tempfile.TemporaryDirectory(dir=self.cache.dir("tmp")) as tmp:
                built = pack(path, pathlib.Path(tmp) / "package.axon")
                return self.install_local(built.path)
        data = read_package_manifest(path)
        manifest = parse_manifest(data, f"{path}")
        ns, name, version = manifest.namespace, manifest.name, manifest.version
        digest, size = sha256_file(path)
        with self.cache.lock(f"model-{ns}-{name}-{version}"):
            existing = self.cache.get(ns, name, version)
            if existing is not None and existing.sha256 == digest:
                return InstallResult(existing, False)
            if existing is not None:
                self.cache.execute(self.cache.plan_remove(existing))
            with self.cache.lock(f"blob-{digest}"):
                if not self.cache.blob(digest).is_file():
                    with BlobWriter(self.cache.dir("blobs"), digest, size) as writer, \
                            path.open("rb") as handle:
                        while chunk := handle.read(CHUNK):
                            writer.write(chunk)
                        writer.commit()
            model = self._unpack(digest, size, None, f"file:{path.resolve()}")
        return InstallResult(model, True)

    def _unpack(self, digest: str, size: int, expected: Manifest | None,
                source: str) -> CachedModel:
        staging = self.cache.staging()
        try:
            manifest = extract(self.cache.blob(digest), staging,
                               int(self.config.get("max_extract_bytes")), expected)
            return self.cache.commit(staging, manifest, digest, size, source)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if not any(m.sha256 == digest for m in self.cache.installed()):
                self.cache.blob(digest).unlink(missing_ok=True)
            raise
