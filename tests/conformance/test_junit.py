"""JUnit XML: what CI systems read from a run."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from xml.etree import ElementTree

import pytest

from mlos_conformance import CheckResult, Outcome, PluginIdentity, Report, report_junit, write_junit


def report(log: str = "") -> Report:
    return Report(
        PluginIdentity("executable ./p", "demo", "1.2.3", ("1.0",)),
        "m.lin",
        (
            CheckResult("describe.identity", Outcome.PASS, "demo 1.2.3", 0.01),
            CheckResult("infer.batch", Outcome.SKIP, "cannot batch", 0.0),
            CheckResult("infer.fixtures", Outcome.FAIL, "output 'y': <1 of 2> values & \x00differ", 0.5),
        ),
        seconds=1.5,
        plugin_log=log,
    )


def test_one_testcase_per_check() -> None:
    root = ElementTree.fromstring(report_junit(report("boom\x07 at <line 3>")))

    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "mlos-conformance demo 1.2.3"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("3", "1", "1", "0")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["plugin.launch"] == "executable ./p" and properties["verdict"] == "NOT CONFORMANT"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("mlos_conformance.describe", "describe.identity"),
        ("mlos_conformance.infer", "infer.batch"),
        ("mlos_conformance.infer", "infer.fixtures"),
    ]
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None
    assert cases[1].find("skipped") is not None and cases[1].find("skipped").get("message") == "cannot batch"  # type: ignore[union-attr]
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("message") == "output 'y': <1 of 2> values & \ufffddiffer"
    assert suite.findtext("system-err") == "boom\ufffd at <line 3>"


def test_no_plugin_log_without_a_failure() -> None:
    passed = Report(PluginIdentity("module m:P"), None, (CheckResult("describe.identity", Outcome.PASS, "ok"),), 0.1, plugin_log="noise")
    suite = ElementTree.fromstring(report_junit(passed)).find("testsuite")

    assert suite is not None and suite.find("system-err") is None
    assert suite.get("name") == "mlos-conformance module m:P"


def test_write_junit_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "results.xml"
    path.write_text("old")

    write_junit(report(), path)

    assert ElementTree.parse(path).getroot().tag == "testsuites"
    assert [p.name for p in tmp_path.iterdir()] == ["results.xml"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_write_junit_into_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_junit(report(), tmp_path / "nope" / "results.xml")
