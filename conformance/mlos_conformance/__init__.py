"""The MLOS conformance kit: proves a plugin keeps the SMI contract, driving it only over SMI.

The kit starts the plugin exactly as the core does (an entry point, a ``module:Class`` or an
executable, on an inherited socket), runs its checks and returns a frozen :class:`Report`::

    from mlos.core.supervisor import PluginLaunch
    from mlos_conformance import format_report, run_conformance

    report = run_conformance(PluginLaunch("onnx", "entry_point", "onnx"), Path("model.onnx"))
    print(format_report(report))
    assert report.ok

The command line is ``python -m mlos_conformance``; docs/conformance.md explains every check.
"""

from mlos_conformance.check import Check
from mlos_conformance.checks import ALL_CHECKS
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
    "Options",
    "Outcome",
    "PluginIdentity",
    "Report",
    "format_report",
    "report_json",
    "run_conformance",
    "run_conformance_async",
    "select_checks",
]
