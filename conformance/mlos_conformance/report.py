"""What a conformance run found, one frozen result per check, and how to print it."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["CheckResult", "Outcome", "PluginIdentity", "Report", "format_report", "report_json"]


class Outcome(enum.StrEnum):
    """How one check ended."""

    PASS = "pass"
    FAIL = "fail"
    # Not applicable (for example a model without a dynamic first dimension cannot be batched),
    # or impossible because an earlier step failed; the reason says which.
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its name (`area.what`), outcome, a one-line reason and how long it took."""

    name: str
    outcome: Outcome
    reason: str
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PluginIdentity:
    """Who was tested: how it was launched and what it said about itself in Describe."""

    launch: str
    name: str = ""
    version: str = ""
    smi_versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of a conformance run."""

    plugin: PluginIdentity
    model: str | None
    results: tuple[CheckResult, ...]
    seconds: float
    # Times the kit had to start the plugin again because its process died mid-run.
    restarts: int = 0
    # The last lines the plugin wrote to stderr (shown when a check failed).
    plugin_log: str = ""

    @property
    def counts(self) -> dict[Outcome, int]:
        """How many checks ended in each outcome."""
        counts = {outcome: 0 for outcome in Outcome}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    @property
    def ok(self) -> bool:
        """True when no check failed and at least one passed."""
        return self.counts[Outcome.FAIL] == 0 and self.counts[Outcome.PASS] > 0

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that failed, in run order."""
        return tuple(r for r in self.results if r.outcome is Outcome.FAIL)

    def result(self, name: str) -> CheckResult:
        """The result of the check called `name`."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what `--json` prints)."""
        return {
            "ok": self.ok,
            "plugin": {
                "launch": self.plugin.launch,
                "name": self.plugin.name,
                "version": self.plugin.version,
                "smi_versions": list(self.plugin.smi_versions),
            },
            "model": self.model,
            "summary": {outcome.value: count for outcome, count in self.counts.items()},
            "checks": [
                {
                    "name": r.name,
                    "outcome": r.outcome.value,
                    "reason": r.reason,
                    "seconds": round(r.seconds, 4),
                }
                for r in self.results
            ],
            "restarts": self.restarts,
            "seconds": round(self.seconds, 3),
            "plugin_log": self.plugin_log,
        }


def report_json(report: Report) -> str:
    """The report as indented JSON."""
    return json.dumps(report.to_dict(), indent=2)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def format_report(report: Report, *, log_lines: int = 10, width: int = 120) -> str:
    """A human-readable report: a header, one line per check, a summary line.

    Reasons of passed and skipped checks are cut to `width` characters (failures never are).
    When a check failed, the plugin's last `log_lines` lines of stderr follow the summary.
    """
    plugin = report.plugin
    who = f"{plugin.name} {plugin.version}".strip() or "?"
    smi = ", ".join(plugin.smi_versions) or "?"
    lines = [f"plugin {who} ({plugin.launch}), SMI {smi}"]
    if report.model is not None:
        lines.append(f"model {report.model}")
    lines.append("")
    column = max((len(r.name) for r in report.results), default=0)
    for result in report.results:
        reason = result.reason
        if result.outcome is not Outcome.FAIL:
            reason = _shorten(reason, max(20, width - column - 8))
        lines.append(f"{result.outcome.name:<4}  {result.name:<{column}}  {reason}")
    counts = report.counts
    summary = (
        f"{len(report.results)} checks: {counts[Outcome.PASS]} passed, "
        f"{counts[Outcome.FAIL]} failed, {counts[Outcome.SKIP]} skipped "
        f"in {report.seconds:.1f} s"
    )
    if report.restarts:
        summary += f"; the plugin process was restarted {report.restarts} time(s)"
    lines += ["", summary, "CONFORMANT" if report.ok else "NOT CONFORMANT"]
    if report.failed and report.plugin_log.strip() and log_lines > 0:
        tail = report.plugin_log.rstrip().splitlines()[-log_lines:]
        lines += ["", "plugin stderr (last lines):", *(f"  {line}" for line in tail)]
    return "\n".join(lines)
