"""Typed errors: a bad request gets an error frame with the right code and a message, and the
connection stays up."""

from __future__ import annotations

import random
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from mlos.errors import StatusCode
from mlos_conformance.check import Check, Failed, Skipped
from mlos_conformance.session import Session
from mlos_conformance.wire import ConnectionDropped, ErrorFrame, error_of
from mlos_generated import smi_ipc, smi_pb2

__all__ = [
    "CHECKS",
    "GARBAGE_SIZE",
    "NEVER_LOADED",
    "UNKNOWN_METHOD",
    "expect_error",
    "write_garbage",
]

#: A method id of the Plugin service that the SMI has not assigned (service 1, method 255).
UNKNOWN_METHOD = 0x01FF
#: Bytes that do not decode as any protobuf message: field 3, length 5, then only 2 bytes.
UNDECODABLE = b"\x1a\x05ab"
GARBAGE_SIZE = 4096
#: File extensions `errors.load_garbage` tries at most (the first ones the plugin claims).
MAX_EXTENSIONS = 8
NEVER_LOADED = "conformance-never-loaded"


def _names(codes: tuple[StatusCode, ...]) -> str:
    return " or ".join(code.name for code in codes)


def _judge(exc: ErrorFrame, codes: tuple[StatusCode, ...], what: str) -> None:
    if exc.code == smi_pb2.ERROR_CODE_UNSPECIFIED:
        raise Failed(f"{what}: an untyped error frame (code 0); expected {_names(codes)}")
    if exc.code not in codes:
        raise Failed(f"{what}: expected {_names(codes)}, got {exc}")
    if not exc.message.strip():
        raise Failed(f"{what}: {exc.code_name} error frame without a message")


async def expect_error(
    session: Session, call: Awaitable[Any], codes: tuple[StatusCode, ...], what: str
) -> ErrorFrame:
    """Await `call`; `Failed` unless it ends in an error frame with one of `codes` and a
    message, after which the plugin still answers on the same connection."""
    try:
        await call
    except ErrorFrame as exc:
        _judge(exc, codes, what)
        await session.still_up(what)
        return exc
    except ConnectionDropped:
        raise Failed(f"{what}: {await session.dropped()}") from None
    raise Failed(f"{what} succeeded; expected {_names(codes)}")


async def _raw_error(session: Session, method_id: int, payload: bytes, what: str) -> ErrorFrame:
    try:
        frame = await session.exchange(method_id, payload)
    except ConnectionDropped:
        raise Failed(f"{what}: {await session.dropped()}") from None
    error = error_of(frame)
    if error is None:
        raise Failed(f"{what} got a response frame; expected an error frame")
    return error


async def unknown_method(session: Session) -> str:
    what = f"a request for method 0x{UNKNOWN_METHOD:04X}"
    error = await _raw_error(session, UNKNOWN_METHOD, b"", what)
    _judge(error, (StatusCode.UNIMPLEMENTED,), what)
    await session.still_up(what)
    return f"UNIMPLEMENTED ({error.message})"


async def malformed_payload(session: Session) -> str:
    what = "a LoadModel request whose payload does not decode"
    error = await _raw_error(session, smi_ipc.PLUGIN_LOAD_MODEL.id, UNDECODABLE, what)
    _judge(error, (StatusCode.INVALID_ARGUMENT,), what)
    await session.still_up(what)
    return f"INVALID_ARGUMENT ({error.message})"


async def load_missing(session: Session) -> str:
    path = session.scratch_file(f"missing{session.extension()}")
    error = await expect_error(
        session,
        session.load(path, name="conformance-missing"),
        (StatusCode.INVALID_ARGUMENT, StatusCode.NOT_FOUND),
        "loading a path that does not exist",
    )
    return f"{error.code_name} ({error.message})"


def write_garbage(session: Session, seed: int = 0, extension: str | None = None) -> Path:
    """A file of random bytes named like the plugin's models (its first file extension unless
    `extension` is given), alone in a directory of its own."""
    directory = session.scratch_file(f"garbage-{seed}")
    directory.mkdir(exist_ok=True)
    path = directory / f"garbage-{seed}{session.extension() if extension is None else extension}"
    path.write_bytes(random.Random(seed).randbytes(GARBAGE_SIZE))
    return path


async def load_garbage(session: Session) -> str:
    claimed = list(session.info.capabilities.file_extensions if session.info else ())
    tried = claimed[:MAX_EXTENSIONS] or [session.extension()]
    accepted: list[str] = []
    first: ErrorFrame | None = None
    for index, extension in enumerate(tried):
        path = write_garbage(session, seed=index, extension=extension)
        name = f"conformance-garbage-{index}"
        what = f"loading random bytes named {path.name}"
        try:
            await session.load(path, name=name)
        except ErrorFrame as exc:
            _judge(exc, (StatusCode.INVALID_ARGUMENT, StatusCode.NOT_FOUND), what)
            await session.still_up(what)
            first = first or exc
            continue
        except ConnectionDropped:
            raise Failed(f"{what}: {await session.dropped()}") from None
        await session.unload(name=name)
        accepted.append(path.name)
    if accepted and claimed:
        raise Failed(
            f"{', '.join(accepted)} ({GARBAGE_SIZE} random bytes) loaded as a model; a plugin "
            f"that claims {', '.join(claimed)} files must refuse one it cannot serve "
            "(INVALID_ARGUMENT)"
        )
    if accepted:
        raise Skipped(
            f"the plugin claims no file extension and accepts {GARBAGE_SIZE} random bytes as "
            "a model"
        )
    if first is None:  # pragma: no cover - every extension either loaded or failed
        raise Skipped("no extension to try")
    if len(tried) == 1:
        return f"{first.code_name} ({first.message})"
    return f"{first.code_name} for {', '.join(tried)} (first: {first.message})"


async def infer_unloaded(session: Session) -> str:
    request = smi_pb2.InferRequest(model_name=NEVER_LOADED, model_version="1", id="conformance")
    error = await expect_error(
        session,
        session.infer(request),
        (StatusCode.NOT_FOUND,),
        "Infer on a model that was never loaded",
    )
    return f"NOT_FOUND ({error.message})"


CHECKS = (
    Check(
        "errors.unknown_method",
        "A request for a method id the plugin does not know gets UNIMPLEMENTED; the "
        "connection stays up.",
        unknown_method,
    ),
    Check(
        "errors.malformed_payload",
        "A request whose payload does not decode gets INVALID_ARGUMENT, not a dropped connection.",
        malformed_payload,
    ),
    Check(
        "errors.load_missing",
        "Loading a path that does not exist gets INVALID_ARGUMENT or NOT_FOUND; the "
        "connection stays up.",
        load_missing,
    ),
    Check(
        "errors.load_garbage",
        "Loading a file of random bytes, named with each file extension the plugin claims, "
        "gets INVALID_ARGUMENT or NOT_FOUND; the connection stays up.",
        load_garbage,
    ),
    Check(
        "errors.infer_unloaded",
        "Infer on a model that was never loaded gets NOT_FOUND.",
        infer_unloaded,
    ),
)
