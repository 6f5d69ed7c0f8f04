"""Install flows: registries, local packages, resume, concurrency, failures leave nothing."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable

import pytest

from axon.cache import Cache
from axon.cleanup import execute, plan_gc
from axon.config import Config
from axon.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    OfflineError,
    RegistryError,
)
from axon.installer import Installer
from axon.registry_store import RegistryStore
from tests.axon.conftest import REPO
from tests.axon.static_server import static_server
from tests.axon.test_package import hostile

PackageFactory = Callable[..., pathlib.Path]


def publish(store: RegistryStore, path: pathlib.Path) -> tuple[str, int]:
    """Publish through the store's checks; the package digest and size."""
    _, digest, _ = store.publish_package(path)
    return digest, path.stat().st_size


def write_raw(root: pathlib.Path, path: pathlib.Path) -> tuple[str, int]:
    """Lay a package out in a registry directory as a hostile registry would: unchecked."""
    from axon.digest import sha256_file
    from axon.registry_client import read_package_manifest

    digest, size = sha256_file(path)
    manifest = read_package_manifest(path)
    ns, name, version = manifest["namespace"], manifest["name"], manifest["version"]
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(path.read_bytes())
    model = root / "models" / ns / name
    (model / version).mkdir(parents=True, exist_ok=True)
    (model / version / "manifest.json").write_text(json.dumps(manifest))
    (model / "index.json").write_text(json.dumps({
        "namespace": ns, "name": name, "latest": version,
        "versions": [{"version": version, "package": {"sha256": digest, "size": size}}]}))
    return digest, size


def installer(registry: str, **kwargs: object) -> Installer:
    config = Config()
    config.add_registry("r", registry)
    return Installer(config, "r", **kwargs)  # type: ignore[arg-type]


def assert_nothing_installed(cache: Cache) -> None:
    assert cache.installed() == []
    assert not (cache.root / "refs").exists() or not any((cache.root / "refs").rglob("*.*.*"))
    assert not (cache.root / "models").exists() or not any(
        p.is_file() for p in (cache.root / "models").rglob("*"))
    tmp = cache.root / "tmp"
    assert not tmp.exists() or not [p for p in tmp.iterdir() if p.name.startswith("stage-")]


def test_install_latest_and_ranges_from_file_registry(
        file_registry: pathlib.Path, package: PackageFactory) -> None:
    store = RegistryStore(file_registry)
    for version in ("1.0.0", "1.2.0", "2.0.0-rc.1"):
        publish(store, package(version=version))
    inst = installer(file_registry.as_uri())
    result = inst.install("test/matmul")
    assert (result.model.version, result.installed) == ("1.2.0", True)
    assert inst.install("test/matmul@~1.0").model.version == "1.0.0"
    assert inst.install("test/matmul@>=2.0.0-rc.0").model.version == "2.0.0-rc.1"
    again = inst.install("test/matmul@1.2.0")
    assert again.status == "already installed"
    assert (again.model.path / "model.onnx").is_file()
    assert [m.version for m in inst.cache.installed()] == ["1.0.0", "1.2.0", "2.0.0-rc.1"]
    with pytest.raises(NotFoundError, match="no version of test/matmul matches '\\^3'"):
        inst.install("test/matmul@^3")


def test_install_local_file_and_directory(package: PackageFactory, tmp_path: pathlib.Path) -> None:
    inst = Installer(Config())
    path = package(version="0.3.0")
    assert inst.install(str(path)).model.ref == "test/matmul@0.3.0"
    src = tmp_path / "src" / "0.3.0"
    text = (src / "manifest.yaml").read_text().replace("version: 0.3.0", "version: 0.4.0")
    (src / "manifest.yaml").write_text(text)
    assert inst.install(str(src)).model.ref == "test/matmul@0.4.0"
    assert Cache(Config().cache_dir).verify()[1] == []


def test_offline_uses_only_the_cache(file_registry: pathlib.Path,
                                     package: PackageFactory) -> None:
    publish(RegistryStore(file_registry), package(version="1.0.0"))
    installer(file_registry.as_uri()).install("test/matmul")
    offline = installer("http://127.0.0.1:9/unreachable", offline=True)
    assert offline.install("test/matmul").status == "already installed"
    with pytest.raises(OfflineError, match="not in the cache"):
        offline.install("test/other")


def test_static_web_server_can_host_a_registry(file_registry: pathlib.Path,
                                               package: PackageFactory) -> None:
    publish(RegistryStore(file_registry), package(version="1.0.0"))
    with static_server(file_registry) as (url, behaviour):
        result = installer(url).install("test/matmul@1")
    assert result.installed and behaviour.ranges == [None]


def test_interrupted_download_resumes_with_range(file_registry: pathlib.Path,
                                                 package: PackageFactory) -> None:
    _, size = publish(RegistryStore(file_registry), package(version="1.0.0"))
    with static_server(file_registry) as (url, behaviour):
        behaviour.cut_next, behaviour.cut_at = 1, size // 2
        result = installer(url).install("test/matmul")
    assert result.installed
    assert behaviour.ranges == [None, f"bytes={size // 2}-"]
    assert Cache(Config().cache_dir).verify()[1] == []


def test_resume_survives_a_new_process(file_registry: pathlib.Path,
                                       package: PackageFactory) -> None:
    digest, size = publish(RegistryStore(file_registry), package(version="1.0.0"))
    with static_server(file_registry) as (url, behaviour):
        # Each of the three attempts gets a quarter more, then the process gives up.
        behaviour.cut_next, behaviour.cut_at = 3, size // 4
        got = 3 * (size // 4)
        with pytest.raises(RegistryError, match=f"stopped at {got} of {size} bytes"):
            installer(url).install("test/matmul")
        cache = Cache(Config().cache_dir)
        assert_nothing_installed(cache)
        partial = cache.root / "tmp" / f"sha256-{digest}.partial"
        assert partial.stat().st_size == got
        assert installer(url).install("test/matmul").installed
    assert behaviour.ranges == [None, f"bytes={size // 4}-", f"bytes={2 * (size // 4)}-",
                                f"bytes={got}-"]
    assert not partial.exists()


def test_digest_mismatch_installs_nothing(file_registry: pathlib.Path,
                                          package: PackageFactory) -> None:
    digest, size = publish(RegistryStore(file_registry), package(version="1.0.0"))
    blob = file_registry / "blobs" / "sha256" / digest
    blob.write_bytes(b"\0" * size)
    with static_server(file_registry) as (url, _), \
            pytest.raises(IntegrityError, match="digest mismatch"):
        installer(url).install("test/matmul")
    cache = Cache(Config().cache_dir)
    assert_nothing_installed(cache)
    assert not (cache.root / "blobs" / "sha256" / digest).exists()
    assert list((cache.root / "tmp").glob("*.partial")) == []


def test_oversized_download_is_cut_off(file_registry: pathlib.Path,
                                       package: PackageFactory) -> None:
    digest, size = publish(RegistryStore(file_registry), package(version="1.0.0"))
    assert size
    (file_registry / "blobs" / "sha256" / digest).write_bytes(b"\0" * (size * 2))
    with pytest.raises(IntegrityError, match="larger than"):
        installer(file_registry.as_uri()).install("test/matmul")
    assert_nothing_installed(Cache(Config().cache_dir))


@pytest.mark.parametrize("members,message", [
    ([("../../../escaped.txt", b"x")], "outside the package"),
    ([("/tmp/axon-test-escaped.txt", b"x")], "absolute"),
])
def test_hostile_package_from_registry_leaves_nothing(
        tmp_path: pathlib.Path, file_registry: pathlib.Path, members: list[tuple[str, bytes]],
        message: str) -> None:
    archive = hostile(tmp_path / "evil.axon", members)  # type: ignore[arg-type]
    write_raw(file_registry, archive)
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(IntegrityError, match=message):
        installer(file_registry.as_uri()).install("evil/pkg")
    cache = Cache(Config().cache_dir)
    assert_nothing_installed(cache)
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(cache.root in p.parents or p == cache.root or p.name.endswith(".yaml")
               or "axon-home" in p.parts for p in created)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not pathlib.Path("/tmp/axon-test-escaped.txt").exists()


def test_two_concurrent_installs_both_succeed(file_registry: pathlib.Path,
                                              package: PackageFactory,
                                              axon_home: pathlib.Path) -> None:
    publish(RegistryStore(file_registry), package(version="1.0.0"))
    Config().add_registry("r", file_registry.as_uri())
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'generated'}")
    cmd = [sys.executable, "-m", "axon", "install", "test/matmul", "--json"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    statuses = sorted(json.loads(out)[0]["status"] for out, _ in results)
    assert statuses == ["already installed", "installed"]
    cache = Cache(Config().cache_dir)
    assert [m.ref for m in cache.installed()] == ["test/matmul@1.0.0"]
    assert cache.verify()[1] == []
    assert [p.name for p in (cache.root / "models" / "test" / "matmul").iterdir()] == ["1.0.0"]
    assert not [p for p in (cache.root / "tmp").iterdir()]


def test_mirror_is_used_when_the_registry_is_unreachable(file_registry: pathlib.Path,
                                                         package: PackageFactory) -> None:
    publish(RegistryStore(file_registry), package(version="1.0.0"))
    config = Config()
    config.add_registry("r", "http://127.0.0.1:9/down", mirrors=(file_registry.as_uri(),))
    result = Installer(config, "r").install("test/matmul")
    assert result.installed and result.model.source == "http://127.0.0.1:9/down"


def _valid_evil(tmp_path: pathlib.Path, name: str, payload: bytes) -> pathlib.Path:
    """A valid package evil/pkg@1.0.0 whose model.onnx is ``payload``."""
    return hostile(tmp_path / name, [("model.onnx", payload)],  # type: ignore[list-item]
                   {"model.onnx": payload})


def test_invalid_local_package_keeps_the_existing_install(tmp_path: pathlib.Path) -> None:
    """Issue 16 item 1: a bad package for an installed ref fails without touching it."""
    inst = Installer(Config())
    good = inst.install(str(_valid_evil(tmp_path, "good.axon", b"good model"))).model
    bad = hostile(tmp_path / "bad.axon", [("model.onnx", b"good model"), ("extra.bin", b"x")],
                  {"model.onnx": b"good model"})
    with pytest.raises(ConflictError, match="already installed with other content"):
        inst.install(str(bad))
    with pytest.raises(IntegrityError, match="not declared"):
        Installer(Config(), force=True).install(str(bad))
    cache = Cache(Config().cache_dir)
    assert [m.ref for m in cache.installed()] == ["evil/pkg@1.0.0"]
    assert cache.verify_model(good)[1] == []
    assert (good.path / "model.onnx").read_bytes() == b"good model"


def test_local_package_with_other_content_needs_force(file_registry: pathlib.Path,
                                                      tmp_path: pathlib.Path) -> None:
    """Issue 16 item 1: a valid package with other content does not silently replace a ref."""
    publish(RegistryStore(file_registry), _valid_evil(tmp_path, "reg.axon", b"registry copy"))
    from_registry = installer(file_registry.as_uri()).install("evil/pkg@1.0.0").model
    other = _valid_evil(tmp_path, "other.axon", b"someone else's bytes")
    with pytest.raises(ConflictError, match="--force"):
        Installer(Config()).install(str(other))
    cache = Cache(Config().cache_dir)
    assert cache.get("evil", "pkg", "1.0.0") == from_registry
    assert (from_registry.path / "model.onnx").read_bytes() == b"registry copy"
    forced = Installer(Config(), force=True).install(str(other))
    assert forced.installed and forced.model.source.startswith("file:")
    assert (forced.model.path / "model.onnx").read_bytes() == b"someone else's bytes"
    assert cache.verify()[1] == []


def test_force_repairs_a_corrupted_install(file_registry: pathlib.Path,
                                           package: PackageFactory) -> None:
    publish(RegistryStore(file_registry), package(version="1.0.0"))
    model = installer(file_registry.as_uri()).install("test/matmul@1.0.0").model
    (model.path / "model.onnx").write_bytes(b"rotten")
    cache = Cache(Config().cache_dir)
    assert cache.verify_model(model)[1]
    assert installer(file_registry.as_uri()).install("test/matmul@1.0.0").status == \
        "already installed"
    repaired = installer(file_registry.as_uri(), force=True).install("test/matmul@1.0.0")
    assert repaired.installed and cache.verify_model(repaired.model)[1] == []
    assert cache.verify()[1] == []


def test_registry_package_whose_member_exceeds_its_declared_size(
        tmp_path: pathlib.Path, file_registry: pathlib.Path) -> None:
    """Issue 16 item 2, from a registry: refused at the member's header, nothing written."""
    zeros = bytes(32 << 20)
    archive = hostile(tmp_path / "liar.axon", [("model.onnx", zeros)],
                      {"model.onnx": b"y" * 1024})
    write_raw(file_registry, archive)
    written: list[int] = []
    with pytest.raises(IntegrityError, match="manifest declares 1024 bytes"):
        installer(file_registry.as_uri(),
                  progress=lambda done, total: written.append(done)).install("evil/pkg")
    cache = Cache(Config().cache_dir)
    assert_nothing_installed(cache)
    assert not [p for p in (cache.root / "tmp").rglob("*") if p.is_file()]


def test_gc_during_an_install_leaves_it_alone(file_registry: pathlib.Path,
                                              package: PackageFactory) -> None:
    """Issue 16 item 4: `axon cache gc` in the middle of a download deletes nothing it uses."""
    _, size = publish(RegistryStore(file_registry), package(version="1.0.0"))
    cache = Cache(Config().cache_dir)
    collected: list[int] = []

    def collect(done: int, total: int) -> None:
        if done == total == size and not collected:  # downloaded, not yet checked and renamed
            plan = plan_gc(cache)
            collected.append(len(plan.items))
            execute(cache, plan)

    with static_server(file_registry) as (url, _):
        result = installer(url, progress=collect).install("test/matmul")
    assert collected and result.installed
    assert cache.verify()[1] == []


def test_an_install_sweeps_what_a_killed_install_left(file_registry: pathlib.Path,
                                                      package: PackageFactory) -> None:
    """Stale staging goes at the next install; partial downloads only after the grace period."""
    publish(RegistryStore(file_registry), package(version="1.0.0"))
    cache = Cache(Config().cache_dir)
    tmp = cache.dir("tmp")
    dead = tmp / "stage-model-other-thing-1.0.0-0123456789ab"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "weights.bin").write_bytes(b"x" * 100)
    old_partial = tmp / f"sha256-{'a' * 64}.partial"
    old_partial.write_bytes(b"old")
    os.utime(old_partial, (1, 1))
    fresh_partial = tmp / f"sha256-{'b' * 64}.partial"
    fresh_partial.write_bytes(b"resume me")
    busy = tmp / "stage-model-busy-thing-1.0.0-0123456789ab"
    busy.mkdir()
    with cache.lock("model-busy-thing-1.0.0"):
        assert installer(file_registry.as_uri()).install("test/matmul").installed
    assert not dead.exists() and not old_partial.exists()
    assert fresh_partial.read_bytes() == b"resume me" and busy.exists()


def test_gc_skips_what_is_locked_and_keeps_young_partials(tmp_path: pathlib.Path) -> None:
    cache = Cache(Config().cache_dir)
    partial = cache.partial("c" * 64)
    partial.write_bytes(b"1234")
    stray = cache.blob("d" * 64)
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"12345")
    assert {i.path for i in plan_gc(cache, grace=3600).items} == {stray}
    with cache.lock(f"blob-{'d' * 64}"):
        plan = plan_gc(cache)
        assert {i.path for i in plan.items} == {stray, partial}
        skipped = execute(cache, plan)
    assert [i.path for i in skipped] == [stray] and stray.exists() and not partial.exists()
    execute(cache, plan_gc(cache))
    assert not stray.exists()
