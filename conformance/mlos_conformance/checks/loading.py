"""Loading: a failed load keeps nothing; a good load reports usable metadata."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from mlos_conformance.check import Check, Failed, fail_on
from mlos_conformance.checks.faults import write_garbage
from mlos_conformance.contract import metadata_problems
from mlos_conformance.resources import measure, mib, mib_change, settle
from mlos_conformance.session import MODEL_NAME, MODEL_VERSION, Session
from mlos_conformance.wire import ConnectionDropped, ErrorFrame
from mlos_generated import smi_pb2

__all__ = ["CHECKS", "FAILED_LOADS", "describe_tensors"]

#: Failed loads `load.atomic` makes after its warm-up.
FAILED_LOADS = 3


def describe_tensors(specs: Iterable[smi_pb2.TensorMetadata | smi_pb2.Tensor]) -> str:
    """Names, datatypes and shapes in one line: "x FP32 [-1, 4], y INT64 [3]"."""
    return ", ".join(f"{s.name} {s.datatype} {list(s.shape)}" for s in specs)


async def _failing_load(session: Session, name: str, attempt: int) -> bool:
    """Try to load something that is no model; whether the load failed."""
    if attempt % 2:
        path = write_garbage(session, seed=attempt)
    else:
        path = session.scratch_file(f"missing-{attempt}{session.extension()}")
    try:
        await session.load(path, name=name)
    except ErrorFrame:
        return True
    except ConnectionDropped:
        raise Failed(f"a failed load: {await session.dropped()}") from None
    await session.unload(name=name)
    return False


async def atomic(session: Session) -> str:
    handle = session.process
    # One failed load first, so that what a plugin creates once (imports, thread pools)
    # is part of the baseline.
    failed: list[str] = []
    if await _failing_load(session, "conformance-atomic-0", 0):
        failed.append("conformance-atomic-0")
    baseline = measure(handle)
    for attempt in range(1, FAILED_LOADS + 1):
        name = f"conformance-atomic-{attempt}"
        if await _failing_load(session, name, attempt):
            failed.append(name)
    if not failed:
        raise Failed(
            "every load of a missing or garbage file succeeded; a path that does not exist "
            "must be refused"
        )
    listed = [m for m in await session.loaded_models() if m.partition("/")[0] in failed]
    if listed:
        raise Failed(f"Health lists models whose load failed: {', '.join(listed)}")
    usage, problems = await settle(
        handle,
        baseline,
        session.options.rss_tolerance,
        session.options.settle_timeout,
        threads=False,
    )
    if problems:
        raise Failed(f"after {FAILED_LOADS} failed loads: {'; '.join(problems)}")
    return (
        f"{len(failed)} failed loads leave no model in Health; RSS "
        f"{mib_change(usage.rss - baseline.rss)} (tolerance {mib(session.options.rss_tolerance)}), "
        f"fds {baseline.fds} -> {usage.fds}"
    )


async def model(session: Session) -> str:
    metadata = await session.ensure_loaded()
    problems = metadata_problems(metadata, MODEL_NAME)
    key = f"{MODEL_NAME}/{MODEL_VERSION}"
    with contextlib.suppress(ConnectionDropped):
        if key not in await session.loaded_models():
            problems.append(f"Health does not list {key} after it loaded")
    fail_on(problems)
    return (
        f"inputs {describe_tensors(metadata.inputs) or 'none'}; "
        f"outputs {describe_tensors(metadata.outputs)}"
    )


CHECKS = (
    Check(
        "load.atomic",
        "Failed loads keep nothing: Health lists none of them and memory, file descriptors "
        "and shared memory do not grow.",
        atomic,
    ),
    Check(
        "load.model",
        "The model loads; its metadata declares named outputs (and inputs) with Open Inference "
        "Protocol datatypes and shapes, and Health lists it.",
        model,
    ),
)
