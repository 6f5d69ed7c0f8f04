"""`mlos plugin new`: the skeleton installs, its own tests pass, and it passes the kit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlos.errors import AlreadyExists, InvalidArgument
from mlos.sdk import scaffold

MLOS = [sys.executable, "-m", "mlos.cli.main"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_generated_plugin_installs_and_passes_the_kit(tmp_path: Path) -> None:
    made = run([*MLOS, "plugin", "new", "demo", "--json"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["distribution"] == "mlos-plugin-demo"
    pyproject = (tmp_path / "demo" / "pyproject.toml").read_text(encoding="utf-8")
    assert '"mlos-plugin-sdk>=0.1,<0.2"' in pyproject and 'demo = "mlos_plugin_demo:DemoPlugin"' in pyproject

    site = tmp_path / "site"
    installed = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                     "--no-build-isolation", "--no-index", "--target", str(site), "./demo"],
                    tmp_path)
    assert installed.returncode == 0, installed.stderr

    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "demo/tests"],
                tmp_path, PYTHONPATH=str(site))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout

    kit = run([*MLOS, "conformance", "--entry-point", "demo", "--fixtures", "demo/fixtures",
               "--json"], tmp_path, PYTHONPATH=str(site))
    assert kit.returncode == 0, kit.stdout + kit.stderr
    report = json.loads(kit.stdout)
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert report["ok"] and outcomes["infer.fixtures"] == "pass"
    assert outcomes["errors.load_garbage"] == "pass" and "skip" not in outcomes.values()


def test_names_are_checked() -> None:
    skeleton = scaffold.plan("my-format")
    assert skeleton.package == "mlos_plugin_my_format" and skeleton.plugin_class == "MyFormatPlugin"
    assert "fixtures/model.my-format" in skeleton.files
    for bad in ("Demo", "1demo", "my--format", "demo-", "my_format", ""):
        with pytest.raises(InvalidArgument, match="is not valid"):
            scaffold.plan(bad)


def test_an_existing_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists):
        scaffold.write(scaffold.plan("demo"), tmp_path / "demo")
    assert (tmp_path / "demo" / "keep.txt").read_text() == "mine"
    result = run([*MLOS, "plugin", "new", "demo"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mlos: error: demo already exists and is not an empty directory"
    )
