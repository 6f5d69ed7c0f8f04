"""Files Axon creates follow the user's umask (issue 16): packages, registry files, the cache."""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
from collections.abc import Iterator

import pytest

from axon.config import Config
from axon.installer import Installer
from axon.package import pack
from axon.registry_client import RegistryClient
from tests.axon.conftest import make_package_dir


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: pathlib.Path) -> dict[str, int]:
    """Permission bits of everything under ``root`` except locks, by relative path."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in root.rglob("*") if "locks" not in p.parts}


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755),
                                                     (0o077, 0o600, 0o700)])
def test_packages_registry_and_cache_follow_the_umask(
        tmp_path: pathlib.Path, mask: int, file_mode: int, dir_mode: int) -> None:
    with umask(mask):
        src = make_package_dir(tmp_path / "src")
        registry = tmp_path / "registry"
        config = Config()
        config.add_registry("r", registry.as_uri())
        client = RegistryClient(config.registry("r"))
        built = pack(src, tmp_path / "dist" / "p.axon")
        client.publish(built.path)
        Installer(config, "r").install("test/matmul@1.0.0")
    assert stat.S_IMODE(built.path.stat().st_mode) == file_mode
    found = modes(registry) | modes(config.cache_dir)
    assert found
    for rel, mode in found.items():
        path = registry / rel if (registry / rel).exists() else config.cache_dir / rel
        if rel.startswith(".axon"):
            continue
        expected = dir_mode if path.is_dir() else file_mode
        assert mode == expected, f"{rel}: {oct(mode)}"
