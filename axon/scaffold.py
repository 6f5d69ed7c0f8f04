"""``axon init``: a starting manifest for a model file, signature read from the model."""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass
from typing import Any

from axon.digest import sha256_file
from axon.errors import UsageError
from axon.manifest import MANIFEST_NAME, dump_yaml
from axon.signature import SignatureUnavailable, guess_format, read_signature

__all__ = ["InitResult", "init_manifest"]

_PLUGIN_FOR = {"onnx": "onnx", "pytorch": "torch", "tensorflow": "tensorflow"}


@dataclass(frozen=True)
class InitResult:
    """The written manifest and anything the user still has to fill in."""

    path: pathlib.Path
    data: dict[str, Any]
    todo: tuple[str, ...]


def _identifier(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return cleaned[:64] or "model"


def init_manifest(model_file: pathlib.Path, namespace: str = "local", name: str | None = None,
                  version: str = "0.1.0", force: bool = False) -> InitResult:
    """Write ``manifest.yaml`` beside ``model_file``; refuse to overwrite unless ``force``."""
    if not model_file.exists():
        raise UsageError(f"{model_file}: no such model file")
    target = model_file.parent / MANIFEST_NAME
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    framework, fmt = guess_format(model_file)
    todo: list[str] = []
    data: dict[str, Any] = {
        "manifest_version": 1,
        "namespace": _identifier(namespace),
        "name": _identifier(name or model_file.stem),
        "version": version,
        "description": f"{model_file.stem} model",
        "license": "UNLICENSED",
        "framework": {"name": framework, "format": fmt},
        "entrypoint": model_file.name,
    }
    todo += ["description", "license"]
    inputs: list[dict[str, Any]] = [{"name": "input", "datatype": "FP32", "shape": [-1]}]
    outputs: list[dict[str, Any]] = [{"name": "output", "datatype": "FP32", "shape": [-1]}]
    try:
        sig = read_signature(model_file, fmt)
    except SignatureUnavailable as exc:
        todo += ["inputs", "outputs"]
        data["description"] += f" (signature not read: {exc})"
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    else:
        inputs = [t.to_dict() for t in sig.inputs]
        outputs = [t.to_dict() for t in sig.outputs]
        if sig.framework_version:
            data["framework"]["version"] = sig.framework_version
        if sig.opset:
            data["framework"]["opset"] = sig.opset
    if model_file.is_file():
        digest, size = sha256_file(model_file)
        data["files"] = [{"path": model_file.name, "size": size, "sha256": digest,
                          "role": "model"}]
    else:
        data["files"] = []
        todo.append("files")
    data["inputs"], data["outputs"] = inputs, outputs
    data["plugin"] = {"name": _PLUGIN_FOR.get(framework, "custom"), "version": ">=0.1.0"}
    data["serving"] = {"max_batch_size": 0}
    target.write_text(dump_yaml(data), encoding="utf-8")
    return InitResult(target, data, tuple(todo))
