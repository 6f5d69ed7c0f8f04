"""Reports: counts, verdict, the text and JSON forms."""

from __future__ import annotations

import json

from mlos_conformance import CheckResult, Outcome, PluginIdentity, Report, format_report
from mlos_conformance.report import report_json


def report(*results: CheckResult, log: str = "") -> Report:
    identity = PluginIdentity("entry point demo", "demo", "1.2.3", ("1.0",))
    return Report(identity, "m.onnx", results, seconds=1.25, plugin_log=log)


PASSED = CheckResult("describe.identity", Outcome.PASS, "demo 1.2.3")
SKIPPED = CheckResult("infer.batch", Outcome.SKIP, "cannot batch: " + "x" * 300)
FAILED = CheckResult("load.atomic", Outcome.FAIL, "Health lists models whose load failed: " + "m" * 200)


def test_a_report_with_no_failure_is_ok_and_says_so() -> None:
    text = format_report(report(PASSED, SKIPPED))

    assert report(PASSED, SKIPPED).ok
    assert "PASS  describe.identity  demo 1.2.3" in text
    assert "2 checks: 1 passed, 0 failed, 1 skipped in 1.2 s" in text
    assert text.endswith("CONFORMANT")


def test_long_reasons_are_cut_unless_they_explain_a_failure() -> None:
    text = format_report(report(SKIPPED, FAILED), width=80)
    lines = text.splitlines()

    skip_line = next(line for line in lines if line.startswith("SKIP"))
    assert len(skip_line) <= 80 and skip_line.endswith("…")
    assert FAILED.reason in text


def test_a_failure_makes_it_not_conformant_and_shows_the_plugin_log() -> None:
    failing = report(PASSED, FAILED, log="line 1\nTraceback: boom\n")
    text = format_report(failing)

    assert not failing.ok
    assert [r.name for r in failing.failed] == ["load.atomic"]
    assert "NOT CONFORMANT" in text
    assert "  Traceback: boom" in text


def test_the_log_is_not_shown_when_everything_passed() -> None:
    assert "plugin stderr" not in format_report(report(PASSED, log="noise\n"))


def test_nothing_passed_is_not_ok() -> None:
    assert not report(SKIPPED).ok


def test_json_form() -> None:
    data = json.loads(report_json(report(PASSED, FAILED)))

    assert data["ok"] is False
    assert data["plugin"] == {
        "launch": "entry point demo",
        "name": "demo",
        "version": "1.2.3",
        "smi_versions": ["1.0"],
    }
    assert data["summary"] == {"pass": 1, "fail": 1, "skip": 0}
    assert data["checks"][1]["name"] == "load.atomic"
    assert data["checks"][1]["outcome"] == "fail"
