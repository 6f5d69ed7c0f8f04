"""Running the checks against one plugin and collecting the report."""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy.typing as npt
import psutil

from mlos.core.supervisor import PluginLaunch
from mlos_conformance.check import Check, Failed, Skipped
from mlos_conformance.checks import ALL_CHECKS
from mlos_conformance.fixtures import Fixture
from mlos_conformance.report import CheckResult, Outcome, PluginIdentity, Report
from mlos_conformance.samples import InputMismatch
from mlos_conformance.session import Options, Session
from mlos_conformance.wire import BadReply, ConnectionDropped, ErrorFrame, NoAnswer

__all__ = ["describe_launch", "run_conformance", "run_conformance_async", "select_checks"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_SOURCES = {"entry_point": "entry point", "module": "module", "executable": "executable"}


def describe_launch(launch: PluginLaunch) -> str:
    """Where the plugin comes from, in words: "entry point onnx", "module pkg.mod:Cls"."""
    return f"{_SOURCES.get(launch.source_kind, launch.source_kind)} {launch.source}"


def select_checks(patterns: Sequence[str] = ()) -> tuple[Check, ...]:
    """The checks whose names match any of the shell-style `patterns` (all when none given).

    Raises ValueError naming a pattern that matches no check.
    """
    if not patterns:
        return ALL_CHECKS
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(check.name, pattern) for check in ALL_CHECKS):
            names = ", ".join(check.name for check in ALL_CHECKS)
            raise ValueError(f"no check matches {pattern!r} (checks: {names})")
    return tuple(c for c in ALL_CHECKS if any(fnmatch.fnmatchcase(c.name, p) for p in patterns))


async def _run_one(session: Session, check: Check) -> tuple[CheckResult, bool]:
    """Run one check; its result, and whether the plugin must be restarted (it hung)."""
    started = time.monotonic()
    strays = len(session.plugin.connection.strays)
    outcome, hung = Outcome.FAIL, False
    try:
        reason = await check.run(session)
        outcome = Outcome.PASS
    except Failed as exc:
        reason = str(exc)
    except Skipped as exc:
        reason, outcome = str(exc), Outcome.SKIP
    except ErrorFrame as exc:
        reason = f"unexpected error frame {exc}"
    except ConnectionDropped:
        reason = await session.dropped()
    except NoAnswer:
        reason, hung = "a call got no answer before its deadline", True
    except (BadReply, InputMismatch) as exc:
        reason = str(exc)
    except psutil.Error as exc:
        reason = f"cannot read the plugin process: {exc}"
    except Exception as exc:  # a kit bug must not hide the other results
        log.exception("check %s", check.name)
        reason = f"the kit failed: {type(exc).__name__}: {exc}"
    if outcome is Outcome.PASS and session.plugin.connection.strays[strays:]:
        outcome = Outcome.FAIL
        reason = "the plugin sent frames that answer no request"
    return CheckResult(check.name, outcome, reason, time.monotonic() - started), hung


async def _start(session: Session) -> str | None:
    """Start (or restart) the plugin; why it failed, or None."""
    try:
        await session.start()
    except Failed as exc:
        return str(exc)
    except NoAnswer:
        return f"no answer to Describe within {session.options.start_timeout:g} s"
    except (OSError, BadReply) as exc:
        return f"the plugin did not start: {exc}"
    return None


def _under_test(
    model: Path | None,
    inputs: Mapping[str, npt.NDArray[Any]],
    options: Options,
    fixtures: Sequence[Fixture],
) -> tuple[Path | None, Mapping[str, npt.NDArray[Any]], Options]:
    """Without a model, the first fixture's model, inputs and config are the ones under test."""
    if model is not None or not fixtures:
        return model, inputs, options
    first = fixtures[0]
    given = inputs or {name: t.array() for name, t in first.cases[0].inputs.items()}
    config = {**first.config, **options.model_config}
    return first.model, given, dataclasses.replace(options, model_config=config)


async def run_conformance_async(
    launch: PluginLaunch,
    model: Path | None = None,
    inputs: Mapping[str, npt.NDArray[Any]] | None = None,
    options: Options | None = None,
    checks: Sequence[Check] | None = None,
    *,
    fixtures: Sequence[Fixture] = (),
) -> Report:
    """Start the plugin as the core would, run `checks` (all by default) against it over SMI,
    stop it, and report.

    `fixtures` (from :func:`load_fixtures`) are the models with known answers that
    `infer.fixtures` checks; without `model`, the first fixture's model is the model under
    test, with its first case's inputs unless `inputs` are given.
    """
    options = options or Options()
    checks = ALL_CHECKS if checks is None else tuple(checks)
    model, inputs, options = _under_test(model, inputs or {}, options, fixtures)
    session = Session(launch, model, inputs, options, fixtures)
    started = time.monotonic()
    results: list[CheckResult] = []
    try:
        failure = await _start(session)
        for check in checks:
            if failure is not None:
                if results:
                    why = "could not be restarted" if session.restarts else "did not start"
                    results.append(
                        CheckResult(check.name, Outcome.SKIP, f"the plugin {why}: {failure}")
                    )
                else:
                    results.append(CheckResult(check.name, Outcome.FAIL, failure))
                continue
            result, hung = await _run_one(session, check)
            results.append(result)
            if session.finished:
                continue
            if hung:
                await session.plugin.stop(1.0)
            if not session.plugin.usable:
                session.restarts += 1
                await session.plugin.stop(1.0)
                failure = await _start(session)
        info = session.info
        identity = PluginIdentity(
            describe_launch(launch),
            info.name if info else "",
            info.version if info else "",
            tuple(f"{v.major}.{v.minor}" for v in info.smi_versions) if info else (),
        )
    finally:
        await session.close()
        plugin_log = session.log_tail()
        session.log.close()
    return Report(
        plugin=identity,
        model=str(model) if model is not None else None,
        results=tuple(results),
        seconds=time.monotonic() - started,
        restarts=session.restarts,
        plugin_log=plugin_log,
    )


def _blocking(run: Callable[P, Coroutine[Any, Any, R]], name: str) -> Callable[P, R]:
    """`run` for callers that are not async: each call runs it on an event loop of its own."""

    @functools.wraps(run)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(run(*args, **kwargs))

    blocking.__name__ = blocking.__qualname__ = name
    blocking.__doc__ = f"`{run.__name__}` on an event loop of its own."
    return blocking


run_conformance = _blocking(run_conformance_async, "run_conformance")
