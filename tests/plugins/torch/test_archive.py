"""Telling PyTorch files apart by their archive structure, and refusing pickles unread."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from mlos.errors import InvalidArgument
from mlos_plugins.torch.archive import ArchiveKind, inspect_archive
from tests.plugins.torch import nets


def test_torchscript_scripted_and_traced(files: dict[str, Path]) -> None:
    assert inspect_archive(files["script"]) is ArchiveKind.TORCHSCRIPT
    assert inspect_archive(files["trace"]) is ArchiveKind.TORCHSCRIPT


def test_export_program(files: dict[str, Path]) -> None:
    assert inspect_archive(files["export"]) is ArchiveKind.EXPORT


def test_full_pickle_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = nets.write_malicious_pickle(tmp_path / "evil.pt", marker)
    with pytest.raises(InvalidArgument, match=r"torch\.save pickle") as caught:
        inspect_archive(path)
    assert "TorchScript" in caught.value.message and "torch.export" in caught.value.message
    assert not marker.exists()


def test_state_dict_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(nets.SmallNet().state_dict(), str(path))
    with pytest.raises(InvalidArgument, match="arbitrary code"):
        inspect_archive(path)


def test_legacy_pickle_refused(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1)}, str(path), _use_new_zipfile_serialization=False)
    with pytest.raises(InvalidArgument, match="legacy format"):
        inspect_archive(path)


def test_plain_pickle_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(InvalidArgument, match="pickle"):
        inspect_archive(path)


def test_other_files_are_not_models(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(InvalidArgument, match="not a PyTorch archive"):
        inspect_archive(text)
    other = tmp_path / "other.pt"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("a/readme.txt", "hi")
    with pytest.raises(InvalidArgument, match="not a PyTorch model"):
        inspect_archive(other)


def _rewrite(source: Path, target: Path, edit: dict[str, bytes | None]) -> Path:
    """Copy a zip, replacing (bytes) or dropping (None) entries by their name suffix."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            match = next((k for k in edit if info.filename.endswith(k)), None)
            if match is None:
                new.writestr(info, old.read(info))
            elif edit[match] is not None:
                new.writestr(info.filename, edit[match] or b"")
        for name, data in edit.items():
            if name.startswith("+") and data is not None:
                new.writestr(f"{old.namelist()[0].split('/')[0]}/{name[1:]}", data)
    return target


def test_export_with_pickled_weights_refused(files: dict[str, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(files["export"]) as archive:
        name = next(n for n in archive.namelist() if n.endswith("model_weights_config.json"))
        config = json.loads(archive.read(name))
    first = next(iter(config["config"].values()))
    first["use_pickle"] = True
    path = _rewrite(
        files["export"], tmp_path / "pickled.pt2",
        {"model_weights_config.json": json.dumps(config).encode()},
    )
    with pytest.raises(InvalidArgument, match="pickled"):
        inspect_archive(path)


def test_export_with_legacy_weights_refused(files: dict[str, Path], tmp_path: Path) -> None:
    path = _rewrite(files["export"], tmp_path / "legacy.pt2", {"+data/weights/model.pt": b"x"})
    with pytest.raises(InvalidArgument, match="pickled weights"):
        inspect_archive(path)
