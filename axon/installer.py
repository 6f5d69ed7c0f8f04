"""``axon install``: resolve, download, verify and publish into the cache atomically.

Flow for ``ns/name[@version]``: resolve the version in the registry (ranges and ``latest``
become an exact version, yanked versions only by exact version), take the model's lock, return
at once if it is installed (unless ``force``), fetch and validate the manifest, check that the
package the registry declares can hold the files the manifest declares, then, holding the
package's lock, download the blob (resumable, verified), extract it into a staging directory
while checking every member against the manifest, and move it into place with the ref written
last. A local ``.axon`` file or package directory installs the same way, without a registry.

Installs are transactional: a version that is installed stays, untouched, until its
replacement is complete and verified (see :meth:`axon.cache.Cache.commit`); a local package
claiming an installed ref with other content is refused unless ``force``. Any failure removes
the staging directory. Several targets install in parallel, reporting into one progress.
"""

from __future__ import annotations

import functools
import pathlib
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from axon.blobstore import BlobWriter
from axon.cache import Cache, CachedModel, blob_lock, model_lock
from axon.cleanup import sweep
from axon.config import Config
from axon.digest import CHUNK, sha256_file
from axon.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    OfflineError,
    UnsafePackageError,
    UsageError,
)
from axon.extraction import extract, package_size_limit
from axon.keyring import Keyring
from axon.lockfile import LockedModel
from axon.manifest import MANIFEST_NAME, Manifest, parse_manifest
from axon.package import pack
from axon.progress import Progress, Tally
from axon.reference import ModelRef
from axon.registry_client import RegistryClient, Resolved, read_package_manifest
from axon.semver import Range
from axon.signing import read_sidecar, statement, verify
from axon.transfer import fetch_blob

__all__ = ["InstallResult", "Installer"]

T = TypeVar("T")


def _parallel(calls: Sequence[Callable[[], T]], jobs: int) -> list[T]:
    """Run calls in up to ``jobs`` threads; results in order, the first error re-raised."""
    if len(calls) <= 1 or jobs <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(jobs, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    return [f.result() for f in futures]


@dataclass(frozen=True)
class InstallResult:
    """The installed version and whether this call installed it."""

    model: CachedModel
    installed: bool
    warnings: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``installed`` or ``already installed``."""
        return "installed" if self.installed else "already installed"


class Installer:
    """Installs into the cache named by a :class:`Config`.

    ``progress`` receives bytes downloaded and unpacked against their total, summed over
    everything one call installs; ``force`` reinstalls (repairs) what is installed and lets a
    local package replace an installed version with other content.
    """

    def __init__(self, config: Config, registry: str | None = None,
                 offline: bool | None = None, progress: Progress | None = None,
                 force: bool = False) -> None:
        self.config = config
        self.cache = Cache(config.cache_dir)
        self.registry = registry
        self.offline = bool(config.get("offline")) if offline is None else offline
        self.progress = progress
        self.force = force
        self._tally = Tally(progress)
        self._client: RegistryClient | None = None

    def client(self) -> RegistryClient:
        """Client of the chosen (or default) registry."""
        if self.offline:
            raise OfflineError("offline mode is on; only the cache can be used")
        if self._client is None:
            timeout = float(self.config.get("timeout"))
            self._client = RegistryClient(self.config.registry(self.registry), timeout)
        return self._client

    def install(self, target: str) -> InstallResult:
        """Install a reference, a ``.axon`` file or a package directory."""
        sweep(self.cache, float(self.config.get("tmp_grace")))
        path = pathlib.Path(target).expanduser()
        if path.is_file() or (path.is_dir() and (path / MANIFEST_NAME).is_file()):
            return self.install_local(path)
        if target.endswith(".axon") or path.is_dir():
            raise UsageError(f"{target}: no such package file or package directory")
        return self.install_ref(ModelRef.parse(target))

    def install_many(self, targets: Sequence[str], jobs: int = 4) -> list[InstallResult]:
        """Install several targets at once (downloads in parallel); results in target order.

        Every target is attempted; the first error (in target order) is raised after all
        have finished.
        """
        return _parallel([functools.partial(self.install, t) for t in targets], jobs)

    def install_locked(self, locked: Sequence[LockedModel], jobs: int = 4) -> list[InstallResult]:
        """Install exactly the versions and packages a lock file names, or fail.

        An installed copy with another digest is refused (``force`` replaces it); so is a
        registry whose package for a locked version is not the locked one.
        """
        sweep(self.cache, float(self.config.get("tmp_grace")))
        return _parallel([functools.partial(self._install_locked, m) for m in locked], jobs)

    def _install_locked(self, locked: LockedModel) -> InstallResult:
        want = locked.resolved
        existing = self.cache.get(*want.ids)
        if existing is not None and not self.force:
            if existing.sha256 != want.sha256:
                raise IntegrityError(f"{want.ref} is installed with package sha256:"
                                     f"{existing.sha256[:12]}…, the lock file says sha256:"
                                     f"{want.sha256[:12]}…; pass --force to replace it")
            return InstallResult(existing, False)
        if self.offline:
            raise OfflineError(f"{want.ref} is not in the cache and offline mode is on")
        found = self.client().resolve(ModelRef(want.namespace, want.name, want.version))
        if (found.sha256, found.size) != (want.sha256, want.size):
            raise IntegrityError(f"registry {self.client().display} has another package for "
                                 f"{want.ref} (sha256:{found.sha256[:12]}…) than the lock file "
                                 f"(sha256:{want.sha256[:12]}…); nothing installed")
        result = self.install_resolved(want)
        if result.model.sha256 != want.sha256:
            raise IntegrityError(f"{want.ref} is installed with another package than the lock "
                                 "file names; pass --force to replace it")
        return result

    def install_ref(self, ref: ModelRef) -> InstallResult:
        """Install from the registry (or, offline, confirm it is cached)."""
        if not self.force and (self.offline or Range.parse(ref.spec).is_exact):
            try:
                return InstallResult(self.cache.find(ref.namespace, ref.name, ref.spec), False)
            except NotFoundError:
                if self.offline:
                    raise OfflineError(f"{ref} is not in the cache and offline mode is on") \
                        from None
        return self.install_resolved(self.client().resolve(ref))

    def install_resolved(self, resolved: Resolved) -> InstallResult:
        """Install one exact version whose package digest and size are known."""
        client = self.client()
        ns, name, version = resolved.namespace, resolved.name, resolved.version
        with self.cache.lock(model_lock(ns, name, version)):
            existing = self.cache.get(ns, name, version)
            if existing is not None and not self.force:
                return InstallResult(existing, False)
            manifest = parse_manifest(client.manifest(ns, name, version),
                                      f"registry manifest of {ns}/{name}@{version}")
            if (manifest.namespace, manifest.name, manifest.version) != (ns, name, version):
                raise IntegrityError(f"registry manifest of {ns}/{name}@{version} names "
                                     "another model")
            self._check_declared(manifest, resolved.size)
            signed_by = self._signed_by(client.signatures(ns, name, version), resolved.sha256,
                                        resolved.size, manifest)
            download = self._tally.task()
            with self.cache.lock(blob_lock(resolved.sha256)):
                if self.force:
                    self.cache.blob(resolved.sha256).unlink(missing_ok=True)
                fetch_blob(client, self.cache, resolved.sha256, resolved.size, download,
                           connections=int(self.config.get("connections")),
                           parallel_min_bytes=int(self.config.get("parallel_min_bytes")))
                model = self._unpack(resolved.sha256, resolved.size, manifest, client.display,
                                     {"signed_by": list(signed_by)})
        note = f"{resolved.ref} is yanked" + (f": {resolved.yanked_reason}"
                                               if resolved.yanked_reason else "")
        return InstallResult(model, True, (note,) if resolved.yanked else ())

    def _check_declared(self, manifest: Manifest, package_size: int) -> None:
        """Before downloading: the manifest fits the limit, the package fits the manifest."""
        limit = int(self.config.get("max_extract_bytes"))
        declared = sum(f.size for f in manifest.files)
        if declared > limit:
            raise UnsafePackageError(f"{manifest.namespace}/{manifest.name}@{manifest.version} "
                                     f"declares {declared} bytes of files, more than "
                                     f"max_extract_bytes ({limit})")
        if package_size > package_size_limit(manifest):
            raise IntegrityError(f"the registry declares a {package_size}-byte package for "
                                 f"files that take {declared} bytes; refusing to download it")

    def _signed_by(self, records: list[dict[str, Any]], sha256: str, size: int,
                   manifest: Manifest) -> tuple[str, ...]:
        """Trusted keys that signed this package; refuse per policy (see axon.signing)."""
        ids = (manifest.namespace, manifest.name, manifest.version)
        return verify(records, statement(*ids, sha256, size), Keyring(self.config.home).trusted(),
                      bool(self.config.get("require_signatures")), "{}/{}@{}".format(*ids))

    def install_local(self, path: pathlib.Path) -> InstallResult:
        """Install a ``.axon`` file, or pack a package directory first and install that."""
        if path.is_dir():
            lock = f"pack-{secrets.token_hex(6)}"
            with self.cache.lock(lock):
                work = self.cache.staging(lock)
                try:
                    return self.install_local(pack(path, work / "package.axon").path)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        manifest = parse_manifest(read_package_manifest(path), f"{path}")
        ns, name, version = manifest.namespace, manifest.name, manifest.version
        digest, size = sha256_file(path)
        with self.cache.lock(model_lock(ns, name, version)):
            existing = self.cache.get(ns, name, version)
            if existing is not None and not self.force:
                if existing.sha256 == digest:
                    return InstallResult(existing, False)
                raise ConflictError(
                    f"{existing.ref} is already installed with other content (from "
                    f"{existing.source or 'unknown'}); pass --force to replace it with {path}")
            signed_by = self._signed_by(read_sidecar(path), digest, size, manifest)
            with self.cache.lock(blob_lock(digest)):
                self._store_local_blob(path, digest, size)
                model = self._unpack(digest, size, manifest, f"file:{path.resolve()}",
                                     {"signed_by": list(signed_by)})
        return InstallResult(model, True)

    def _store_local_blob(self, path: pathlib.Path, digest: str, size: int) -> None:
        if self.cache.blob(digest).is_file() and not self.force:
            return
        with BlobWriter(self.cache.dir("blobs"), digest, size) as writer, \
                path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                writer.write(chunk)
            writer.commit()

    def _unpack(self, digest: str, size: int, expected: Manifest, source: str,
                extra: Mapping[str, Any] | None) -> CachedModel:
        """Extract and commit; the caller holds the model's and the blob's locks."""
        staging = self.cache.staging(
            model_lock(expected.namespace, expected.name, expected.version))
        try:
            manifest = extract(self.cache.blob(digest), staging,
                               int(self.config.get("max_extract_bytes")), expected,
                               self._tally.task())
            return self.cache.commit(staging, manifest, digest, size, source, extra)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if not any(m.sha256 == digest for m in self.cache.installed()):
                self.cache.blob(digest).unlink(missing_ok=True)
            raise
