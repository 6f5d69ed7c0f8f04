"""A report as JUnit XML, the test-result format CI systems read (Jenkins, GitLab, GitHub
Actions reporters, Azure Pipelines).

One `<testsuite>` per run, one `<testcase>` per check: a failed check carries a `<failure>`,
a skipped one a `<skipped>`, both with the check's reason; the plugin's log is the suite's
`<system-err>` when a check failed. The classname is the check's area (`describe`, `errors`,
`infer`, ...) under `mlos_conformance`, so CI groups the checks the way the text report does.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from mlos_conformance.report import Outcome, Report

__all__ = ["report_junit", "write_junit"]

# Characters XML 1.0 cannot hold, even escaped (a plugin's log may contain any byte).
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _INVALID_XML.sub("\ufffd", value)


def _suite_name(report: Report) -> str:
    plugin = report.plugin
    who = plugin.name or plugin.launch
    return f"mlos-conformance {who} {plugin.version}".strip()


def report_junit(report: Report) -> str:
    """The report as a JUnit XML document."""
    counts = report.counts
    suites = ET.Element(
        "testsuites",
        name="mlos-conformance",
        tests=str(len(report.results)),
        failures=str(counts[Outcome.FAIL]),
        errors="0",
        skipped=str(counts[Outcome.SKIP]),
        time=f"{report.seconds:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_text(_suite_name(report)),
        tests=str(len(report.results)),
        failures=str(counts[Outcome.FAIL]),
        errors="0",
        skipped=str(counts[Outcome.SKIP]),
        time=f"{report.seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    plugin = report.plugin
    for name, value in (
        ("plugin.launch", plugin.launch),
        ("plugin.name", plugin.name),
        ("plugin.version", plugin.version),
        ("plugin.smi_versions", ", ".join(plugin.smi_versions)),
        ("model", report.model or ""),
        ("restarts", str(report.restarts)),
        ("verdict", "CONFORMANT" if report.ok else "NOT CONFORMANT"),
    ):
        ET.SubElement(properties, "property", name=name, value=_text(value))
    for result in report.results:
        area = result.name.partition(".")[0]
        case = ET.SubElement(
            suite,
            "testcase",
            name=result.name,
            classname=f"mlos_conformance.{area}",
            time=f"{result.seconds:.3f}",
        )
        reason = _text(result.reason)
        if result.outcome is Outcome.FAIL:
            failure = ET.SubElement(case, "failure", message=reason, type="NotConformant")
            failure.text = reason
        elif result.outcome is Outcome.SKIP:
            ET.SubElement(case, "skipped", message=reason)
        else:
            ET.SubElement(case, "system-out").text = reason
    if report.failed and report.plugin_log.strip():
        ET.SubElement(suite, "system-err").text = _text(report.plugin_log)
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def write_junit(report: Report, path: Path) -> None:
    """Write the JUnit XML of `report` to `path` atomically (a reader never sees half a file).

    Raises OSError when the file cannot be written.
    """
    path = Path(path)
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(report_junit(report))
        # mkstemp creates the file for its owner only; give it the mode any new file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
