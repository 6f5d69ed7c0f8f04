"""`python -m mlos_conformance`: parse, run the kit, print the report.

    python -m mlos_conformance --entry-point onnx --model model.onnx
    python -m mlos_conformance --module my_plugin:MyPlugin --model m.bin --input x=@x.npy
    python -m mlos_conformance --executable ./my-plugin --model m.bin --json
    python -m mlos_conformance --entry-point mine --fixtures fixtures/ --junit results.xml

`mlos conformance ...` is the same command.

Exit status: 0 when the plugin conforms (no check failed), 1 when a check failed, 2 for a
mistake on the command line (an unknown entry point, a missing file, a bad --input), 130 when
interrupted (Ctrl-C or SIGTERM; the plugin process is stopped first).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import numpy.typing as npt

from mlos.core.supervisor import PluginLaunch
from mlos.errors import MLOSError
from mlos_conformance.fixtures import Fixture, load_fixtures
from mlos_conformance.junit import write_junit
from mlos_conformance.report import format_report, report_json
from mlos_conformance.runner import run_conformance, select_checks
from mlos_conformance.samples import load_array
from mlos_conformance.session import MIB, Options

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "add_arguments",
    "main",
    "run_args",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
SCRIPT = "mlos-conformance"

#: The deadline flags: the flag, the `Options` field it sets, and what it bounds.
_DEADLINES = (
    ("--timeout", "call_timeout", "deadline of each call"),
    ("--start-timeout", "start_timeout", "deadline of the first Describe"),
    ("--load-timeout", "load_timeout", "deadline of each LoadModel call"),
    ("--shutdown-deadline", "shutdown_deadline", "deadline given to Shutdown"),
)


def _prog(args: argparse.Namespace | None = None) -> str:
    given = getattr(args, "conformance_prog", None)
    if given:
        return str(given)
    return SCRIPT if Path(sys.argv[0]).name == SCRIPT else "python -m mlos_conformance"


class UsageError(Exception):
    """A mistake on the command line; the message says what to do."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The kit's options, on `parser` (shared by the stand-alone command and `mlos`)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--entry-point", metavar="NAME", help="plugin entry point (mlos.plugins)")
    source.add_argument("--module", metavar="PKG.MOD:CLASS", help="plugin class to host")
    source.add_argument("--executable", metavar="PATH", help="executable that speaks SMI")
    parser.add_argument("--model", type=Path, metavar="PATH", help="a model the plugin serves")
    parser.add_argument(
        "--fixtures",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="models with known answers: a fixtures.yaml or a directory holding one "
        "(repeatable); without --model, the first fixture's model is the model under test",
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=@FILE.npy",
        help="an input for the model (repeatable); inputs not given are generated from the "
        "model's metadata",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model config option for LoadModel (repeatable)",
    )
    defaults = Options()
    parser.add_argument(
        "--cycles",
        type=int,
        default=defaults.cycles,
        metavar="N",
        help=f"load/unload cycles of lifecycle.cycles [default: {defaults.cycles}]",
    )
    parser.add_argument(
        "--rss-tolerance",
        type=float,
        default=defaults.rss_tolerance / MIB,
        metavar="MIB",
        help="memory growth tolerated after failed loads and cycles "
        f"[default: {defaults.rss_tolerance // MIB}]",
    )
    for flag, field, what in _DEADLINES:
        default = getattr(defaults, field)
        parser.add_argument(
            flag,
            type=float,
            default=default,
            metavar="SECONDS",
            help=f"{what} [default: {default:g}]",
        )
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only the checks matching PATTERN (shell-style, repeatable: 'infer.*')",
    )
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write the report as JUnit XML to FILE (for CI test reports)",
    )


def _launch(args: argparse.Namespace) -> PluginLaunch:
    if args.entry_point:
        launch = PluginLaunch(args.entry_point, "entry_point", args.entry_point)
    elif args.module:
        launch = PluginLaunch(args.module.rpartition(":")[2], "module", args.module)
    elif args.executable:
        launch = PluginLaunch(Path(args.executable).name, "executable", args.executable)
    else:
        raise UsageError(
            "name the plugin: --entry-point NAME, --module PKG.MOD:CLASS or --executable PATH"
        )
    try:
        launch.check()
    except MLOSError as exc:
        raise UsageError(exc.message) from None
    return launch


def _inputs(items: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    inputs: dict[str, npt.NDArray[Any]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.startswith("@"):
            raise UsageError(f"--input {item!r}: expected NAME=@FILE.npy")
        path = Path(value[1:]).expanduser()
        try:
            inputs[name] = load_array(path)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--input {name}: cannot read {path} as .npy: {exc}") from None
    return inputs


def _config(items: Sequence[str]) -> dict[str, str]:
    config: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--config {item!r}: expected KEY=VALUE")
        config[key] = value
    return config


def _options(args: argparse.Namespace) -> Options:
    if args.cycles < 0:
        raise UsageError("--cycles must be 0 or more")
    for flag in ("timeout", "start_timeout", "load_timeout", "shutdown_deadline"):
        if getattr(args, flag) <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be more than 0")
    return Options(
        cycles=args.cycles,
        rss_tolerance=int(args.rss_tolerance * MIB),
        call_timeout=args.timeout,
        start_timeout=args.start_timeout,
        load_timeout=args.load_timeout,
        shutdown_deadline=args.shutdown_deadline,
        model_config=_config(args.config),
    )


def _fixtures(paths: Sequence[Path]) -> list[Fixture]:
    fixtures: list[Fixture] = []
    for path in paths:
        fixtures += load_fixtures(path)
    return fixtures


def _check_junit(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"--junit {path}: is a directory; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"--junit {path}: the directory {path.parent} does not exist")


def run_args(args: argparse.Namespace) -> int:
    """Run the kit as `args` say, print, and return the exit status."""
    try:
        checks = select_checks(args.check)
        if args.list:
            width = max(len(check.name) for check in checks)
            for check in checks:
                print(f"{check.name:<{width}}  {check.summary}")
            return 0
        launch = _launch(args)
        if args.model is not None and not args.model.exists():
            raise UsageError(f"--model {args.model}: no such file or directory")
        _check_junit(args.junit)
        fixtures = _fixtures(args.fixtures)
        report = run_conformance(
            launch, args.model, _inputs(args.input), _options(args), checks, fixtures=fixtures
        )
    except (UsageError, ValueError) as exc:
        print(f"{_prog(args)}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{_prog(args)}: interrupted; the plugin was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    status = 0 if report.ok else EXIT_FAILED
    try:
        print(report_json(report) if args.json else format_report(report), flush=True)
    except BrokenPipeError:
        # The reader went away (`... | head`); the exit status still tells the verdict.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed stdout for good
    if args.junit is not None:
        try:
            write_junit(report, args.junit)
        except OSError as exc:
            print(
                f"{_prog(args)}: error: cannot write --junit {args.junit}: {exc}", file=sys.stderr
            )
            return EXIT_USAGE
    return status


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the conformance kit from the command line (as `prog`: `mlos conformance` runs it
    as a subcommand)."""
    parser = _ArgumentParser(
        prog=prog or _prog(),
        description="The MLOS conformance kit: start a plugin as the core would, drive it "
        "only through SMI, and report one line per check (docs/conformance.md).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.conformance_prog = parser.prog
    # SIGTERM stops the run the way Ctrl-C does: the plugin process is stopped, not orphaned.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_args(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt
