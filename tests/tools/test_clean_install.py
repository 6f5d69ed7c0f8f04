"""A third-party author's first minutes, in a virtual environment that holds nothing of ours.

The `wheelhouse` fixture (tests/wheels.py) builds the SDK, server and kit wheels with the
project's packaging, as `make dist` does, and packs their third-party dependencies from this
environment, so nothing is fetched. A clean `python -m venv` (no system site-packages) then
installs the SDK alone, which must pull numpy and protobuf and nothing else; then the kit; and
then, as an author would type it:

    mlos plugin new demo && pip install ./demo && mlos conformance --entry-point demo

Last, `mlos-server[onnx]` adds the onnx plugin's wheel beside the server's, and that plugin
passes the kit too.

Every pip call runs with `--no-index --find-links WHEELHOUSE` (as PIP_* variables, so that the
commands stay as written and pip's isolated builds see them too).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.wheels import clean_venv

pytestmark = pytest.mark.timeout(600)


def _sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def _installed(python: Path, env: dict[str, str]) -> set[str]:
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
    return {entry["name"].lower() for entry in json.loads(listing)}


def test_new_plugin_installs_and_passes_the_kit_in_a_clean_venv(
    wheelhouse: Path, tmp_path: Path
) -> None:
    assert {path.name.split("-")[0] for path in wheelhouse.glob("mlos*.whl")} == {
        "mlos_plugin_sdk", "mlos_server", "mlos_conformance", "mlos_plugin_onnx"}
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    env = clean_venv(venv, wheelhouse, tmp_path / "home")
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    python = venv / "bin" / "python"
    infrastructure = _installed(python, env)

    # The SDK alone: numpy and protobuf, nothing of the server.
    _sh("pip install -q mlos-plugin-sdk", work, env)
    assert _installed(python, env) - infrastructure == {"mlos-plugin-sdk", "numpy", "protobuf"}

    _sh("pip install -q mlos-conformance && pip check", work, env)
    assert {"mlos-conformance", "mlos-server"} <= _installed(python, env)

    # As an author types it.
    _sh("mlos plugin new demo && pip install ./demo && mlos conformance --entry-point demo",
        work, env)
    # The plugin's own distribution needs the SDK, not the server.
    shown = _sh("pip show mlos-plugin-demo", work, env).stdout
    assert "Requires: mlos-plugin-sdk, numpy" in shown
    # Everything comes from the clean environment, nothing from this checkout.
    where = _sh("python -c 'import mlos, mlos_conformance, mlos_plugin_demo as d; "
                "print(mlos.__file__, mlos_conformance.__file__, d.__file__)'", work, env).stdout
    assert all(path.startswith(str(venv)) for path in where.split()), where
    missing = subprocess.run([str(python), "-c", "import mlos_numpy_plugin"], env=env,
                             cwd=work, capture_output=True, timeout=60)
    assert missing.returncode != 0

    # With the generated fixtures every check runs, and the JUnit report says so.
    kit = _sh("mlos conformance --entry-point demo --fixtures demo/fixtures --json "
              "--junit conformance.xml", work, env)
    report = json.loads(kit.stdout)
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert report["ok"] and outcomes["infer.fixtures"] == "pass", outcomes
    assert set(outcomes.values()) == {"pass"}
    junit = (work / "conformance.xml").read_text(encoding="utf-8")
    assert f'tests="{len(outcomes)}"' in junit and 'failures="0"' in junit

    # A first-party plugin's wheel installs beside the server's (the `mlos_plugins` namespace
    # package, and `mlos` split between the SDK and the server) and passes the kit.
    _sh("pip install -q 'mlos-server[onnx]' && pip check", work, env)
    assert "mlos-plugin-onnx" in _installed(python, env)
    kit = _sh("python -m mlos.demo mlp.onnx >/dev/null && "
              "mlos conformance --entry-point onnx --model mlp.onnx --json", work, env)
    report = json.loads(kit.stdout)
    outcomes = {check["name"]: check["outcome"] for check in report["checks"]}
    assert report["ok"] and outcomes["infer.basic"] == "pass", outcomes
