"""The kit against real plugin processes: good plugins conform, each broken one fails exactly
the checks that look at its fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlos.core.supervisor import PluginLaunch
from mlos_conformance import ALL_CHECKS, Outcome, Report, run_conformance, select_checks
from tests.conformance.conftest import OPTIONS, module_launch


def failures(report: Report) -> dict[str, str]:
    return {result.name: result.reason for result in report.failed}


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    pytest.importorskip("onnxruntime")
    from tests.models import mlp_model, save

    return save(mlp_model(features=8, hidden=(16,), classes=3), tmp_path / "mlp.onnx")


def test_onnx_plugin_conforms(onnx_model: Path) -> None:
    report = run_conformance(
        PluginLaunch("onnx", "entry_point", "onnx"), onnx_model, options=OPTIONS
    )

    assert report.ok, failures(report)
    assert [r.name for r in report.results] == [c.name for c in ALL_CHECKS]
    assert all(r.outcome is Outcome.PASS for r in report.results), report.results
    assert report.plugin.name == "onnx" and report.plugin.smi_versions == ("1.0",)
    assert report.result("infer.batch").reason.startswith("batch of 2")
    assert report.restarts == 0


def test_onnx_plugin_with_given_inputs(onnx_model: Path) -> None:
    inputs = {"input": np.ones((1, 8), dtype=np.float32)}
    report = run_conformance(
        PluginLaunch("onnx", "entry_point", "onnx"),
        onnx_model,
        inputs,
        options=OPTIONS,
        checks=select_checks(["infer.*"]),
    )

    assert report.ok, failures(report)
    assert [r.name for r in report.results] == ["infer.basic", "infer.batch", "infer.concurrent"]


def test_inputs_that_do_not_fit_fail_the_inference_checks(onnx_model: Path) -> None:
    report = run_conformance(
        PluginLaunch("onnx", "entry_point", "onnx"),
        onnx_model,
        {"nope": np.ones((1, 8), dtype=np.float32)},
        options=OPTIONS,
        checks=select_checks(["infer.basic"]),
    )

    assert "'nope'" in failures(report)["infer.basic"]


def test_echo_plugin_conforms(double_model: Path) -> None:
    launch = PluginLaunch("double", "module", "tests.sdk.echo_plugin:EchoPlugin")
    report = run_conformance(launch, double_model, options=OPTIONS)

    assert report.ok, failures(report)
    # It accepts any existing file as a model, so random bytes load: not applicable.
    skipped = {r.name for r in report.results if r.outcome is Outcome.SKIP}
    assert skipped == {"errors.load_garbage"}


def test_without_a_model_the_model_checks_skip(double_model: Path) -> None:
    report = run_conformance(module_launch("StrictPlugin"), None, options=OPTIONS)

    assert report.ok, failures(report)
    skipped = {r.name for r in report.results if r.outcome is Outcome.SKIP}
    assert "lifecycle.cycles" in skipped and "infer.basic" in skipped
    assert report.result("shutdown.clean").outcome is Outcome.PASS


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        ("LeakOnFailurePlugin", {"load.atomic": "RSS grew"}),
        ("HoardingPlugin", {"lifecycle.cycles": "RSS grew"}),
        (
            "CrashingPlugin",
            {"errors.load_garbage": "exited with code 3", "load.atomic": "exited with code 3"},
        ),
    ],
)
def test_broken_plugins_fail_the_right_checks(
    plugin: str, expected: dict[str, str], double_model: Path
) -> None:
    report = run_conformance(module_launch(plugin), double_model, options=OPTIONS)

    found = failures(report)
    assert not report.ok
    assert set(found) == set(expected), found
    for name, words in expected.items():
        assert words in found[name]


def test_a_crashing_plugin_is_restarted_and_the_run_goes_on(double_model: Path) -> None:
    report = run_conformance(module_launch("CrashingPlugin"), double_model, options=OPTIONS)

    assert report.restarts == 2
    assert report.result("lifecycle.cycles").outcome is Outcome.PASS
    assert report.result("shutdown.clean").outcome is Outcome.PASS


@pytest.mark.parametrize(
    ("flavor", "expected"),
    [
        ("leftover", {"load.atomic": "Health lists models whose load failed"}),
        ("smi2", {"describe.smi_version": "incompatible"}),
        (
            "untyped",
            {
                "errors.load_missing": "untyped error frame",
                "errors.load_garbage": "untyped error frame",
                "errors.infer_unloaded": "untyped error frame",
                "unload.infer_after": "untyped error frame",
            },
        ),
        ("fragile", {"errors.malformed_payload": "connection dropped"}),
    ],
)
def test_broken_hosts_fail_the_right_checks(
    flavor: str,
    expected: dict[str, str],
    broken_host: Callable[[str], PluginLaunch],
    double_model: Path,
) -> None:
    report = run_conformance(broken_host(flavor), double_model, options=OPTIONS)

    found = failures(report)
    assert not report.ok
    assert set(found) == set(expected), found
    for name, words in expected.items():
        assert words in found[name]
