"""Unloading and load/unload cycles: unload always succeeds, and what a model took comes back."""

from __future__ import annotations

from mlos.errors import StatusCode
from mlos_conformance.check import Check, Failed, Skipped
from mlos_conformance.checks.faults import NEVER_LOADED, expect_error
from mlos_conformance.resources import measure, mib, mib_change, settle
from mlos_conformance.session import MODEL_NAME, MODEL_VERSION, Session
from mlos_conformance.wire import ErrorFrame

__all__ = ["CHECKS"]


async def _unload(session: Session, name: str, what: str) -> None:
    try:
        await session.unload(name=name)
    except ErrorFrame as exc:
        raise Failed(f"unloading {what} failed with {exc}") from None


async def unload_unknown(session: Session) -> str:
    await _unload(session, NEVER_LOADED, "a model that was never loaded")
    return "unloading a model that was never loaded succeeds"


async def unload_repeated(session: Session) -> str:
    await session.ensure_loaded()
    await _unload(session, MODEL_NAME, "the model")
    await _unload(session, MODEL_NAME, "the model a second time")
    key = f"{MODEL_NAME}/{MODEL_VERSION}"
    if key in await session.loaded_models():
        raise Failed(f"Health still lists {key} after it was unloaded")
    return "unload, then unload again, both succeed; Health no longer lists the model"


async def infer_after_unload(session: Session) -> str:
    await session.ensure_loaded()
    request = session.infer_request(tag="-after-unload")
    await _unload(session, MODEL_NAME, "the model")
    error = await expect_error(
        session, session.infer(request), (StatusCode.NOT_FOUND,), "Infer after unload"
    )
    return f"NOT_FOUND ({error.message})"


async def _cycle(session: Session, infer: bool) -> None:
    await session.ensure_loaded()
    if infer:
        try:
            await session.infer(session.infer_request(tag="-cycle"))
        except ErrorFrame as exc:
            raise Failed(f"Infer during the cycles failed with {exc}") from None
    await _unload(session, MODEL_NAME, "the model")


async def cycles(session: Session) -> str:
    options = session.options
    if options.cycles < 1:
        raise Skipped("no cycles asked for (--cycles 0)")
    handle = session.process
    # A first cycle, so that what a plugin creates once (imports, pools, caches) is part of
    # the baseline.
    await _cycle(session, infer=True)
    baseline = measure(handle)
    for _ in range(options.cycles):
        await _cycle(session, infer=True)
    usage, problems = await settle(handle, baseline, options.rss_tolerance, options.settle_timeout)
    if problems:
        raise Failed(f"after {options.cycles} load/unload cycles: {'; '.join(problems)}")
    return (
        f"{options.cycles} cycles: RSS {mib_change(usage.rss - baseline.rss)} "
        f"(tolerance {mib(options.rss_tolerance)}), fds {baseline.fds} -> {usage.fds}, "
        f"threads {baseline.threads} -> {usage.threads}, "
        f"shm {len(baseline.shm)} -> {len(usage.shm)}"
    )


CHECKS = (
    Check(
        "unload.unknown",
        "Unloading a model that was never loaded succeeds.",
        unload_unknown,
    ),
    Check(
        "unload.repeated",
        "Unloading a loaded model succeeds, unloading it again succeeds too, and Health no "
        "longer lists it.",
        unload_repeated,
    ),
    Check(
        "unload.infer_after",
        "Infer on a model after it was unloaded gets NOT_FOUND.",
        infer_after_unload,
    ),
    Check(
        "lifecycle.cycles",
        "After N load/infer/unload cycles, RSS (within a tolerance), open file descriptors, "
        "threads and mapped /dev/shm segments are back to their baseline.",
        cycles,
    ),
)
