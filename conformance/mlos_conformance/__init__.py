"""The MLOS conformance kit: proves a plugin keeps the SMI contract, driving it only over SMI.

The kit starts the plugin exactly as the core does (an entry point, a ``module:Class`` or an
executable, on an inherited socket), runs its checks and returns a frozen :class:`Report`::

    from pathlib import Path

    from mlos_conformance import PluginLaunch, format_report, load_fixtures, run_conformance

    report = run_conformance(
        PluginLaunch("mine", "entry_point", "mine"),
        fixtures=load_fixtures(Path("fixtures")),
    )
    print(format_report(report))
    assert report.ok

Everything a user needs is exported here (``__all__``); the submodules are internal. The
command line is ``mlos-conformance`` (or ``mlos conformance``, or ``python -m
mlos_conformance``); docs/conformance.md explains every check and the fixture format.
"""

from mlos.core.supervisor import PluginLaunch
from mlos_conformance.check import Check
from mlos_conformance.checks import ALL_CHECKS
from mlos_conformance.fixtures import (
    Fixture,
    FixtureCase,
    FixtureError,
    FixtureTensor,
    Tolerance,
    load_fixtures,
)
from mlos_conformance.junit import report_junit, write_junit
from mlos_conformance.report import (
    CheckResult,
    Outcome,
    PluginIdentity,
    Report,
    format_report,
    report_json,
)
from mlos_conformance.runner import run_conformance, run_conformance_async, select_checks
from mlos_conformance.session import Options

__all__ = [
    "ALL_CHECKS",
    "Check",
    "CheckResult",
    "Fixture",
    "FixtureCase",
    "FixtureError",
    "FixtureTensor",
    "Options",
    "Outcome",
    "PluginIdentity",
    "PluginLaunch",
    "Report",
    "Tolerance",
    "format_report",
    "load_fixtures",
    "report_json",
    "report_junit",
    "run_conformance",
    "run_conformance_async",
    "select_checks",
    "write_junit",
]
