"""`mlos infer MODEL --input NAME=VALUE ...`: run one inference request and print the outputs.

An input value is a JSON literal (`'x=[[1, 2], [3, 4]]'`) or a file: `x=@batch.npy` (numpy's
format, no pickles) or `x=@batch.json`. A JSON value's datatype is, in order: `--datatype`
(`x=FP32`, or `FP32` for every input), the model's metadata, or what the literal holds (INT64,
FP64, BOOL or BYTES). A `.npy` file keeps its own dtype unless `--datatype` names one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlos.cli.context import Context, UsageError, add_remote_options
from mlos.cli.output import shape_text
from mlos.client import Array
from mlos.errors import MLOSError
from mlos.wire import tensors

__all__ = ["InputSpec", "json_data", "parse_datatypes", "parse_input", "register"]


class InputSpec:
    """One `--input NAME=VALUE`: the name, and the literal or file it gives."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    @property
    def file(self) -> Path | None:
        """The file for `@PATH` values."""
        return Path(self.value[1:]).expanduser() if self.value.startswith("@") else None

    def load(self, datatype: str | None) -> Array:
        """The input as an array of `datatype` (None: the value's own type)."""
        path = self.file
        if path is not None and path.suffix != ".json":
            array = _load_npy(self.name, path)
            if datatype is None or datatype in ("BYTES", "BF16"):
                return array
            return _cast(self.name, array, datatype)
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise UsageError(
                    f"--input {self.name}: cannot read {path}: {exc.strerror}"
                ) from None
            except ValueError as exc:
                raise UsageError(f"--input {self.name}: {path} is not JSON: {exc}") from None
        else:
            try:
                data = json.loads(self.value)
            except ValueError as exc:
                raise UsageError(
                    f"--input {self.name}: {self.value!r} is not a JSON literal ({exc}); "
                    "use NAME=@FILE for a file"
                ) from None
        return _from_json(self.name, data, datatype)


def _load_npy(name: str, path: Path) -> Array:
    try:
        loaded: Any = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"--input {name}: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--input {name}: {path} is not a .npy array: {exc}") from None
    if not isinstance(loaded, np.ndarray):
        raise UsageError(f"--input {name}: {path} holds several arrays; give one .npy file")
    return loaded


def _cast(name: str, array: Array, datatype: str) -> Array:
    try:
        return array.astype(tensors.numpy_dtype(datatype), copy=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--input {name}: cannot be read as {datatype}: {exc}") from None


def _from_json(name: str, data: Any, datatype: str | None) -> Array:
    """A JSON value (nested lists or a scalar) as an array."""
    if datatype == "BYTES" or (datatype is None and _holds_strings(data)):
        return np.array(data, dtype=object)
    if datatype == "BF16":
        return np.array(data, dtype=np.float32)
    try:
        array = np.array(data)
    except ValueError as exc:
        raise UsageError(f"--input {name}: the value is not a rectangular array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise UsageError(f"--input {name}: expected numbers, booleans or strings")
    return array if datatype is None else _cast(name, array, datatype)


def _holds_strings(data: Any) -> bool:
    while isinstance(data, list) and data:
        data = data[0]
    return isinstance(data, str)


def parse_input(text: str) -> InputSpec:
    """`NAME=VALUE` → an InputSpec (argparse type)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE or NAME=@FILE")
    return InputSpec(name.strip(), value)


def parse_datatypes(items: Sequence[str] | None, names: Sequence[str]) -> dict[str, str]:
    """`--datatype` values (`FP32` for all inputs, or `NAME=FP32`) as name → datatype."""
    chosen: dict[str, str] = {}
    for item in items or ():
        name, sep, datatype = item.rpartition("=")
        datatype = datatype.strip().upper()
        if datatype not in tensors.DATATYPES:
            raise UsageError(
                f"--datatype {item!r}: unknown datatype (one of {', '.join(tensors.DATATYPES)})"
            )
        if not sep:
            chosen.update(dict.fromkeys(names, datatype))
        elif name not in names:
            raise UsageError(f"--datatype {item!r}: no --input named {name!r}")
        else:
            chosen[name] = datatype
    return chosen


def json_data(array: Array) -> Any:
    """An output array as nested JSON lists (BYTES elements as text).

    FP16 and FP32 elements print in their own shortest form (`0.1`, not `0.10000000149`),
    which reads back to the same value.
    """
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:
        shortest = [float(str(e)) for e in array.reshape(-1)]
        return np.array(shortest, dtype=np.float64).reshape(array.shape).tolist()
    if array.dtype.kind == "O":
        texts = [
            e.decode("utf-8", "backslashreplace") if isinstance(e, bytes) else e
            for e in array.reshape(-1).tolist()
        ]
        return np.array(texts, dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def _metadata_datatypes(ctx: Context) -> Mapping[str, str]:
    """Input datatypes from the model's metadata ({} when it cannot be read)."""
    try:
        metadata = ctx.client.model_metadata(ctx.args.model, ctx.args.version)
    except MLOSError:
        return {}
    return {t.name: t.datatype for t in metadata.inputs}


def cmd_infer(ctx: Context) -> int:
    """Run one inference request and print or save the outputs."""
    args = ctx.args
    specs: list[InputSpec] = args.inputs
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise UsageError("each --input name may appear once")
    datatypes = parse_datatypes(args.datatype, names)
    if any(s.name not in datatypes and (s.file is None or s.file.suffix == ".json") for s in specs):
        datatypes = {**_metadata_datatypes(ctx), **datatypes}
    inputs = {s.name: s.load(datatypes.get(s.name)) for s in specs}
    sent = {name: datatypes[name] for name in inputs if name in datatypes}
    outputs = ctx.client.infer(
        args.model, inputs, outputs=args.outputs, version=args.version,
        binary=not args.no_binary, datatypes=sent,
    )
    if args.save_dir is not None:
        _save(ctx, Path(args.save_dir), outputs)
    described = [
        {"name": name, "datatype": tensors.datatype_of(array), "shape": list(array.shape),
         "data": json_data(array)}
        for name, array in outputs.items()
    ]
    ctx.output.document({"model_name": args.model, "outputs": described})
    options = {"threshold": 200, "edgeitems": 4, "max_line_width": 100, "precision": 6}
    for index, (name, array) in enumerate(outputs.items()):
        if index:
            ctx.output.line()
        ctx.output.line(f"{name}  {tensors.datatype_of(array)}  {shape_text(array.shape)}")
        shown = np.array(json_data(array), dtype=object) if array.dtype.kind == "O" else array
        ctx.output.line(np.array2string(shown, **options))  # type: ignore[arg-type]  # numpy's stubs type the options narrower than it takes them
    return 0


def _save(ctx: Context, directory: Path, outputs: Mapping[str, Array]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in outputs.items():
        path = directory / f"{name}.npy"
        np.save(path, array.astype(str) if array.dtype.kind == "O" else array, allow_pickle=False)
        ctx.output.line(f"saved {name} to {path}")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mlos infer` to the command parser."""
    parser = commands.add_parser(
        "infer", help="run one inference request", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_remote_options(parser)
    parser.add_argument("model", metavar="MODEL", help="model name")
    parser.add_argument("--version", metavar="V", help="model version (default: the latest)")
    parser.add_argument(
        "--input", "-i", dest="inputs", metavar="NAME=VALUE", type=parse_input, action="append",
        required=True, help="an input: a JSON literal, @FILE.npy or @FILE.json (repeatable)",
    )
    parser.add_argument(
        "--datatype", "-d", metavar="[NAME=]TYPE", action="append",
        help="datatype of JSON inputs, for example FP32 or x=INT64 (repeatable)",
    )
    parser.add_argument(
        "--output", "-o", dest="outputs", metavar="NAME", action="append",
        help="return only this output (repeatable; default: all)",
    )
    parser.add_argument("--save-dir", metavar="DIR", help="also write each output to DIR/NAME.npy")
    parser.add_argument(
        "--no-binary", action="store_true",
        help="send and receive tensors as JSON instead of binary data",
    )
    parser.set_defaults(func=cmd_infer)
