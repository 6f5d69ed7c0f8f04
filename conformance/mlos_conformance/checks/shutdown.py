"""Shutdown: the plugin exits before its deadline and leaves nothing running or bound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import psutil

from mlos_conformance.check import Check, Failed, fail_on
from mlos_conformance.resources import bound_sockets
from mlos_conformance.session import Session
from mlos_conformance.wire import ConnectionDropped, ErrorFrame, NoAnswer
from mlos_generated import smi_ipc, smi_pb2

__all__ = ["CHECKS"]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _label(process: psutil.Process) -> str:
    try:
        return f"{process.pid} ({process.name()})"
    except psutil.Error:
        return str(process.pid)


async def _gone(processes: list[psutil.Process], deadline: float) -> list[psutil.Process]:
    """The processes still alive once `deadline` (monotonic) passes or all are gone."""
    while True:
        alive = [p for p in processes if _alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        await asyncio.sleep(0.02)


async def clean(session: Session) -> str:
    plugin = session.plugin
    handle = session.process
    children = []
    with contextlib.suppress(psutil.Error):
        children = handle.children(recursive=True)
    sockets = bound_sockets(handle)
    budget = session.options.shutdown_deadline
    session.finished = True
    started = time.monotonic()
    deadline = started + budget
    answer = "answered"
    try:
        await session.call(
            smi_ipc.PLUGIN_SHUTDOWN, smi_pb2.ShutdownRequest(deadline_ms=int(budget * 1000)), budget
        )
    except ErrorFrame as exc:
        raise Failed(f"Shutdown failed with {exc}") from None
    except ConnectionDropped:
        answer = "closed the connection without answering"
    except NoAnswer:
        answer = "did not answer"
    code = await plugin.wait_exit(max(0.0, deadline - time.monotonic()))
    took = time.monotonic() - started
    if code is None:
        raise Failed(f"the plugin {answer} but was still running {budget:g} s after Shutdown")
    problems = []
    left = await _gone(children, deadline)
    if left:
        problems.append(f"child processes still running: {', '.join(_label(p) for p in left)}")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(plugin.connection.lost), 1.0)
    if not plugin.connection.closed:
        problems.append("the SMI socket is still open (a child process holds it)")
    stale = [path for path in sockets if os.path.exists(path)]
    if stale:
        problems.append(f"Unix sockets left on disk: {', '.join(stale)}")
    fail_on(problems)
    return (
        f"{answer}; {plugin.describe_exit()} in {took:.2f} s (deadline {budget:g} s); "
        f"nothing left ({len(children)} children, {len(sockets)} bound sockets checked)"
    )


CHECKS = (
    Check(
        "shutdown.clean",
        "Shutdown makes the process exit before the deadline it names; no child process, "
        "open SMI socket or bound Unix socket is left behind.",
        clean,
    ),
)
