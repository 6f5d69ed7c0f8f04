"""mlos.core.digests: declared sizes and sha256 checked before a plugin loads a model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlos.core.digests import check_files, files_root
from mlos.errors import InvalidArgument
from mlos_generated import smi_pb2


def declared(name: str, data: bytes) -> smi_pb2.ModelFile:
    return smi_pb2.ModelFile(path=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "model.onnx").write_bytes(b"weights")
    (root / "sub" / "labels.txt").write_bytes(b"cat\ndog\n")
    return root


def test_matching_files_pass(model: Path) -> None:
    files = [declared("model.onnx", b"weights"), declared("sub/labels.txt", b"cat\ndog\n")]
    check_files(model / "model.onnx", files)
    check_files(model, files)
    check_files(model / "sub" / "labels.txt", files, str(model))


@pytest.mark.parametrize("item,message", [
    (declared("model.onnx", b"weightz"), "does not match its declared sha256"),
    (declared("model.onnx", b"weights!"), "does not have its declared size (8 bytes)"),
    (declared("gone.bin", b""), "'gone.bin' is missing"),
    (declared("../model/model.onnx", b"weights"), "without '..'"),
    (declared("/etc/passwd", b""), "must be relative"),
    (smi_pb2.ModelFile(path="model.onnx", size=7, sha256="XYZ"), "64 lower-case hex"),
])
def test_mismatches_name_the_file(model: Path, item: smi_pb2.ModelFile, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_files(model / "model.onnx", [item])


def test_a_huge_file_is_read_only_past_its_declared_size(model: Path) -> None:
    (model / "big.bin").write_bytes(bytes(4 << 20))
    with pytest.raises(InvalidArgument, match="declared size"):
        check_files(model, [declared("big.bin", b"tiny")])


def test_links_out_of_the_directory_are_refused(model: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"s")
    (model / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(InvalidArgument, match="outside"):
        check_files(model, [declared("link", b"s")])


def test_files_root_must_be_absolute(model: Path) -> None:
    assert files_root(model / "model.onnx", "") == model
    with pytest.raises(InvalidArgument, match="absolute"):
        files_root(model, "relative/dir")
