"""``axon pack`` determinism and safe extraction of hostile packages."""

from __future__ import annotations

import gzip
import hashlib
import io
import pathlib
import tarfile

import pytest

from axon.errors import IntegrityError, UnsafePackageError, UsageError
from axon.extraction import extract
from axon.manifest import dump_yaml
from axon.package import pack
from tests.axon.conftest import make_package_dir

MODEL = b"not really onnx but hashed all the same"


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    data = {
        "manifest_version": 1, "namespace": "evil", "name": "pkg", "version": "1.0.0",
        "framework": {"name": "onnx", "format": "onnx"},
        "files": [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                  for p, b in files.items()],
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [1]}],
        "plugin": {"name": "onnx"},
    }
    return dump_yaml(data).encode()


def hostile(path: pathlib.Path, members: list[tarfile.TarInfo | tuple[str, bytes]],
            declared: dict[str, bytes] | None = None) -> pathlib.Path:
    """A gzip tar: manifest.yaml (declaring ``declared``) then ``members``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        blob = manifest_bytes(declared if declared is not None else {"model.onnx": MODEL})
        info = tarfile.TarInfo("manifest.yaml")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
        for member in members:
            if isinstance(member, tuple):
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
            else:
                tar.addfile(member)
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_pack_is_deterministic(tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src")
    first = pack(src, tmp_path / "a.axon")
    (src / "model.onnx").touch()  # new mtime, same bytes
    second = pack(src, tmp_path / "b.axon")
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.axon").read_bytes() == (tmp_path / "b.axon").read_bytes()
    with tarfile.open(first.path) as tar:
        names = [(m.name, m.mtime, m.uid, m.uname, m.mode) for m in tar]
    assert names == [("manifest.yaml", 0, 0, "", 0o644), ("model.onnx", 0, 0, "", 0o644)]


def test_pack_fills_sizes_and_digests(tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src")
    (src / "labels.txt").write_text("cat\ndog\n")
    text = (src / "manifest.yaml").read_text()
    (src / "manifest.yaml").write_text(text.replace("  size:", "  size: 0 #").replace(
        "files:\n", "files:\n- path: labels.txt\n  size: 0\n  sha256: " + "b" * 64 + "\n"))
    result = pack(src, tmp_path / "out.axon")
    by_path = {f.path: f for f in result.manifest.files}
    assert by_path["labels.txt"].size == 8
    assert by_path["labels.txt"].sha256 == hashlib.sha256(b"cat\ndog\n").hexdigest()
    assert by_path["labels.txt"].role == "labels"


def test_pack_refuses_an_invalid_manifest(tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src")
    text = (src / "manifest.yaml").read_text().replace("- name: x", "- name: z")
    (src / "manifest.yaml").write_text(text)
    with pytest.raises(IntegrityError, match="the model has no input 'z'"):
        pack(src, tmp_path / "out.axon")


def test_pack_without_manifest_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match="run `axon init"):
        pack(tmp_path, tmp_path / "out.axon")


def test_extract_round_trip(tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src")
    result = pack(src, tmp_path / "out.axon")
    dest = tmp_path / "dest"
    dest.mkdir()
    manifest = extract(result.path, dest, 1 << 20, result.manifest)
    assert manifest == result.manifest
    assert (dest / "model.onnx").read_bytes() == (src / "model.onnx").read_bytes()


HOSTILE = {
    "traversal": ([("../evil.txt", b"x")], "points outside the package"),
    "nested traversal": ([("a/../../evil.txt", b"x")], "points outside the package"),
    "absolute": ([("/tmp/evil.txt", b"x")], "absolute or invalid path"),
    "escaping symlink": ([link("model.onnx", "../../outside")], "outside the package"),
    "absolute symlink": ([link("model.onnx", "/etc/passwd")], "outside the package"),
    "inner symlink": ([link("model.onnx", "manifest.yaml")], "is a link"),
    "hardlink": ([link("model.onnx", "../x", tarfile.LNKTYPE)], "outside the package"),
    "device": ([link("model.onnx", "", tarfile.CHRTYPE)], "device, pipe or other special"),
    "fifo": ([link("model.onnx", "", tarfile.FIFOTYPE)], "device, pipe or other special"),
    "undeclared file": ([("model.onnx", MODEL), ("extra.bin", b"x")], "not declared"),
    "duplicate": ([("model.onnx", MODEL), ("model.onnx", MODEL)], "appears twice"),
    "digest mismatch": ([("model.onnx", MODEL[:-1] + b"!")], "expected 39 bytes with sha256"),
    "missing file": ([], "missing model.onnx"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_packages_are_refused(tmp_path: pathlib.Path, case: str) -> None:
    members, message = HOSTILE[case]
    archive = hostile(tmp_path / "bad.axon", members)
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(IntegrityError, match=message):
        extract(archive, dest, 1 << 20)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert not list(dest.rglob("*.onnx")) or case in ("undeclared file", "digest mismatch",
                                                      "duplicate")


def test_decompression_bomb_is_refused(tmp_path: pathlib.Path) -> None:
    zeros = bytes(8 << 20)
    archive = hostile(tmp_path / "bomb.axon", [("model.onnx", zeros)], {"model.onnx": zeros})
    assert archive.stat().st_size < 64 << 10
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafePackageError, match="size limit"):
        extract(archive, dest, 1 << 20)
    assert not (dest / "model.onnx").exists()


def test_truncated_package_is_corrupt(tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src")
    result = pack(src, tmp_path / "out.axon")
    cut = tmp_path / "cut.axon"
    cut.write_bytes(result.path.read_bytes()[: result.size // 2])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="truncated or corrupt"):
        extract(cut, dest, 1 << 20)


def test_declared_size_is_enforced_before_a_member_is_written(tmp_path: pathlib.Path) -> None:
    """Issue 16 item 2: a member larger than the manifest says is refused before it is written."""
    small = b"x" * 1024
    zeros = bytes(64 << 20)
    archive = hostile(tmp_path / "liar.axon", [("model.onnx", zeros)], {"model.onnx": small})
    assert archive.stat().st_size < 1 << 20
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="manifest declares 1024 bytes"):
        extract(archive, dest, 1 << 40)
    written = [p.stat().st_size for p in dest.rglob("*") if p.is_file()]
    assert max(written, default=0) <= 1 << 20, written


def test_undeclared_member_is_refused_before_it_is_written(tmp_path: pathlib.Path) -> None:
    archive = hostile(tmp_path / "extra.axon", [("model.onnx", MODEL), ("extra.bin", b"x" * 99)])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafePackageError, match=r"'extra\.bin' is not declared"):
        extract(archive, dest, 1 << 20)
    assert not (dest / "extra.bin").exists()


def test_unpack_reports_progress_in_declared_bytes(tmp_path: pathlib.Path) -> None:
    src = make_package_dir(tmp_path / "src")
    result = pack(src, tmp_path / "out.axon")
    dest = tmp_path / "dest"
    dest.mkdir()
    seen: list[tuple[int, int]] = []
    extract(result.path, dest, 1 << 20, progress=lambda done, total: seen.append((done, total)))
    total = sum(f.size for f in result.manifest.files)
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
