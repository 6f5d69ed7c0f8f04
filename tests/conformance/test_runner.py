"""The kit against real plugin processes: good plugins conform, each broken one fails exactly
the checks that look at its fault."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlos_conformance import (
    ALL_CHECKS,
    Outcome,
    PluginLaunch,
    Report,
    load_fixtures,
    run_conformance,
    select_checks,
)
from tests.conformance.conftest import OPTIONS, module_launch


def failures(report: Report) -> dict[str, str]:
    return {result.name: result.reason for result in report.failed}


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    pytest.importorskip("onnxruntime")
    from tests.models import mlp_model, save

    return save(mlp_model(features=8, hidden=(16,), classes=3), tmp_path / "mlp.onnx")


@pytest.fixture
def onnx_fixtures(onnx_model: Path) -> Path:
    """Fixtures for the MLP, with expected outputs from onnxruntime run in this process."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_model), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).random((5, 8), dtype=np.float32)
    (y,) = session.run(["output"], {"input": x})
    np.save(onnx_model.parent / "x.npy", x)
    np.save(onnx_model.parent / "y.npy", y)
    path = onnx_model.parent / "fixtures.yaml"
    path.write_text(
        f"fixtures:\n  - model: {onnx_model.name}\n    cases:\n"
        "      - {inputs: {input: x.npy}, outputs: {output: y.npy}}\n"
    )
    return path


def test_onnx_plugin_conforms(onnx_model: Path, onnx_fixtures: Path) -> None:
    report = run_conformance(
        PluginLaunch("onnx", "entry_point", "onnx"),
        onnx_model,
        options=OPTIONS,
        fixtures=load_fixtures(onnx_fixtures),
    )

    assert report.ok, failures(report)
    assert [r.name for r in report.results] == [c.name for c in ALL_CHECKS]
    assert all(r.outcome is Outcome.PASS for r in report.results), report.results
    assert "1 case(s): all 1 output(s) as expected" in report.result("infer.fixtures").reason
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
    assert [r.name for r in report.results] == [
        "infer.basic",
        "infer.batch",
        "infer.concurrent",
        "infer.fixtures",
    ]


def test_inputs_that_do_not_fit_fail_the_inference_checks(onnx_model: Path) -> None:
    report = run_conformance(
        PluginLaunch("onnx", "entry_point", "onnx"),
        onnx_model,
        {"nope": np.ones((1, 8), dtype=np.float32)},
        options=OPTIONS,
        checks=select_checks(["infer.basic"]),
    )

    assert "'nope'" in failures(report)["infer.basic"]


def test_a_plugin_that_accepts_garbage_of_its_own_extension_fails(double_model: Path) -> None:
    # The echo plugin claims .double files but loads any file that exists.
    launch = PluginLaunch("double", "module", "tests.sdk.echo_plugin:EchoPlugin")
    report = run_conformance(launch, double_model, options=OPTIONS)

    assert not report.ok
    assert set(failures(report)) == {"errors.load_garbage"}
    assert "claims .double files must refuse" in failures(report)["errors.load_garbage"]


def test_fixtures_pass_and_name_the_model_under_test(double_fixtures: Path) -> None:
    fixtures = load_fixtures(double_fixtures)
    report = run_conformance(module_launch("StrictPlugin"), options=OPTIONS, fixtures=fixtures)

    assert report.ok, failures(report)
    assert all(r.outcome is Outcome.PASS for r in report.results), report.results
    assert report.model == str(double_fixtures / "model.double")
    assert report.result("infer.fixtures").reason.startswith("1 fixture(s), 2 case(s): all 2")


def test_without_fixtures_the_fixture_check_skips(double_model: Path) -> None:
    report = run_conformance(
        module_launch("BiasedPlugin"), double_model, options=OPTIONS, checks=select_checks(["infer.*"])
    )

    assert report.ok, failures(report)
    assert report.result("infer.fixtures").outcome is Outcome.SKIP


def test_without_a_model_the_model_checks_skip(double_model: Path) -> None:
    report = run_conformance(module_launch("StrictPlugin"), None, options=OPTIONS)

    assert report.ok, failures(report)
    skipped = {r.name for r in report.results if r.outcome is Outcome.SKIP}
    assert "lifecycle.cycles" in skipped and "infer.basic" in skipped
    assert report.result("shutdown.clean").outcome is Outcome.PASS


#: The outputs checked against the metadata in every inference a run makes.
INFER_CHECKS = ("infer.basic", "infer.batch", "infer.concurrent", "infer.fixtures", "wire.unknown_fields")


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        # wrong values: only the fixtures can tell
        ("BiasedPlugin", {"infer.fixtures": "4 of 4 values differ beyond rtol 1e-06, atol 1e-06; the first at [0, 0]: got 3.0, expected 2.0"}),
        # wrong output shape
        ("ReshapingPlugin", dict.fromkeys(INFER_CHECKS, "has shape [")),
        # accepts garbage (and even files that do not exist)
        (
            "CarelessPlugin",
            {
                "errors.load_missing": "succeeded; expected INVALID_ARGUMENT or NOT_FOUND",
                "errors.load_garbage": "must refuse one it cannot serve",
                "load.atomic": "every load of a missing or garbage file succeeded",
            },
        ),
        # accepts garbage named with the second of its extensions
        ("SecondExtensionPlugin", {"errors.load_garbage": "garbage-1.dbl (4096 random bytes) loaded as a model; a plugin that claims .double, .dbl files"}),
        # raises on infer
        (
            "RaisingPlugin",
            {
                **dict.fromkeys(INFER_CHECKS, "INTERNAL"),
                "wire.deadline": "answered the expired call with INTERNAL",
                "lifecycle.cycles": "Infer during the cycles failed with INTERNAL",
                "lifecycle.swap": "Infer before the swap failed with INTERNAL",
            },
        ),
        # leaks memory: per cycle, and per failed load (state kept from failed loads)
        ("HoardingPlugin", {"lifecycle.cycles": "RSS grew"}),
        ("LeakOnFailurePlugin", {"load.atomic": "RSS grew"}),
        # leaks file descriptors, threads
        ("FdLeakPlugin", {"lifecycle.cycles": "open file descriptors"}),
        ("ThreadLeakPlugin", {"lifecycle.cycles": "threads"}),
        # exits on unload
        (
            "ExitOnUnloadPlugin",
            dict.fromkeys(
                [
                    "infer.fixtures", "unload.repeated", "unload.infer_after", "lifecycle.cycles",
                    "lifecycle.swap",
                ],
                "the plugin process exited with code 5",
            ),
        ),
        # exits on a bad file instead of answering
        (
            "CrashingPlugin",
            {"errors.load_garbage": "exited with code 3", "load.atomic": "exited with code 3"},
        ),
    ],
)
def test_broken_plugins_fail_the_right_checks(
    plugin: str, expected: dict[str, str], double_fixtures: Path
) -> None:
    report = run_conformance(
        module_launch(plugin), options=OPTIONS, fixtures=load_fixtures(double_fixtures)
    )

    found = failures(report)
    assert not report.ok
    assert set(found) == set(expected), found
    for name, words in expected.items():
        assert words in found[name]


def test_a_plugin_that_leaves_children_fails_shutdown(double_fixtures: Path) -> None:
    options = dataclasses.replace(OPTIONS, shutdown_deadline=1.0)
    report = run_conformance(
        module_launch("ParentPlugin"), options=options, fixtures=load_fixtures(double_fixtures)
    )

    assert set(failures(report)) == {"shutdown.clean"}
    assert "child processes still running" in failures(report)["shutdown.clean"]
    assert "(sleep)" in failures(report)["shutdown.clean"]


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
        # wrong datatype
        ("retyped", dict.fromkeys(INFER_CHECKS, "is FP64, ")),
    ],
)
def test_broken_hosts_fail_the_right_checks(
    flavor: str,
    expected: dict[str, str],
    broken_host: Callable[[str], PluginLaunch],
    double_fixtures: Path,
) -> None:
    report = run_conformance(
        broken_host(flavor), options=OPTIONS, fixtures=load_fixtures(double_fixtures)
    )

    found = failures(report)
    assert not report.ok
    assert set(found) == set(expected), found
    for name, words in expected.items():
        assert words in found[name]
