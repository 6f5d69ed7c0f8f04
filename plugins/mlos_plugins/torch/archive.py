"""What a PyTorch file is, told from its zip archive alone, and the pickles MLOS refuses.

`inspect_archive` reads the archive's table of contents (and, for ``torch.export`` programs,
its small JSON configs) without unpickling or running anything:

* a **TorchScript** archive (``torch.jit.save``) holds ``code/`` and ``constants.pkl``; its
  pickles are read by TorchScript's own unpickler, which builds tensors and TorchScript classes
  only and never calls Python;
* a **torch.export** program (``torch.export.save``, ``.pt2``) holds ``archive_format``,
  ``models/*.json`` and its weights as raw tensor bytes;
* a **full pickle** (``torch.save`` of a module or a state dict, in the zip format or the
  legacy one) holds ``data.pkl`` and nothing to compile; loading it runs whatever code its
  pickle names, so it is refused with `InvalidArgument` before anything is read.

A ``.pt2`` archive may also carry pickled weights or Python objects among its constants
(``use_pickle`` entries, opaque objects, legacy ``.pt`` weight files); ``torch.export.load``
would unpickle them with Python's pickle, so such archives are refused too.
"""

from __future__ import annotations

import enum
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlos.errors import InvalidArgument

__all__ = ["ACCEPTED", "ArchiveKind", "inspect_archive"]

#: What the torch plugin loads, for error messages.
ACCEPTED = (
    "the torch plugin loads TorchScript archives (torch.jit.script or torch.jit.trace, then "
    "torch.jit.save) and torch.export programs (torch.export.export, then torch.export.save "
    "to a .pt2 file)"
)

_PICKLE_PROTOCOL = 0x80
_WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
_CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
_TENSOR_CONSTANT = "tensor_"
_CONFIG_LIMIT = 16 * 1024 * 1024


class ArchiveKind(enum.Enum):
    """The kinds of PyTorch files the plugin serves."""

    TORCHSCRIPT = "torchscript"
    EXPORT = "torch_export"


@dataclass(frozen=True, slots=True)
class _Contents:
    """The archive's entries, relative to its single top-level folder."""

    names: frozenset[str]
    prefix: str


def _contents(archive: zipfile.ZipFile) -> _Contents:
    entries = [name for name in archive.namelist() if not name.endswith("/")]
    prefixes = {name.split("/", 1)[0] for name in entries if "/" in name}
    if len(prefixes) != 1:
        return _Contents(frozenset(entries), "")
    prefix = next(iter(prefixes)) + "/"
    return _Contents(frozenset(n[len(prefix):] for n in entries if n.startswith(prefix)), prefix)


def _refuse_pickle(path: Path, what: str) -> InvalidArgument:
    return InvalidArgument(
        f"{path} is {what}; loading it would run arbitrary code from the file, so the torch "
        f"plugin refuses it. {ACCEPTED[0].upper()}{ACCEPTED[1:]}."
    )


def _json(archive: zipfile.ZipFile, name: str, path: Path) -> dict[str, Any]:
    info = archive.getinfo(name)
    if info.file_size > _CONFIG_LIMIT:
        raise InvalidArgument(f"{path}: {name} is too large for a torch.export config")
    try:
        document = json.loads(archive.read(info))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path}: {name} is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{path}: {name} is not a JSON object")
    return document


def _payloads(document: dict[str, Any]) -> list[dict[str, Any]]:
    config = document.get("config", {})
    if not isinstance(config, dict):
        return []
    return [entry for entry in config.values() if isinstance(entry, dict)]


def _check_export(archive: zipfile.ZipFile, contents: _Contents, path: Path) -> None:
    """Refuse a .pt2 archive that torch.export.load would read with Python's pickle."""
    names = contents.names
    if not any(n.startswith("models/") and n.endswith(".json") for n in names):
        raise InvalidArgument(f"{path} is a PT2 archive without an exported program (models/)")
    legacy = sorted(
        n for n in names
        if n.startswith(("data/weights/", "data/constants/")) and n.endswith(".pt")
    )
    if legacy:
        raise _refuse_pickle(path, f"a torch.export archive with pickled weights ({legacy[0]})")
    for config_name in (_WEIGHTS_CONFIG, _CONSTANTS_CONFIG):
        if config_name not in names:
            continue
        for entry in _payloads(_json(archive, contents.prefix + config_name, path)):
            path_name = str(entry.get("path_name", ""))
            if entry.get("use_pickle"):
                raise _refuse_pickle(path, f"a torch.export archive with a pickled {path_name}")
            if config_name == _CONSTANTS_CONFIG and not path_name.startswith(_TENSOR_CONSTANT):
                raise _refuse_pickle(
                    path, f"a torch.export archive with a pickled Python object ({path_name})"
                )


def inspect_archive(path: Path) -> ArchiveKind:
    """The kind of PyTorch file at `path`; raise InvalidArgument for anything else.

    Never unpickles: a full-pickle file is recognised by its structure and refused.
    """
    try:
        with open(path, "rb") as stream:
            head = stream.read(4)
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
    if not zipfile.is_zipfile(path):
        if head[:1] == bytes([_PICKLE_PROTOCOL]):
            raise _refuse_pickle(path, "a pickle (torch.save in the legacy format)")
        raise InvalidArgument(f"{path} is not a PyTorch archive; {ACCEPTED}")
    try:
        with zipfile.ZipFile(path) as archive:
            contents = _contents(archive)
            names = contents.names
            if "archive_format" in names:
                _check_export(archive, contents, path)
                return ArchiveKind.EXPORT
            if "constants.pkl" in names and any(n.startswith("code/") for n in names):
                return ArchiveKind.TORCHSCRIPT
            if "data.pkl" in names:
                raise _refuse_pickle(
                    path, "a torch.save pickle (a whole module or a state dict)"
                )
    except zipfile.BadZipFile as exc:
        raise InvalidArgument(f"{path} is a damaged zip archive: {exc}") from None
    raise InvalidArgument(f"{path} is a zip archive but not a PyTorch model; {ACCEPTED}")
