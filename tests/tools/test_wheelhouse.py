"""tools/wheelhouse.py: installed distributions packed back into wheels pip accepts."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import pytest

from tests.wheels import tool

wheelhouse = tool("wheelhouse")


def test_closure_follows_dependencies_and_skips_ours() -> None:
    names = {d.metadata["Name"].lower() for d in wheelhouse.closure(
        wheelhouse.project_requirements("mlos-conformance"), skip=["mlos-server", "mlos-plugin-sdk"])}
    assert {"numpy", "protobuf", "psutil", "pyyaml"} <= names
    assert not any(name.startswith("mlos") for name in names)
    # requests is the server's dependency, not the kit's own.
    assert "requests" not in names


def test_an_unsatisfied_requirement_is_named() -> None:
    with pytest.raises(wheelhouse.WheelhouseError, match=r"numpy<1 is not satisfied here: only .* is installed"):
        wheelhouse.closure([wheelhouse.Requirement("numpy<1")])
    assert wheelhouse.main(["--outdir", "/nonexistent-never-written", "no-such-dist-xyz"]) == 2


def test_a_packed_wheel_holds_the_installed_files_with_their_hashes(tmp_path: Path) -> None:
    dist = importlib.metadata.distribution("pyyaml")
    path = wheelhouse.pack(dist, tmp_path)
    assert path.name.startswith(f"pyyaml-{dist.version}-cp3")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
        rows = [line.split(",") for line in archive.read(record_name).decode().splitlines()]
        assert {row[0] for row in rows} == set(names)
        for member, digest, size in rows:
            if member == record_name:
                continue
            data = archive.read(member)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}" and int(size) == len(data)
    assert "yaml/__init__.py" in names and not any("__pycache__" in n or n.endswith("/INSTALLER") for n in names)
    assert wheelhouse.pack(dist, tmp_path) == path  # packed once
